/**
 * Regenerates the `--help` blocks of docs/cli.md from the built CLI, so the reference cannot drift from the program:
 *
 *   npm run build && node --import tsx scripts/cli-docs.ts
 *
 * Each block sits between `<!-- help:<command> -->` and `<!-- /help:<command> -->`; test/docs.test.ts fails when one
 * is out of date.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DOC = join(root, 'docs', 'cli.md');

/** The `--help` text of a command (`''` for the program itself, `'git install'` for a subcommand), as a non-TTY of 80 columns sees it. */
export function helpText(command: string): string {
  const cached = cache.get(command);
  if (cached !== undefined) return cached;
  const args = command === '' ? ['--help'] : [...command.split(' '), '--help'];
  const r = spawnSync(process.execPath, [join(root, 'dist', 'cli.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, COLUMNS: '80' },
  });
  if (r.status !== 0) throw new Error(`db-hydration ${args.join(' ')} failed: ${r.stderr}`);
  const text = r.stdout.trimEnd();
  cache.set(command, text);
  return text;
}

const cache = new Map<string, string>();

/** docs/cli.md with every help block replaced by the current help text. */
export function renderDoc(doc: string): string {
  return doc.replace(
    /<!-- help:([a-z -]*) -->\n[\s\S]*?<!-- \/help:\1 -->/g,
    (_m, command: string) =>
      `<!-- help:${command} -->\n\n\`\`\`text\n${helpText(command)}\n\`\`\`\n\n<!-- /help:${command} -->`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const before = readFileSync(DOC, 'utf8');
  const after = renderDoc(before);
  writeFileSync(DOC, after);
  console.log(before === after ? 'docs/cli.md was up to date' : 'docs/cli.md updated');
}

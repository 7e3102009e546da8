// The docs cannot drift from the program: docs/cli.md's --help blocks are the CLI's current output, every command
// and option is described there, every export has an API heading in docs/api.md, and every TypeScript example in
// the README and docs/api.md type-checks against the built package.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOC, helpText, renderDoc } from '../scripts/cli-docs.js';
import { ROOT } from './helpers/cli.js';
import { tempDir } from './helpers/fixtures.js';

const COMMANDS = [
  'dehydrate',
  'hydrate',
  'fix',
  'stats',
  'status',
  'sync',
  'verify',
  'diff',
  'rekey',
  'push',
  'pull',
  'migrate',
];
/** The `git` group's subcommands, each documented like a command. */
const GIT_COMMANDS = [
  'git install',
  'git uninstall',
  'git check',
  'git pre-commit',
  'git merge',
  'git resolve',
  'git diff-driver',
];

function section(markdown: string, name: string): string {
  const m = new RegExp(`<!-- section:${name} -->([\\s\\S]*?)<!-- /section:${name} -->`).exec(markdown);
  assert.ok(m, `README has no ${name} section`);
  return m[1] ?? '';
}

describe('docs', () => {
  it('docs/cli.md holds the current --help of the program and of every command', () => {
    const doc = readFileSync(DOC, 'utf8');
    for (const c of ['', ...COMMANDS, 'git', ...GIT_COMMANDS])
      assert.ok(doc.includes(`<!-- help:${c} -->`), `no help block for "${c}"`);
    assert.equal(
      renderDoc(doc),
      doc,
      'docs/cli.md is out of date: run `node --import tsx scripts/cli-docs.ts`',
    );
  });

  it('docs/cli.md describes every command and every option outside the generated help blocks', () => {
    const prose = readFileSync(DOC, 'utf8').replace(
      /<!-- help:([a-z -]*) -->[\s\S]*?<!-- \/help:\1 -->/g,
      '',
    );
    const program = helpText('');
    const listed = [...program.matchAll(/^ {2}([a-z]+) \[options\]/gm)].map((m) => m[1]);
    assert.deepEqual(listed, COMMANDS);
    assert.match(program, /^ {2}git {2,}/m);
    for (const c of [...COMMANDS, ...GIT_COMMANDS]) {
      assert.match(prose, new RegExp(`^### ${c}$`, 'm'), `no section for ${c}`);
      assert.ok(prose.includes(`\`${c}\``), `${c} is not in the command table`);
      const options = [...helpText(c).matchAll(/^ {2}(?:(-[a-zA-Z]), )?(--[a-z-]+)/gm)];
      // The merge driver takes git's arguments, not the options every command takes.
      assert.ok(options.length >= (c === 'git merge' ? 3 : c === 'git diff-driver' ? 1 : 8), c);
      for (const [, short, long] of options) {
        assert.ok(prose.includes(`\`${long ?? ''}`), `${c}: option ${long ?? ''} is not described`);
        if (short !== undefined) assert.ok(prose.includes(`\`${short}\``), `${c}: ${short} is not described`);
      }
    }
    for (const code of [0, 1, 2])
      assert.match(prose, new RegExp(`^\\| \`${code}\` +\\|`, 'm'), `exit code ${code}`);
  });

  it('docs/api.md has an API heading for every export of the package, and the README a CLI section naming every command', async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const api = readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8');
    const headings = section(api, 'api')
      .split('\n')
      .filter((l) => l.startsWith('### '))
      .join('\n');
    const exported = Object.keys((await import(join(ROOT, 'dist', 'index.js'))) as object);
    assert.ok(exported.length > 20);
    const missing = exported.filter(
      (name) => !new RegExp(`\\b${name}\\b`).test(headings) && !/^[A-Z_]+$/.test(name),
    );
    assert.deepEqual(missing, []);
    const cliSection = section(readme, 'cli');
    for (const c of [...COMMANDS, 'git']) assert.ok(cliSection.includes(`\`${c}`), c);
    assert.match(section(readme, 'quickstart'), /npm ci && npm run demo/);
  });

  it('every TypeScript example in the README and docs/api.md type-checks against the built package', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const api = readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8');
    const blocks = [readme, section(api, 'api')].flatMap((s) =>
      [...s.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? ''),
    );
    assert.ok(blocks.length >= 20, `only ${blocks.length} examples`);
    const { dir, cleanup } = tempDir('dh-docs-');
    try {
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(ROOT, join(dir, 'node_modules', 'db-hydration'), 'dir');
      writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'es2022',
            module: 'nodenext',
            moduleResolution: 'nodenext',
            strict: true,
            noEmit: true,
            skipLibCheck: true,
            types: ['node'],
            typeRoots: [join(ROOT, 'node_modules', '@types')],
          },
          include: ['*.ts'],
        }),
      );
      blocks.forEach((code, i) => {
        writeFileSync(join(dir, `example-${i}.ts`), `${code}\nexport {};\n`);
      });
      const r = spawnSync(
        process.execPath,
        [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    } finally {
      cleanup();
    }
  });
});

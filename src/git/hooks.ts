/**
 * The hooks `db-hydration git install --hooks` writes into the hooks directory git uses (`core.hooksPath` respected):
 * `post-merge`, `post-checkout` (branch checkouts) and `post-rewrite` (rebase) run `db-hydration hydrate`, and
 * `pre-commit` runs `db-hydration git pre-commit`. A hook already there is chained, never overwritten: it is renamed to
 * `<hook>.pre-db-hydration` and ours runs it first (a failing pre-commit stops the commit as before); uninstall renames
 * it back, so it is byte for byte (and mode for mode) what it was.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GitError } from '../errors.js';
import { hookCommand, LAUNCHER_FUNCTION } from './driver-command.js';
import { readText, writeText } from './text-file.js';

/** The hooks install writes. */
export const HOOK_NAMES = ['post-merge', 'post-checkout', 'post-rewrite', 'pre-commit'] as const;

/** One of {@link HOOK_NAMES}. */
export type HookName = (typeof HOOK_NAMES)[number];

/** The suffix of a hook that ours chains. */
export const CHAINED_SUFFIX = '.pre-db-hydration';

/** The second line of every hook of ours: how install and uninstall recognise them. */
const MARKER = '# db-hydration hook:';

/** What the hooks pass to db-hydration: the directories as install saw them, relative to the work tree top. */
export interface HookArguments {
  readonly dataDir: string;
  readonly archiveDir: string;
  /** The config file given to install, relative to the top. */
  readonly config?: string;
}

/** The common option arguments of the hooks' commands. */
function directoryArgs(args: HookArguments): string[] {
  return [
    '--data-dir',
    args.dataDir === '' ? '.' : args.dataDir,
    '--archive-dir',
    args.archiveDir === '' ? '.' : args.archiveDir,
    ...(args.config === undefined ? [] : ['--config', args.config]),
  ];
}

/** The text of one of our hooks. */
export function hookScript(name: HookName, args: HookArguments): string {
  const head = [
    '#!/bin/sh',
    `${MARKER} ${name}, written by \`db-hydration git install --hooks\`.`,
    `# \`db-hydration git uninstall\` removes it and puts back the hook it chains (${name}${CHAINED_SUFFIX}), if any.`,
    `chained="$(dirname "$0")/${name}${CHAINED_SUFFIX}"`,
  ];
  if (name === 'pre-commit') {
    return [
      ...head,
      'if [ -x "$chained" ]; then "$chained" "$@" || exit $?; fi',
      LAUNCHER_FUNCTION,
      hookCommand(['git', 'pre-commit', ...directoryArgs(args)]),
      '',
    ].join('\n');
  }
  // Bring the databases up to date: plain `hydrate` creates missing ones and never replaces local changes.
  const hydrate = `${hookCommand(['hydrate', ...directoryArgs(args)])} || echo "db-hydration: hydrate did not finish; run \\\`db-hydration hydrate\\\` (see above)" >&2`;
  const when =
    name === 'post-checkout' ? '[ "$3" = 1 ]' : name === 'post-rewrite' ? '[ "$1" = rebase ]' : 'true';
  return [
    ...head,
    'status=0',
    'if [ -x "$chained" ]; then "$chained" "$@"; status=$?; fi',
    LAUNCHER_FUNCTION,
    `if ${when}; then ${hydrate}; fi`,
    'exit $status',
    '',
  ].join('\n');
}

/** Whether the file at `path` is one of our hooks. */
function isOurHook(path: string): boolean {
  try {
    return (readText(path) ?? '').split('\n', 2)[1]?.startsWith(MARKER) === true;
  } catch {
    return false; // not text: not ours
  }
}

/** What install or uninstall did to one hook. */
export type HookAction = 'added' | 'chained' | 'updated' | 'unchanged' | 'removed' | 'restored' | 'absent';

/** Writes our hook `name`, chaining one already there; returns what it did. */
export function installHook(hooksDir: string, name: HookName, args: HookArguments): HookAction {
  const path = join(hooksDir, name);
  const chained = path + CHAINED_SUFFIX;
  const script = hookScript(name, args);
  mkdirSync(hooksDir, { recursive: true });
  if (isOurHook(path)) return writeText(path, script) ? 'updated' : 'unchanged';
  const present = existsSync(path);
  if (present) {
    if (existsSync(chained))
      throw new GitError(`both ${path} and ${chained} exist, so the hook cannot be chained`, {
        file: path,
        hint: `merge the two hooks into ${path} by hand (or remove one), then run again`,
      });
    renameSync(path, chained);
  }
  writeText(path, script, 0o755);
  return present ? 'chained' : 'added';
}

/** Removes our hook `name` and puts back the one it chained; a hook that is not ours is left alone. */
export function uninstallHook(hooksDir: string, name: HookName): HookAction {
  const path = join(hooksDir, name);
  const chained = path + CHAINED_SUFFIX;
  if (!isOurHook(path)) return 'absent';
  rmSync(path);
  if (!existsSync(chained)) return 'removed';
  renameSync(chained, path);
  return 'restored';
}

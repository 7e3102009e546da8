/**
 * How git finds db-hydration: a launcher (POSIX sh) that needs no absolute path of any checkout and no global
 * install. Git runs merge drivers and hooks with the working directory at the top of the work tree, so the launcher
 * looks for `node_modules/.bin/db-hydration` there, then at the top of the main work tree (a `git worktree add`
 * worktree has no node_modules of its own), then asks `npx --no-install` (which never downloads anything).
 */
import { DRIVER_NAME } from './patterns.js';
import { git, shellQuote } from './git-command.js';

/** The launcher's steps, as sh commands; `"$@"` are db-hydration's arguments. No single quotes (see below). */
const LAUNCHER_STEPS = [
  'top=$(git rev-parse --show-toplevel 2>/dev/null)',
  'main=$(cd "$(git rev-parse --git-common-dir 2>/dev/null)/.." 2>/dev/null && pwd)',
  'for bin in "$top/node_modules/.bin/db-hydration" "$main/node_modules/.bin/db-hydration"; do if [ -x "$bin" ]; then exec "$bin" "$@"; fi; done',
  'exec npx --no-install db-hydration "$@"',
];

/** The launcher as one line of sh: `sh -c "$LAUNCHER" db-hydration ARGS...` runs `db-hydration ARGS...`. */
export const LAUNCHER = LAUNCHER_STEPS.join('; ');

/** The launcher as a shell function `db_hydration` for hook scripts (a subshell, so its `exec` ends only itself). */
export const LAUNCHER_FUNCTION = `db_hydration() (\n${LAUNCHER_STEPS.map((s) => `  ${s}`).join('\n')}\n)`;

/** The command line of a launcher run: `sh -c '<launcher>' db-hydration <args>` (args already shell words). */
export function launcherCommand(args: string): string {
  return `sh -c '${LAUNCHER}' db-hydration ${args}`;
}

/** The merge driver's command, as `merge.db-hydration.driver` holds it (git substitutes %O %A %B %P). */
export const DRIVER_COMMAND = launcherCommand('git merge %O %A %B --path %P');

/** The driver's description, `merge.db-hydration.name`. */
export const DRIVER_DESCRIPTION = 'db-hydration: three-way merge of archives by primary key';

/**
 * The diff driver's command, as `diff.db-hydration.command` holds it: git appends `path old-file old-hex old-mode
 * new-file new-hex new-mode`, and `git diff` then shows the archive's changes row by row, by key.
 */
export const DIFF_COMMAND = launcherCommand('git diff-driver');

/** The config keys install sets, with their values. */
export const DRIVER_CONFIG: readonly (readonly [string, string])[] = [
  [`merge.${DRIVER_NAME}.name`, DRIVER_DESCRIPTION],
  [`merge.${DRIVER_NAME}.driver`, DRIVER_COMMAND],
  [`diff.${DRIVER_NAME}.command`, DIFF_COMMAND],
];

/** A config value in the repository's own config (`--local`), or `undefined` when it is not set. */
export function localConfig(top: string, key: string): string | undefined {
  const r = git(top, ['config', '--local', '--get', key], { allow: [1] });
  return r.status === 0 ? r.stdout.replace(/\n$/, '') : undefined;
}

/** A config value from any of git's config files, as git would use it. */
export function effectiveConfig(top: string, key: string): string | undefined {
  const r = git(top, ['config', '--get', key], { allow: [1] });
  return r.status === 0 ? r.stdout.replace(/\n$/, '') : undefined;
}

/** Registers the driver in the repository's config; returns whether any value changed. */
export function registerDriver(top: string): boolean {
  let changed = false;
  for (const [key, value] of DRIVER_CONFIG) {
    if (localConfig(top, key) === value) continue;
    git(top, ['config', '--local', key, value]);
    changed = true;
  }
  return changed;
}

/** Removes the drivers' sections from the repository's config; returns whether there was one. */
export function unregisterDriver(top: string): boolean {
  let removed = false;
  for (const section of [`merge.${DRIVER_NAME}`, `diff.${DRIVER_NAME}`]) {
    const keys = DRIVER_CONFIG.filter(([key]) => key.startsWith(`${section}.`));
    if (keys.every(([key]) => localConfig(top, key) === undefined)) continue;
    git(top, ['config', '--local', '--remove-section', section]);
    removed = true;
  }
  return removed;
}

/** A db-hydration command line for a hook: the launcher function and the arguments as shell words. */
export function hookCommand(args: readonly string[]): string {
  return `db_hydration ${args.map(shellQuote).join(' ')}`;
}

/**
 * `installGit` and `uninstallGit`: set a repository up for archives (attributes, ignore rules, the merge driver in
 * its own config, optionally hooks), and take exactly that out again.
 */
import { join, resolve } from 'node:path';
import { attributeLines, ignoreLines } from './patterns.js';
import { withBlock, withoutBlock } from './managed-block.js';
import { readText, writeText } from './text-file.js';
import { findRepository, repoRelative } from './git-command.js';
import { registerDriver, unregisterDriver } from './driver-command.js';
import { HOOK_NAMES, installHook, uninstallHook, type HookAction } from './hooks.js';

/** Where the repository's databases and archives are. */
export interface GitSetupOptions {
  /** The data directory (inside the repository). */
  readonly dataDir: string;
  /** The archive directory (inside the repository). Default: `<dataDir>/json_archives`. */
  readonly archiveDir?: string;
  /** A directory inside the repository. Default: the working directory. */
  readonly cwd?: string;
}

/** Options of {@link installGit}. */
export interface InstallGitOptions extends GitSetupOptions {
  /** Also write the post-merge, post-checkout, post-rewrite and pre-commit hooks. Default false. */
  readonly hooks?: boolean;
  /** A config file the hooks pass on to db-hydration (`--config`). */
  readonly configFile?: string;
}

/** One thing install or uninstall looked at. */
export interface GitSetupChange {
  readonly item: 'gitattributes' | 'gitignore' | 'config' | 'hook';
  /** The file (for `config`, the repository's config file). */
  readonly path: string;
  /** What was done. `unchanged` and `absent` mean nothing was written. */
  readonly action: 'added' | 'updated' | 'unchanged' | 'removed' | HookAction;
}

/** Result of {@link installGit} and {@link uninstallGit}. */
export interface GitSetupResult {
  /** The top of the work tree. */
  readonly repository: string;
  /** The archive and data directories, relative to the top (`''` for the top itself). */
  readonly archiveDir: string;
  readonly dataDir: string;
  readonly changes: readonly GitSetupChange[];
  /** Whether any file changed. */
  readonly changed: boolean;
}

function resolveSetup(options: GitSetupOptions) {
  const repo = findRepository(resolve(options.cwd ?? '.'));
  const dataDir = resolve(options.cwd ?? '.', options.dataDir);
  const archiveDir = resolve(options.cwd ?? '.', options.archiveDir ?? join(dataDir, 'json_archives'));
  return {
    repo,
    dataDir: repoRelative(repo.top, dataDir, 'data directory'),
    archiveDir: repoRelative(repo.top, archiveDir, 'archive directory'),
  };
}

function fileChange(
  item: 'gitattributes' | 'gitignore',
  path: string,
  next: (text: string | undefined) => string | undefined,
): GitSetupChange {
  const before = readText(path);
  const after = next(before);
  writeText(path, after);
  const action =
    before === after
      ? 'unchanged'
      : after === undefined
        ? 'removed'
        : before === undefined
          ? 'added'
          : 'updated';
  return { item, path, action };
}

function result(setup: ReturnType<typeof resolveSetup>, changes: readonly GitSetupChange[]): GitSetupResult {
  return {
    repository: setup.repo.top,
    archiveDir: setup.archiveDir,
    dataDir: setup.dataDir,
    changes,
    changed: changes.some((c) => c.action !== 'unchanged' && c.action !== 'absent'),
  };
}

/**
 * Sets up the repository that `cwd` lies in: `.gitattributes` names the `db-hydration` merge driver for the archives
 * and the manifest, `.gitignore` keeps databases and their side files out, the driver is registered in the
 * repository's own config, and with `hooks` the hooks are written (chaining existing ones). Lines already present are
 * not added again; running it twice changes nothing the second time.
 *
 * @example
 * ```ts
 * const { changes } = installGit({ dataDir: 'data', hooks: true });
 * for (const c of changes) console.log(c.item, c.path, c.action);
 * ```
 * @throws {GitError} outside a git work tree, or with a data or archive directory outside it
 */
export function installGit(options: InstallGitOptions): GitSetupResult {
  const setup = resolveSetup(options);
  const { top, commonDir, hooksDir } = setup.repo;
  const changes: GitSetupChange[] = [
    fileChange('gitattributes', join(top, '.gitattributes'), (t) =>
      withBlock(t, attributeLines(setup.archiveDir)),
    ),
    fileChange('gitignore', join(top, '.gitignore'), (t) =>
      withBlock(t, ignoreLines(setup.dataDir, setup.archiveDir)),
    ),
    { item: 'config', path: join(commonDir, 'config'), action: registerDriver(top) ? 'added' : 'unchanged' },
  ];
  if (options.hooks === true) {
    const config =
      options.configFile === undefined
        ? undefined
        : repoRelative(top, resolve(options.cwd ?? '.', options.configFile), 'config file');
    const args = {
      dataDir: setup.dataDir,
      archiveDir: setup.archiveDir,
      ...(config === undefined ? {} : { config }),
    };
    for (const name of HOOK_NAMES)
      changes.push({ item: 'hook', path: join(hooksDir, name), action: installHook(hooksDir, name, args) });
  }
  return result(setup, changes);
}

/**
 * Takes out exactly what {@link installGit} added: its blocks in `.gitattributes` and `.gitignore` (a file it created
 * is removed again), the driver's config section, and its hooks (putting back the hooks they chained).
 *
 * @example
 * ```ts
 * const { changed } = uninstallGit({ dataDir: 'data' });
 * ```
 * @throws {GitError} outside a git work tree
 */
export function uninstallGit(options: GitSetupOptions): GitSetupResult {
  const setup = resolveSetup(options);
  const { top, commonDir, hooksDir } = setup.repo;
  const changes: GitSetupChange[] = [
    fileChange('gitattributes', join(top, '.gitattributes'), withoutBlock),
    fileChange('gitignore', join(top, '.gitignore'), withoutBlock),
    { item: 'config', path: join(commonDir, 'config'), action: unregisterDriver(top) ? 'removed' : 'absent' },
    ...HOOK_NAMES.map((name): GitSetupChange => ({
      item: 'hook',
      path: join(hooksDir, name),
      action: uninstallHook(hooksDir, name),
    })),
  ];
  return result(setup, changes);
}

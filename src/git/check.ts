/**
 * `checkGit`: is this repository set up for archives, and is every archive of the tree sound? For CI, and for after a
 * merge that our driver did not make.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { toErrorDetail, type ErrorDetail } from '../errors.js';
import { isArchiveFileName, MANIFEST_FILE } from '../archive/naming.js';
import { compareNames } from '../sqlite/names.js';
import { DRIVER_NAME } from './patterns.js';
import { effectiveConfig } from './driver-command.js';
import { findRepository, git, repoRelative } from './git-command.js';
import { ARCHIVE_CHECKS, checkManifest } from './check-archives.js';
import type { GitSetupOptions } from './install.js';

/** Options of {@link checkGit}. */
export interface CheckGitOptions extends GitSetupOptions {
  /**
   * Require the merge driver in git's config. Default true; false for CI, where a fresh clone has no driver
   * registered (the attributes and the archives are still checked).
   */
  readonly requireDriver?: boolean;
}

/** One problem {@link checkGit} found. */
export interface GitProblem extends ErrorDetail {
  readonly kind: 'driver' | 'attributes' | 'archive' | 'manifest';
}

/** Result of {@link checkGit}. */
export interface CheckGitResult {
  readonly repository: string;
  /** The archive directory, relative to the top. */
  readonly archiveDir: string;
  /** The archive files checked (names in the archive directory). */
  readonly archives: readonly string[];
  readonly problems: readonly GitProblem[];
  /** Whether there were no problems. */
  readonly ok: boolean;
}

/** The `merge` attribute git gives each path (relative to the top). */
function mergeAttributes(top: string, paths: readonly string[]): Map<string, string> {
  const fields = git(top, ['check-attr', '-z', 'merge', '--', ...paths]).stdout.split('\0');
  const out = new Map<string, string>();
  for (let i = 0; i + 2 < fields.length; i += 3) out.set(fields[i] ?? '', fields[i + 2] ?? '');
  return out;
}

function setupProblems(top: string, archiveDir: string, archives: readonly string[], requireDriver: boolean) {
  const problems: GitProblem[] = [];
  const install = 'run `db-hydration git install` (it adds what is missing and nothing else)';
  if (requireDriver && effectiveConfig(top, `merge.${DRIVER_NAME}.driver`) === undefined)
    problems.push({
      kind: 'driver',
      code: 'GIT',
      message: `the merge driver "${DRIVER_NAME}" is not registered in git's config (merge.${DRIVER_NAME}.driver), so git merges archives as plain text`,
      hint: install,
    });
  const prefix = archiveDir === '' ? '' : `${archiveDir}/`;
  const probes = [`${prefix}${MANIFEST_FILE}`, `${prefix}${archives[0] ?? 'example.json'}`];
  for (const [path, value] of mergeAttributes(top, probes))
    if (value !== DRIVER_NAME)
      problems.push({
        kind: 'attributes',
        code: 'GIT',
        file: join(top, '.gitattributes'),
        message: `.gitattributes does not give ${path} the merge driver (merge=${DRIVER_NAME}; it has "${value}")`,
        hint: install,
      });
  return problems;
}

/**
 * Checks the repository that `cwd` lies in: the merge driver is registered (unless `requireDriver` is false),
 * `.gitattributes` gives the archives and the manifest the driver, and every archive in the archive directory passes
 * {@link ARCHIVE_CHECKS} (no conflict markers, parses in full) and the manifest has no conflict markers.
 *
 * @example
 * ```ts
 * const { ok, problems } = checkGit({ dataDir: 'data', requireDriver: false });
 * if (!ok) for (const p of problems) console.error(p.message);
 * ```
 * @throws {GitError} outside a git work tree
 */
export function checkGit(options: CheckGitOptions): CheckGitResult {
  const cwd = resolve(options.cwd ?? '.');
  const { top } = findRepository(cwd);
  const archiveAbs = resolve(cwd, options.archiveDir ?? join(resolve(cwd, options.dataDir), 'json_archives'));
  const archiveDir = repoRelative(top, archiveAbs, 'archive directory');
  let names: string[] = [];
  try {
    names = readdirSync(archiveAbs);
  } catch {
    // no archive directory: no archives to check
  }
  const archives = names.filter(isArchiveFileName).sort(compareNames);
  const problems = setupProblems(top, archiveDir, archives, options.requireDriver !== false);
  for (const name of archives) {
    const file = join(archiveAbs, name);
    for (const { check } of ARCHIVE_CHECKS) {
      try {
        check(file);
      } catch (error) {
        problems.push({ kind: 'archive', ...toErrorDetail(error, { file }) });
        break;
      }
    }
  }
  if (names.includes(MANIFEST_FILE)) {
    const file = join(archiveAbs, MANIFEST_FILE);
    try {
      checkManifest(file);
    } catch (error) {
      problems.push({ kind: 'manifest', ...toErrorDetail(error, { file }) });
    }
  }
  return { repository: top, archiveDir, archives, problems, ok: problems.length === 0 };
}

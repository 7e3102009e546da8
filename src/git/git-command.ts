/**
 * Running the real `git` (never a re-implementation): one synchronous runner, and the facts of the repository a
 * command runs in (its work tree top, its common git directory, the hooks directory git uses).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { GitError } from '../errors.js';

/** Options of {@link git}. */
export interface GitRunOptions {
  /** Exit codes that are answers, not failures (e.g. 1 for `git config --get` of a missing key). */
  readonly allow?: readonly number[];
}

/** The result of {@link git}: stdout and the exit code (0 or one of `allow`). */
export interface GitOutput {
  readonly stdout: string;
  readonly status: number;
}

/**
 * Runs `git args...` in `cwd` and returns its stdout. The environment is passed on as it is, so inside a hook git's
 * own variables (`GIT_INDEX_FILE` during `git commit -a`) keep their meaning.
 * @throws {GitError} when git is missing or exits with a status not in `allow`
 */
export function git(cwd: string, args: readonly string[], options: GitRunOptions = {}): GitOutput {
  try {
    const stdout = execFileSync('git', args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
    return { stdout, status: 0 };
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { status?: number | null; stderr?: string; stdout?: string };
    if (e.code === 'ENOENT')
      throw new GitError('git is not installed (or not on PATH)', {
        hint: 'install git and run again',
        cause: error,
      });
    if (typeof e.status === 'number' && (options.allow ?? []).includes(e.status))
      return { stdout: e.stdout ?? '', status: e.status };
    const stderr = (e.stderr ?? '').trim();
    throw new GitError(`\`git ${args.join(' ')}\` failed${stderr === '' ? '' : `: ${stderr}`}`, {
      cause: error,
    });
  }
}

/** The repository a command runs in. */
export interface Repository {
  /** The top of the work tree (real path), where `.gitattributes` and `.gitignore` live. */
  readonly top: string;
  /** The directory git keeps shared state in (`.git` of the main work tree), absolute. */
  readonly commonDir: string;
  /** The hooks directory git runs hooks from (respects `core.hooksPath`), absolute. */
  readonly hooksDir: string;
}

/**
 * The repository that `cwd` lies in.
 * @throws {GitError} when `cwd` is not inside a git work tree
 */
export function findRepository(cwd: string): Repository {
  const inside = git(cwd, ['rev-parse', '--is-inside-work-tree'], { allow: [128] });
  if (inside.status !== 0 || inside.stdout.trim() !== 'true')
    throw new GitError(`${cwd} is not inside a git work tree`, {
      file: cwd,
      hint: 'run it in your repository (`git init` creates one)',
    });
  const top = realpathSync(git(cwd, ['rev-parse', '--show-toplevel']).stdout.trim());
  const commonDir = resolve(top, git(top, ['rev-parse', '--git-common-dir']).stdout.trim());
  const hooksDir = resolve(top, git(top, ['rev-parse', '--git-path', 'hooks']).stdout.trim());
  return { top, commonDir, hooksDir };
}

/**
 * `path` relative to the work tree top, with `/` separators (`''` for the top itself). Compared by real path, so a
 * symlinked temp directory or a directory that does not exist yet still resolves.
 * @throws {GitError} when the path lies outside the work tree
 */
export function repoRelative(top: string, path: string, what: string): string {
  const rel = relative(top, realPathOfNearest(resolve(path)));
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))
    throw new GitError(`the ${what} ${path} lies outside the repository ${top}`, {
      file: path,
      hint: `give a ${what} inside the repository (--data-dir, --archive-dir or the config)`,
    });
  return rel.split(sep).join('/');
}

/** The real path of `path`, resolving the part of it that exists (the rest is appended as given). */
function realPathOfNearest(path: string): string {
  if (existsSync(path)) return realpathSync(path);
  const parent = dirname(path);
  if (parent === path) return path;
  return join(realPathOfNearest(parent), basename(path));
}

/** A string as one single-quoted shell word: `it's` → `'it'\''s'`. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./=:@%+-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

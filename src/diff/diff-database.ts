/**
 * The diffs a person asks for: a live database against its archive (what `status` calls "changed"), and an archive
 * against a committed version of it (`--rev`). Both come down to {@link diffArchives}: the database is dehydrated
 * into a private temp file first, and a committed version is copied out of git the same way.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createArchiveSink } from '../archive/archive-file.js';
import { dehydrateDatabase } from '../dehydrate/dehydrate-database.js';
import { HydrationError } from '../errors.js';
import { diffArchives } from './diff-archives.js';
import type { DiffChange } from './diff-types.js';
import { scratchArchivePath } from '../archive/keys.js';
import { IDENTITY_CODEC } from '../archive/codec.js';

/** Runs `fn` with a private temp directory that is removed afterwards. */
function withTemp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'db-hydration-diff-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Options of {@link diffDatabase}. */
export interface DiffDatabaseOptions {
  readonly dbPath: string;
  readonly archivePath: string;
  /** The database name and file name, as dehydrate writes them. */
  readonly database: string;
  readonly fileName: string;
  readonly busyTimeoutMs: number;
}

/**
 * The changes that turn the archive into the live database: what `dehydrate` would write. Collected in a list (a
 * diff is read by a person; the archives are streamed).
 */
export function diffDatabase(options: DiffDatabaseOptions): DiffChange[] {
  return withTemp((dir) => {
    const live = scratchArchivePath(dir, options.archivePath);
    dehydrateDatabase({
      dbPath: options.dbPath,
      archivePath: live,
      database: options.database,
      fileName: options.fileName,
      busyTimeoutMs: options.busyTimeoutMs,
    });
    return [...diffArchives(options.archivePath, live)];
  });
}

/**
 * The changes from the version of `archivePath` committed at `rev` (any git revision: `HEAD`, `main`, `HEAD~2`) to
 * `newPath` (by default the archive as it is now).
 * @throws {HydrationError} when git has no such revision or file
 */
export function diffRevision(archivePath: string, rev: string, newPath: string = archivePath): DiffChange[] {
  return withTemp((dir) => {
    const old = join(dir, `${rev.replace(/[^\w.-]/g, '_')}-${basename(archivePath)}`);
    let bytes: Buffer;
    try {
      bytes = execFileSync('git', ['show', `${rev}:./${basename(archivePath)}`], {
        cwd: dirname(archivePath),
        maxBuffer: 2 ** 31 - 1,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (error) {
      throw new HydrationError('IO', `${archivePath}: git has no version of it at "${rev}"`, {
        file: archivePath,
        cause: error,
        hint: 'check the revision with `git log -- <archive>`',
      });
    }
    // The bytes as stored (compressed, encrypted): written as they are, read through the codec of their name.
    const sink = createArchiveSink(old, IDENTITY_CODEC);
    sink.write(bytes);
    sink.finish(false);
    return [...diffArchives(old, newPath)];
  });
}

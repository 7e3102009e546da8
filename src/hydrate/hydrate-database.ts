/**
 * Hydration of one database: build it from its archive in a temp file next to the target (see load-archive.ts), check
 * it, and rename it into place. The target is never half-written: a failure leaves it as it was.
 */
import { existsSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ArchiveFormatError, DatabaseWriteError, HydrationError } from '../errors.js';
import { fsyncFile, tempPathFor } from '../files/atomic-file.js';
import type { ArchiveHeader } from '../archive/format.js';
import type { ProgressListener } from '../progress.js';
import { DEFAULT_BUSY_TIMEOUT_MS } from '../sqlite/busy-timeout.js';
import { isFullCode, sqliteCodeOf } from '../sqlite/error-codes.js';
import { diskHasRoom, fileSizeLimited, GROWTH_LIMIT, maxBytesFor } from './build-limits.js';
import { loadArchive, type LoadOutcome } from './load-archive.js';
import { assertReplaceable, replaceFile } from './replace-database.js';

/** Input of {@link buildDatabase}. */
export interface BuildDatabaseOptions {
  readonly archivePath: string;
  /** Where the finished database goes. */
  readonly dbPath: string;
  /** Called with the archive header before anything is built; may throw to refuse the archive. */
  readonly checkHeader?: (header: ArchiveHeader) => void;
  /**
   * Called with the new database once the archive is loaded, before it is closed and put in place (the manager applies
   * migrations here, so a database is never in place unmigrated); may throw to refuse it, and then nothing is written.
   */
  readonly afterLoad?: ((db: Database.Database) => void) | undefined;
  /** Called after the new file is complete and synced, right before it is renamed over `dbPath`. */
  readonly beforeReplace?: () => void | Promise<void>;
  readonly onProgress?: ProgressListener | undefined;
  /**
   * How long to wait for other connections to the existing database to finish, in milliseconds. Default
   * {@link DEFAULT_BUSY_TIMEOUT_MS} (5000).
   */
  readonly busyTimeoutMs?: number | undefined;
  /** The smallest growth bound in bytes, 1 GiB unless a test lowers it (see build-limits.ts). For tests only. */
  readonly growthFloorBytes?: number | undefined;
}

/** Result of building one database. */
export type BuildDatabaseOutcome = LoadOutcome;

/**
 * Builds the database described by an archive and puts it at `dbPath` (replacing what is there).
 * @throws {HydrationError} on a bad archive or a failed write; nothing is left behind and `dbPath` is untouched
 */
export async function buildDatabase(options: BuildDatabaseOptions): Promise<BuildDatabaseOutcome> {
  const { archivePath, dbPath } = options;
  const temp = tempPathFor(dbPath);
  let db: Database.Database | undefined;
  try {
    db = new Database(temp);
    const outcome = loadArchive(db, options);
    options.afterLoad?.(db);
    db.close();
    db = undefined;
    fsyncFile(temp);
    const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    assertReplaceable(dbPath, busyTimeoutMs);
    if (options.beforeReplace !== undefined) {
      await options.beforeReplace();
      // The backup gave other code of this process (and other processes) time to open the file: check again. From
      // here to the rename nothing waits, so no code of this process can open it in between.
      assertReplaceable(dbPath, busyTimeoutMs);
    }
    // A -wal or -shm left from the old file must not be applied to the new one.
    for (const suffix of ['-wal', '-shm', '-journal']) rmSync(dbPath + suffix, { force: true });
    replaceFile(temp, dbPath);
    return outcome;
  } catch (error) {
    // SQLite rolls the transaction back on SQLITE_FULL, so the file no longer shows which limit was hit: a disk that
    // is really full has next to no space left, and a file-size limit (ulimit -f) shows in the process limits.
    const tooLarge = isFullCode(sqliteCodeOf(error)) && diskHasRoom(temp) && !fileSizeLimited();
    if (db?.open === true) db.close();
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(temp + suffix, { force: true });
    if (error instanceof HydrationError) throw error;
    if (tooLarge) {
      throw new ArchiveFormatError(
        `the database built from it grew past ${(maxBytesFor(archivePath, options.growthFloorBytes) / 2 ** 20).toFixed(0)} MiB (${GROWTH_LIMIT} times the archive's size, at least 1 GiB), which only a schema that makes values larger than the archive holds can do; nothing was written`,
        {
          file: archivePath,
          cause: error,
          hint: "check the archive's schema (generated columns, defaults) in its history",
        },
      );
    }
    throw new DatabaseWriteError(`cannot hydrate from ${archivePath}: ${(error as Error).message}`, {
      file: dbPath,
      cause: error,
    });
  }
}

/** Whether a path exists (file, directory or anything else). */
export function pathExists(path: string): boolean {
  return existsSync(path);
}

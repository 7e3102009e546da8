/**
 * verify: for each archive, hydrate it into a temp file and compare that database with the live one by content.
 * Both are dehydrated into scratch archives and compared by content (see src/archive/content-comparison.ts); the live database
 * and its archive are only read.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PathError, toErrorDetail, type ErrorDetail } from '../errors.js';
import { checkDatabase } from '../integrity/classify-database.js';
import { databaseNameOf, databaseNameOfArchive } from '../archive/naming.js';
import { keyRingOf, type DBHydrationManager } from '../manager.js';
import { peekHeader, targetFileName } from '../archive/archive-header.js';
import { buildDatabase } from '../hydrate/hydrate-database.js';
import { dehydrateDatabase } from '../dehydrate/dehydrate-database.js';
import type { ProgressListener } from '../progress.js';
import { compareArchives, type ArchiveDifference } from '../archive/content-comparison.js';
import { withScratchDir } from './scratch.js';
import { assertBusyTimeout, DEFAULT_BUSY_TIMEOUT_MS } from '../sqlite/busy-timeout.js';
import { scratchArchivePath, withKeyRing } from '../archive/keys.js';
import { ensureSyncStateDir } from '../sync/sync-state.js';
import { codecForFileName } from '../archive/codec.js';
import { isEncryptedCodec } from '../archive/age-codec.js';

/** Options of {@link verifyArchives}. */
export interface VerifyOptions {
  /** How long to wait for a locked database, in milliseconds. Default 5000. */
  readonly busyTimeoutMs?: number;
  readonly onProgress?: ProgressListener;
}

/** The verdict for one archive. */
export interface VerifiedDatabase {
  readonly fileName: string;
  readonly archivePath: string;
  readonly dbPath: string;
  /**
   * `same`: the archive hydrates into a database with exactly the live database's content; `different`: it does not
   * (see `difference`); `missing`: there is no live database to compare with; `error`: the archive or the database
   * could not be read (see the result's errors).
   */
  readonly status: 'same' | 'different' | 'missing' | 'error';
  readonly difference?: ArchiveDifference;
}

/** Result of {@link verifyArchives}. */
export interface VerifyResult {
  readonly timestamp: string;
  readonly databases: readonly VerifiedDatabase[];
  /** Whether every archive matched its live database. */
  readonly ok: boolean;
  readonly errors: readonly string[];
  readonly errorDetails: readonly ErrorDetail[];
}

/**
 * Hydrates each of the manager's archives into a temp file and compares it with the live database by content.
 * Nothing in the data or archive directory is written. Finding no archive is an error in the result (`ok` is false);
 * a data directory that does not exist throws a {@link PathError}.
 *
 * @example
 * ```ts
 * const result = await verifyArchives(new DBHydrationManager({ dataDir: 'data' }));
 * if (!result.ok) console.error(result.databases.filter((d) => d.status !== 'same'));
 * ```
 */
export async function verifyArchives(
  manager: DBHydrationManager,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  // The manager's keys: its identities decrypt, its config's recipients encrypt (keys.ts).
  return withKeyRing(keyRingOf(manager), () => verifyArchivesInRing(manager, options));
}

async function verifyArchivesInRing(
  manager: DBHydrationManager,
  options: VerifyOptions,
): Promise<VerifyResult> {
  assertBusyTimeout(options.busyTimeoutMs);
  const timestamp = new Date().toISOString();
  const databases: VerifiedDatabase[] = [];
  const errorDetails: ErrorDetail[] = [];
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  manager.assertDataDir();
  const archives = manager.listArchives();
  if (archives.length === 0) {
    // Nothing verified is not "OK": a wrong --archive-dir must not pass a check.
    errorDetails.push(
      toErrorDetail(
        new PathError('there are no archives to verify', {
          file: manager.archiveDir,
          hint: 'check --archive-dir (or the config); `db-hydration dehydrate` creates the archives',
        }),
      ),
    );
  }
  for (const archivePath of archives) {
    let fileName = `${databaseNameOfArchive(basename(archivePath)) ?? basename(archivePath)}.db`;
    let dbPath = join(manager.dataDir, fileName);
    try {
      if (!existsSync(archivePath)) {
        throw new PathError('there is no archive for this database', {
          file: archivePath,
          hint: 'check the name (--db or "databases" in the config); `db-hydration dehydrate` creates the archive',
        });
      }
      fileName = targetFileName(peekHeader(archivePath), archivePath);
      dbPath = join(manager.dataDir, fileName);
      if (!existsSync(dbPath)) {
        databases.push({ fileName, archivePath, dbPath, status: 'missing' });
        continue;
      }
      if (!statSync(dbPath).isFile()) {
        const check = checkDatabase(dbPath);
        throw new PathError(`${check.reason}; there is no database to compare with its archive`, {
          file: dbPath,
          hint: check.hint,
        });
      }
      const entry = await withScratchDir(
        (dir) => compareRoundTrip(dir, { fileName, archivePath, dbPath, busyTimeoutMs, options }),
        encryptedArchive(archivePath) ? ensureSyncStateDir(manager.dataDir) : undefined,
      );
      databases.push(entry);
    } catch (error) {
      databases.push({ fileName, archivePath, dbPath, status: 'error' });
      errorDetails.push(toErrorDetail(error, { file: archivePath, database: databaseNameOf(fileName) }));
    }
  }
  return {
    timestamp,
    databases,
    ok: errorDetails.length === 0 && databases.every((d) => d.status === 'same'),
    errors: errorDetails.map((e) => e.message),
    errorDetails,
  };
}

/**
 * Whether an archive is encrypted: its hydrated copy, a plaintext database, is then built in the data directory's
 * private state directory (never committed), not in the shared temp directory.
 */
function encryptedArchive(archivePath: string): boolean {
  return isEncryptedCodec(codecForFileName(basename(archivePath)));
}

/** Hydrates the archive into `dir`, dehydrates that copy and the live database, and compares the two. */
async function compareRoundTrip(
  dir: string,
  target: {
    readonly fileName: string;
    readonly archivePath: string;
    readonly dbPath: string;
    readonly busyTimeoutMs: number;
    readonly options: VerifyOptions;
  },
): Promise<VerifiedDatabase> {
  const { fileName, archivePath, dbPath, busyTimeoutMs, options } = target;
  const hydrated = join(dir, fileName);
  await buildDatabase({ archivePath, dbPath: hydrated, onProgress: options.onProgress });
  // One thread for the exports: verify already holds a hydrate's memory, a helper thread's heap would add to it.
  const common = { database: databaseNameOf(fileName), fileName, busyTimeoutMs, parallel: false };
  // Scratch archives of an encrypted database are encrypted too (keys.ts scratchArchivePath).
  const fromArchive = scratchArchivePath(dir, archivePath, { prefix: 'from-archive.' });
  const fromLive = scratchArchivePath(dir, archivePath, { prefix: 'from-live.' });
  dehydrateDatabase({ ...common, dbPath: hydrated, archivePath: fromArchive });
  dehydrateDatabase({ ...common, dbPath, archivePath: fromLive, onProgress: options.onProgress });
  const comparison = compareArchives(fromArchive, fromLive);
  return comparison.same
    ? { fileName, archivePath, dbPath, status: 'same' }
    : {
        fileName,
        archivePath,
        dbPath,
        status: 'different',
        ...(comparison.firstDifference === undefined ? {} : { difference: comparison.firstDifference }),
      };
}

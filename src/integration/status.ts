/**
 * status: what `git status` is for files, for databases. Per database: in sync with its archive, changed since its
 * archive, missing, damaged, locked, or without an archive yet.
 *
 * "Changed" is decided by content: the live database is dehydrated into a scratch archive and compared line by line
 * with its archive, `exported_at` aside, which is the same rule `dehydrate` uses to decide whether to rewrite an
 * archive. So `status` says "in sync" exactly when `dehydrate` would leave the archive untouched. Nothing in the data
 * or archive directory is written.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { PathError, toErrorDetail, type ErrorDetail } from '../errors.js';
import { databaseNameOf, databaseNameOfArchive } from '../archive/naming.js';
import type { DBHydrationManager } from '../manager.js';
import { peekHeader, targetFileName } from '../archive/archive-header.js';
import { compareNames } from '../sqlite/names.js';
import { dehydrateDatabase } from '../dehydrate/dehydrate-database.js';
import { readArchive } from '../archive/read-archive.js';
import { checkDatabase, isNotAFile, type DatabaseStatus } from '../integrity/classify-database.js';
import type { ProgressListener } from '../progress.js';
import { compareArchives } from '../archive/content-comparison.js';
import { withScratchDir } from './scratch.js';
import { assertBusyTimeout, DEFAULT_BUSY_TIMEOUT_MS } from '../sqlite/busy-timeout.js';

/** The state of one database relative to its archive. */
export type SyncState =
  | 'in-sync'
  | 'changed'
  | 'missing'
  | 'damaged'
  /** A directory (or socket, pipe, device) stands at the database's path: not a database, and not damaged. */
  | 'not-a-file'
  | 'locked'
  | 'no-archive';

/** One database in a {@link StatusResult}. */
export interface DatabaseStatusEntry {
  readonly fileName: string;
  readonly dbPath: string;
  /** The archive path (it may not exist: see `state`). */
  readonly archivePath: string;
  readonly state: SyncState;
  /** One sentence saying why. */
  readonly reason: string;
  /** The command that brings it in sync. */
  readonly hint?: string;
  /** The detector's classification of the database file. */
  readonly check: DatabaseStatus;
  /** `exported_at` of the archive, when there is one. */
  readonly exportedAt?: string;
  /** For `changed`: the first table that differs (absent when the schema or file settings differ). */
  readonly changedTable?: string;
}

/** Result of {@link getStatus}. */
export interface StatusResult {
  readonly timestamp: string;
  readonly dataDir: string;
  readonly archiveDir: string;
  readonly databases: readonly DatabaseStatusEntry[];
  /** Number of databases in each state. */
  readonly counts: Readonly<Record<SyncState, number>>;
  /** Whether every database is in sync with its archive. */
  readonly clean: boolean;
  readonly errors: readonly string[];
  readonly errorDetails: readonly ErrorDetail[];
}

/** Options of {@link getStatus}. */
export interface StatusOptions {
  /** How long to wait for a locked database, in milliseconds. Default 5000. */
  readonly busyTimeoutMs?: number;
  readonly onProgress?: ProgressListener;
}

/**
 * Reports, for every database the manager knows of (its databases and its archives), whether it is in sync with its
 * archive. Finding neither databases nor archives is an error in the result (`clean` is false); a data directory
 * that does not exist throws a {@link PathError}.
 *
 * @example
 * ```ts
 * const { databases } = await getStatus(new DBHydrationManager({ dataDir: 'data' }));
 * for (const d of databases) console.log(d.fileName, d.state, d.hint ?? '');
 * ```
 */
export async function getStatus(
  manager: DBHydrationManager,
  options: StatusOptions = {},
): Promise<StatusResult> {
  assertBusyTimeout(options.busyTimeoutMs);
  const timestamp = new Date().toISOString();
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const errorDetails: ErrorDetail[] = [];
  manager.assertDataDir();
  const names = new Set(manager.listDatabases());
  const headers = new Map<string, string>();
  for (const archivePath of manager.listArchives()) {
    if (!existsSync(archivePath)) continue;
    try {
      const header = peekHeader(archivePath);
      const fileName = targetFileName(header, archivePath);
      names.add(fileName);
      headers.set(fileName, header.exported_at);
    } catch (error) {
      errorDetails.push(
        toErrorDetail(error, {
          file: archivePath,
          database: databaseNameOfArchive(basename(archivePath)) ?? basename(archivePath),
        }),
      );
    }
  }
  const databases: DatabaseStatusEntry[] = [];
  for (const fileName of [...names].sort(compareNames)) {
    const dbPath = join(manager.dataDir, fileName);
    const archivePath = manager.archivePathFor(fileName);
    const exportedAt = headers.get(fileName);
    const base = { fileName, dbPath, archivePath, ...(exportedAt === undefined ? {} : { exportedAt }) };
    try {
      databases.push(await statusOf(base, exportedAt !== undefined, busyTimeoutMs, options.onProgress));
    } catch (error) {
      errorDetails.push(toErrorDetail(error, { file: dbPath, database: databaseNameOf(fileName) }));
    }
  }
  if (databases.length === 0 && errorDetails.length === 0) {
    // Nothing to compare is not "clean": a wrong --data-dir or --archive-dir must not pass a check.
    errorDetails.push(
      toErrorDetail(
        new PathError(
          `found no databases in ${manager.dataDir} and no archives in ${manager.archiveDir}, so nothing was checked`,
          {
            file: manager.dataDir,
            hint: 'check --data-dir and --archive-dir (or the config); `db-hydration dehydrate` creates the archives of the databases',
          },
        ),
      ),
    );
  }
  const counts: Record<SyncState, number> = {
    'in-sync': 0,
    changed: 0,
    missing: 0,
    damaged: 0,
    'not-a-file': 0,
    locked: 0,
    'no-archive': 0,
  };
  for (const d of databases) counts[d.state]++;
  return {
    timestamp,
    dataDir: manager.dataDir,
    archiveDir: manager.archiveDir,
    databases,
    counts,
    clean: errorDetails.length === 0 && databases.every((d) => d.state === 'in-sync'),
    errors: errorDetails.map((e) => e.message),
    errorDetails,
  };
}

async function statusOf(
  base: { fileName: string; dbPath: string; archivePath: string; exportedAt?: string },
  hasArchive: boolean,
  busyTimeoutMs: number,
  onProgress: ProgressListener | undefined,
): Promise<DatabaseStatusEntry> {
  const expectTables = hasArchive && isEmptyFile(base.dbPath) && archiveHasTables(base.archivePath);
  const check = checkDatabase(base.dbPath, { busyTimeoutMs, expectTables });
  const entry = (
    state: SyncState,
    reason: string,
    hint?: string,
    extra: object = {},
  ): DatabaseStatusEntry => ({
    ...base,
    state,
    reason,
    ...(hint === undefined ? {} : { hint }),
    check: check.status,
    ...extra,
  });
  if (check.status === 'missing') {
    return hasArchive
      ? entry('missing', 'the database file does not exist', 'run `db-hydration hydrate`')
      : entry(
          'missing',
          'neither the database file nor its archive exists',
          'check the name or the configuration',
        );
  }
  if (check.status === 'locked') return entry('locked', check.reason, check.hint);
  if (isNotAFile(check))
    return entry('not-a-file', check.reason, 'move it away, then run `db-hydration hydrate`');
  if (!check.usable) {
    return entry(
      'damaged',
      `${check.status}: ${check.reason}`,
      hasArchive
        ? 'run `db-hydration fix` to restore it from its archive'
        : 'run `db-hydration fix` to salvage its rows',
    );
  }
  if (!hasArchive)
    return entry('no-archive', 'the database has no archive yet', 'run `db-hydration dehydrate`');
  if (check.status === 'empty') {
    return entry('in-sync', 'the database and its archive are both empty');
  }
  return withScratchDir((dir) => {
    const scratch = join(dir, 'live.json');
    dehydrateDatabase({
      dbPath: base.dbPath,
      archivePath: scratch,
      database: databaseNameOf(base.fileName),
      fileName: base.fileName,
      busyTimeoutMs,
      onProgress,
    });
    const comparison = compareArchives(scratch, base.archivePath);
    if (comparison.same) return entry('in-sync', 'the archive holds exactly this content');
    const table = comparison.firstDifference?.table;
    return entry(
      'changed',
      table === undefined
        ? 'the schema or file settings changed since the archive was written; `dehydrate` updates the archive, `hydrate --force` goes back to it'
        : `table "${table}" changed since the archive was written; \`dehydrate\` updates the archive, \`hydrate --force\` goes back to it`,
      'run `db-hydration dehydrate`',
      table === undefined ? {} : { changedTable: table },
    );
  });
}

function isEmptyFile(path: string): boolean {
  try {
    return statSync(path).size === 0;
  } catch {
    return false;
  }
}

function archiveHasTables(archivePath: string): boolean {
  try {
    for (const event of readArchive(archivePath, { skipRows: true })) if (event.kind === 'table') return true;
  } catch {
    return true;
  }
  return false;
}

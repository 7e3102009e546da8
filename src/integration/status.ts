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
import { basename, dirname, join } from 'node:path';
import { PathError, toErrorDetail, type ErrorDetail } from '../errors.js';
import { databaseNameOf, databaseNameOfArchive } from '../archive/naming.js';
import { keyRingOf, type DBHydrationManager } from '../manager.js';
import { withKeyRing } from '../archive/keys.js';
import { peekHeader, targetFileName } from '../archive/archive-header.js';
import { compareNames } from '../sqlite/names.js';
import { codecForFileName } from '../archive/codec.js';
import { readArchive } from '../archive/read-archive.js';
import { checkDatabase, isNotAFile, type DatabaseStatus } from '../integrity/classify-database.js';
import type { ProgressListener } from '../progress.js';
import { compareArchives } from '../archive/content-comparison.js';
import { findConflictMarker } from '../archive/conflict-markers.js';
import { classifySync, classifyWithoutReading, withSnapshot } from '../sync/classify-sync.js';
import { assertBusyTimeout, DEFAULT_BUSY_TIMEOUT_MS } from '../sqlite/busy-timeout.js';
import {
  archiveMigrationStatus,
  migrationsForStatus,
  migrationStatusOf,
  type MigrationStatus,
} from './migration-status.js';
import { MigrationsReader, type Migration } from '../migrate/migrations-dir.js';

export type { MigrationStatus } from './migration-status.js';

/** The state of one database relative to its archive. */
export type SyncState =
  | 'in-sync'
  | 'changed'
  | 'missing'
  | 'damaged'
  /** A directory (or socket, pipe, device) stands at the database's path: not a database, and not damaged. */
  | 'not-a-file'
  | 'locked'
  | 'no-archive'
  /** The archive changed since the database last matched it (a pull, checkout or merge); the database did not. */
  | 'archive-updated'
  /** Both the database and its archive changed since they last matched. */
  | 'diverged'
  /** The archive holds unresolved merge conflict markers. */
  | 'conflict';

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
  /**
   * For `changed`, `archive-updated` and `diverged`: the first table that differs between the database and its
   * archive (absent when the schema or file settings differ).
   */
  readonly changedTable?: string;
  /**
   * For a database compared with its archive: whether it has sync state (the archive content it last matched). Without
   * it, `changed` means only that the two differ, not which of them changed.
   */
  readonly tracked?: boolean;
  /** For `conflict`: the line of the archive's first conflict marker. */
  readonly conflictLine?: number;
  /**
   * With a migrations directory configured, for a usable database: its version, the migrations it lacks, or why it
   * must not be migrated.
   */
  readonly migrations?: MigrationStatus;
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
  /** Archives over {@link LARGE_ARCHIVE_BYTES}, with what to do about each. They do not make the status unclean. */
  readonly warnings: readonly ArchiveSizeWarning[];
  readonly errors: readonly string[];
  readonly errorDetails: readonly ErrorDetail[];
}

/**
 * `status` warns about an archive over 50 MB (50,000,000 bytes, as stored): Git hosts refuse big files (GitHub refuses
 * files over 100 MB and warns from 50 MB), and every commit that changes it stores another large object.
 */
export const LARGE_ARCHIVE_BYTES = 50_000_000;

/** An archive too large to keep in Git comfortably. */
export interface ArchiveSizeWarning {
  readonly fileName: string;
  readonly archivePath: string;
  /** Its size as stored. */
  readonly bytes: number;
  readonly message: string;
  /** What to do: compress it, or keep it in remote storage. */
  readonly hint: string;
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
  // The manager's keys: its identities decrypt, its config's recipients encrypt (keys.ts).
  return withKeyRing(keyRingOf(manager), () => getStatusInRing(manager, options));
}

// eslint-disable-next-line @typescript-eslint/require-await -- kept async: the API returns a promise
async function getStatusInRing(manager: DBHydrationManager, options: StatusOptions): Promise<StatusResult> {
  assertBusyTimeout(options.busyTimeoutMs);
  const timestamp = new Date().toISOString();
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const errorDetails: ErrorDetail[] = [];
  manager.assertDataDir();
  const names = new Set(manager.listDatabases());
  const { headers, withConflicts } = readHeaders(manager, names, errorDetails);
  const databases: DatabaseStatusEntry[] = [];
  const reader =
    manager.migrationsDir === undefined ? undefined : new MigrationsReader(manager.migrationsDir);
  const reportedDirs = new Set<string>();
  for (const fileName of [...names].sort(compareNames)) {
    const dbPath = join(manager.dataDir, fileName);
    const archivePath = manager.archivePathFor(fileName);
    const exportedAt = headers.get(fileName);
    const base = { fileName, dbPath, archivePath, ...(exportedAt === undefined ? {} : { exportedAt }) };
    try {
      const hasArchive = exportedAt !== undefined || withConflicts.has(fileName);
      const status = statusOf(base, hasArchive, busyTimeoutMs, options.onProgress);
      const migrations = migrationsForStatus(reader, fileName, errorDetails, reportedDirs);
      const m =
        migrations === undefined
          ? undefined
          : migrationsOfEntry(status, migrations, manager.migrationsTable, busyTimeoutMs);
      databases.push(m === undefined ? status : { ...status, migrations: m });
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
    'archive-updated': 0,
    diverged: 0,
    conflict: 0,
  };
  for (const d of databases) counts[d.state]++;
  return {
    timestamp,
    dataDir: manager.dataDir,
    archiveDir: manager.archiveDir,
    databases,
    counts,
    clean: errorDetails.length === 0 && databases.every((d) => d.state === 'in-sync'),
    warnings: sizeWarnings(databases),
    errors: errorDetails.map((e) => e.message),
    errorDetails,
  };
}

/** The warnings of archives over {@link LARGE_ARCHIVE_BYTES}. */
function sizeWarnings(databases: readonly DatabaseStatusEntry[]): ArchiveSizeWarning[] {
  const warnings: ArchiveSizeWarning[] = [];
  for (const d of databases) {
    let bytes: number;
    try {
      bytes = statSync(d.archivePath).size;
    } catch {
      continue; // no archive (yet)
    }
    if (bytes <= LARGE_ARCHIVE_BYTES) continue;
    const compressed = codecForFileName(basename(d.archivePath)).name.startsWith('gzip');
    const mb = (bytes / 1e6).toFixed(1);
    warnings.push({
      fileName: d.fileName,
      archivePath: d.archivePath,
      bytes,
      message: `${d.archivePath} is ${mb} MB: Git hosts refuse files over 100 MB (GitHub warns from 50 MB), and every commit that changes it stores another large object`,
      hint: compressed
        ? 'keep it in remote storage instead of Git (`db-hydration push` / `pull`, docs/remote.md), or split the database'
        : `compress it (\`db-hydration dehydrate --compress gzip --db ${d.fileName}\`, or "perDatabase": {"${d.fileName}": {"compress": "gzip"}} in the config), or keep it in remote storage (\`db-hydration push\` / \`pull\`, docs/remote.md)`,
    });
  }
  return warnings;
}

/** The states of a database whose own migrations are told: it can be read, and it is what stays. */
const LIVE_STATES: ReadonlySet<SyncState> = new Set(['in-sync', 'changed', 'no-archive', 'diverged']);

/**
 * The migrations of an entry: of the database itself, or, where `hydrate` is the next step (missing, archive updated),
 * of its archive, which is what the database will hold.
 */
function migrationsOfEntry(
  entry: DatabaseStatusEntry,
  migrations: readonly Migration[],
  table: string,
  busyTimeoutMs: number,
): MigrationStatus | undefined {
  if (LIVE_STATES.has(entry.state)) return migrationStatusOf(entry.dbPath, migrations, table, busyTimeoutMs);
  if (entry.state !== 'missing' && entry.state !== 'archive-updated') return undefined;
  if (!existsSync(entry.archivePath)) return undefined;
  try {
    return { ...archiveMigrationStatus(entry.archivePath, migrations, table), ofArchive: true };
  } catch {
    return undefined; // an archive that cannot be read is reported by the other checks
  }
}

/**
 * The archives' headers (`exported_at` by database file name), adding each archive's database to `names`; archives
 * with conflict markers where their header belongs are listed in `withConflicts`, other bad archives in the errors.
 */
function readHeaders(
  manager: DBHydrationManager,
  names: Set<string>,
  errorDetails: ErrorDetail[],
): { headers: Map<string, string>; withConflicts: Set<string> } {
  const headers = new Map<string, string>();
  const withConflicts = new Set<string>();
  for (const archivePath of manager.listArchives()) {
    if (!existsSync(archivePath)) continue;
    try {
      const header = peekHeader(archivePath);
      const fileName = targetFileName(header, archivePath);
      names.add(fileName);
      headers.set(fileName, header.exported_at);
    } catch (error) {
      // An archive whose header a text merge left conflict markers in is its database's `conflict` state, not an error
      // that leaves the database looking as if it had no archive.
      const conflicted = conflictedFileName(manager, archivePath, names);
      if (conflicted !== undefined) {
        names.add(conflicted);
        withConflicts.add(conflicted);
        continue;
      }
      errorDetails.push(
        toErrorDetail(error, {
          file: archivePath,
          database: databaseNameOfArchive(basename(archivePath)) ?? basename(archivePath),
        }),
      );
    }
  }
  return { headers, withConflicts };
}

function statusOf(
  base: { fileName: string; dbPath: string; archivePath: string; exportedAt?: string },
  hasArchive: boolean,
  busyTimeoutMs: number,
  onProgress: ProgressListener | undefined,
): DatabaseStatusEntry {
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
  const conflictLine = hasArchive ? findConflictMarker(base.archivePath) : undefined;
  if (conflictLine !== undefined) return conflictEntry(entry, conflictLine);
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
  return compareWithArchive(base, entry, busyTimeoutMs, onProgress);
}

type MakeEntry = (state: SyncState, reason: string, hint?: string, extra?: object) => DatabaseStatusEntry;

/** A usable database against its archive: which side changed since they last matched, by the sync state. */
function compareWithArchive(
  base: { fileName: string; dbPath: string; archivePath: string },
  entry: MakeEntry,
  busyTimeoutMs: number,
  onProgress: ProgressListener | undefined,
): DatabaseStatusEntry {
  const target = { ...base, dataDir: dirname(base.dbPath), busyTimeoutMs, onProgress };
  // An unchanged database file need not be read to be in sync (its stamp: docs/sync.md, "Incremental export").
  const known = classifyWithoutReading(target);
  if (known?.kind === 'in-sync') {
    return entry('in-sync', 'the archive holds exactly this content', undefined, { tracked: true });
  }
  return withSnapshot(target, (snapshot) => {
    const sync = classifySync(target, snapshot);
    const tracked = { tracked: sync.record !== undefined };
    if (sync.kind === 'in-sync')
      return entry('in-sync', 'the archive holds exactly this content', undefined, tracked);
    const table = compareArchives(snapshot, base.archivePath).firstDifference?.table;
    const extra = { ...tracked, ...(table === undefined ? {} : { changedTable: table }) };
    const what = table === undefined ? 'the schema or file settings' : `table "${table}"`;
    const since = `since ${base.fileName} last matched its archive (${sync.record?.matchedBy ?? ''} at ${sync.record?.matchedAt ?? ''})`;
    switch (sync.kind) {
      case 'local-changes':
        return entry(
          'changed',
          `${what} changed since the archive was written; \`dehydrate\` updates the archive, \`hydrate --force\` goes back to it`,
          'run `db-hydration dehydrate`',
          extra,
        );
      case 'archive-updated':
        return entry(
          'archive-updated',
          sync.resolvesPendingMerge
            ? `the archive holds the resolved merge, and the database is unchanged since that merge began; \`hydrate\` (or \`sync\`) rebuilds it from the archive`
            : `the archive was updated ${since} (a pull, checkout or merge), and the database has no changes of its own; \`hydrate\` brings the update in`,
          'run `db-hydration hydrate`',
          extra,
        );
      case 'diverged':
        return entry(
          'diverged',
          sync.record?.pendingMerge?.theirsContentHash === sync.archiveContentHash
            ? "a merge by `sync` stopped on conflicts, and the archive is the other side's version again (the merge was undone, or every conflict was resolved to the other side): `sync` merges again; `hydrate --force` takes the archive as it is (after a backup)"
            : `both the database and its archive changed ${since}; \`sync\` merges them (three-way, by primary key)`,
          'run `db-hydration sync`',
          extra,
        );
      default:
        return entry(
          'changed',
          `${what} differs between the database and its archive, and without sync state (written by hydrate, dehydrate, fix and sync) db-hydration cannot tell whether the database or the archive changed`,
          'if only the database changed, run `db-hydration dehydrate`; if the archive came from a pull, `db-hydration hydrate --force` (the database is backed up first)',
          extra,
        );
    }
  });
}

/**
 * The database file name of an archive with conflict markers whose header cannot be read: a database of the data
 * directory whose archive it is, else `<name>.db`. Undefined when the archive has no conflict markers.
 */
function conflictedFileName(
  manager: DBHydrationManager,
  archivePath: string,
  names: ReadonlySet<string>,
): string | undefined {
  if (findConflictMarker(archivePath) === undefined) return undefined;
  const name = databaseNameOfArchive(basename(archivePath));
  if (name === undefined) return undefined;
  return [...names].find((n) => manager.archivePathFor(n) === archivePath) ?? `${name}.db`;
}

/** The entry for an archive with unresolved conflict markers (a merge stopped on conflicts, or a text merge). */
function conflictEntry(entry: MakeEntry, line: number): DatabaseStatusEntry {
  return entry(
    'conflict',
    `the archive has unresolved merge conflicts (the first marker is on line ${line}); nothing can be hydrated from it or dehydrated over it until they are resolved`,
    'resolve the conflicts: `db-hydration git resolve --ours` (or `--theirs`), or edit the file (keep one row between each pair of markers, delete the marker lines); then run `db-hydration sync`',
    { conflictLine: line },
  );
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

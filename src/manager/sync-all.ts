/**
 * `sync`: bring each database and its archive together, whichever side changed since they last matched (see
 * src/sync/). Only the database changed: it is dehydrated. Only the archive changed: the database is backed up and
 * rebuilt from it. Both changed (diverged): a three-way merge (base: the last-matched archive's copy; ours: a snapshot
 * of the database; theirs: the archive); a clean merge is written over the archive and the database is rebuilt from
 * it (after a backup); a merge with conflicts writes the conflict-marked archive, as git's merge driver does, leaves
 * the database as it is and records the merge as pending, so that once the archive is resolved, `sync` (or
 * `hydrate`) rebuilds the database from it instead of merging again.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import {
  ArchiveChangedError,
  ArchiveFormatError,
  DatabaseReadError,
  toErrorDetail,
  type ErrorDetail,
} from '../errors.js';
import { archiveFileNameFor, databaseNameOf, databaseNameOfArchive } from '../archive/naming.js';
import { peekHeader, targetFileName } from '../archive/archive-header.js';
import { findConflictMarker } from '../archive/conflict-markers.js';
import { archiveContentHash } from '../archive/content-comparison.js';
import { dehydrateDatabase } from '../dehydrate/dehydrate-database.js';
import { checkDatabase } from '../integrity/classify-database.js';
import type { MergeConflict } from '../merge/merge-types.js';
import {
  classifySync,
  type SyncClassification,
  type SyncKind,
  type SyncTarget,
} from '../sync/classify-sync.js';
import type { MergeFn } from '../sync/merge-function.js';
import {
  copyArchiveAtomically,
  recordMatch,
  recordPendingMerge,
  syncStatePaths,
} from '../sync/sync-state.js';
import { compareNames } from '../sqlite/names.js';
import { dehydrateAll } from './dehydrate-all.js';
import { hydrateArchive } from './hydrate-all.js';
import { assertArchiveDir, assertDataDir } from './paths.js';
import type { ManagerContext } from './types.js';

/** Options of {@link DBHydrationManager.syncAll}. */
export interface SyncAllOptions {
  /** The three-way merge (`mergeArchives`); sync calls it only for a diverged database. */
  readonly merge: MergeFn;
}

/**
 * What sync did to one database: `none` (already in sync), `dehydrated` (only it had changed), `hydrated` (only the
 * archive had changed, or it was missing: rebuilt from it), `merged` (both had changed: merged cleanly, archive written
 * and database rebuilt), `conflict` (the merge stopped on conflicts: the archive holds them between markers), or
 * `failed` (see the errors).
 */
export type SyncAction = 'none' | 'dehydrated' | 'hydrated' | 'merged' | 'conflict' | 'failed';

/** One database in a {@link SyncResult}. */
export interface SyncedDatabase {
  readonly fileName: string;
  readonly dbPath: string;
  readonly archivePath: string;
  /** How it stood before: a {@link SyncKind}, or `missing` / `no-archive` when one side did not exist. */
  readonly before: SyncKind | 'missing' | 'no-archive';
  readonly action: SyncAction;
  /** Where the database was backed up before it was rebuilt. */
  readonly backupPath?: string;
  /** For `conflict`: every conflict the merge marked. */
  readonly conflicts?: readonly MergeConflict[];
}

/** Result of {@link DBHydrationManager.syncAll}. */
export interface SyncResult {
  readonly timestamp: string;
  /** Keyed by database file name. */
  readonly databases: Readonly<Record<string, SyncedDatabase>>;
  /** Every conflict of every database whose merge stopped on conflicts. */
  readonly conflicts: readonly MergeConflict[];
  /** Whether every database is now in sync with its archive (no conflicts, no errors). */
  readonly clean: boolean;
  readonly errors: readonly string[];
  readonly errorDetails: readonly ErrorDetail[];
}

/** One database to sync. */
interface Step {
  readonly ctx: ManagerContext;
  readonly target: SyncTarget;
  readonly options: SyncAllOptions;
  readonly errorDetails: ErrorDetail[];
  readonly toDehydrate: string[];
}

/** Syncs every database of `ctx` (see the module comment). */
export async function syncAll(ctx: ManagerContext, options: SyncAllOptions): Promise<SyncResult> {
  const timestamp = new Date().toISOString();
  assertDataDir(ctx.dataDir);
  assertArchiveDir(ctx.archiveDir);
  const errorDetails: ErrorDetail[] = [];
  const databases: Record<string, SyncedDatabase> = {};
  const toDehydrate: string[] = [];
  for (const fileName of targets(ctx, errorDetails)) {
    const dbPath = join(ctx.dataDir, fileName);
    const archivePath = ctx.archivePathFor(fileName);
    const target = { dataDir: ctx.dataDir, fileName, dbPath, archivePath, busyTimeoutMs: ctx.busyTimeoutMs };
    try {
      databases[fileName] = await syncOne({ ctx, target, options, errorDetails, toDehydrate });
    } catch (error) {
      errorDetails.push(toErrorDetail(error, { file: dbPath, database: databaseNameOf(fileName) }));
      databases[fileName] = { fileName, dbPath, archivePath, before: 'diverged', action: 'failed' };
    }
  }
  if (toDehydrate.length > 0) {
    // Writes the archives (those of merged databases are left as they are when the merge wrote what dehydrate writes),
    // the manifest and the sync state, as `dehydrate` does.
    const only = { ...ctx, databases: toDehydrate, listDatabases: () => [...toDehydrate] };
    errorDetails.push(...dehydrateAll(only, {}, 'sync').errorDetails);
  }
  const conflicts = Object.values(databases).flatMap((d) => d.conflicts ?? []);
  return {
    timestamp,
    databases,
    conflicts,
    clean: errorDetails.length === 0 && conflicts.length === 0,
    errors: errorDetails.map((e) => e.message),
    errorDetails,
  };
}

/** The database file names to sync: the databases of the data directory and those the archives hydrate into. */
function targets(ctx: ManagerContext, errorDetails: ErrorDetail[]): string[] {
  const names = new Set(ctx.listDatabases());
  if (ctx.databases !== undefined) return [...names];
  for (const archivePath of ctx.listArchives()) {
    try {
      names.add(targetFileName(peekHeader(archivePath), archivePath));
    } catch (error) {
      if (findConflictMarker(archivePath) === undefined) {
        errorDetails.push(toErrorDetail(error, { file: archivePath }));
        continue;
      }
      // Conflict markers where the header belongs: still this database's archive, reported by its sync.
      const name = databaseNameOfArchive(basename(archivePath));
      if (name !== undefined && ![...names].some((n) => ctx.archivePathFor(n) === archivePath))
        names.add(`${name}.db`);
    }
  }
  return [...names].sort(compareNames);
}

/** Syncs one database. */
async function syncOne(step: Step): Promise<SyncedDatabase> {
  const { target, toDehydrate } = step;
  const { fileName, dbPath, archivePath } = target;
  const done = (
    before: SyncedDatabase['before'],
    action: SyncAction,
    extra: object = {},
  ): SyncedDatabase => ({
    fileName,
    dbPath,
    archivePath,
    before,
    action,
    ...extra,
  });
  const hasArchive = existsSync(archivePath);
  if (!hasArchive) {
    toDehydrate.push(fileName);
    return done('no-archive', 'dehydrated');
  }
  assertNoConflicts(target);
  if (!existsSync(dbPath)) return done('missing', 'hydrated', await rebuild(step));
  assertUsable(target);
  return withScratch(async (dir) => {
    const ours = join(dir, archiveFileNameFor(fileName));
    dehydrateDatabase({ ...target, archivePath: ours, database: databaseNameOf(fileName) });
    const sync = classifySync(target, ours);
    switch (sync.kind) {
      case 'in-sync':
        if (sync.record === undefined) recordMatch({ ...target, matchedBy: 'sync' });
        return done(sync.kind, 'none');
      case 'local-changes':
        toDehydrate.push(fileName);
        return done(sync.kind, 'dehydrated');
      case 'archive-updated':
        return done(sync.kind, 'hydrated', await rebuild(step));
      case 'untracked':
        throw cannotTell(target);
      default:
        return merge(step, sync, ours, join(dir, `merged.${basename(target.archivePath)}`), done);
    }
  });
}

/** The diverged case: the three-way merge, then the archive written and the database rebuilt, or the conflicts. */
async function merge(
  step: Step,
  sync: SyncClassification,
  ours: string,
  output: string,
  done: (before: SyncKind, action: SyncAction, extra?: object) => SyncedDatabase,
): Promise<SyncedDatabase> {
  const { target } = step;
  const record = sync.record;
  const base = syncStatePaths(target.dataDir, target.fileName, target.archivePath).base;
  // The base copy must still hold what the record says (it may be a hard link to an archive edited in place since).
  if (record === undefined || !existsSync(base) || archiveContentHash(base) !== record.contentHash)
    throw cannotTell(target);
  const result = await step.options.merge({
    base,
    ours,
    theirs: target.archivePath,
    output,
    labels: { ours: `${target.fileName} (database)`, base: 'last synced', theirs: 'archive' },
  });
  if (archiveContentHash(target.archivePath) !== sync.archiveContentHash) {
    throw new ArchiveChangedError(
      `the archive ${target.archivePath} changed while it was merged, so the merge was not written`,
      {
        file: target.dbPath,
        database: databaseNameOf(target.fileName),
        hint: 'run `db-hydration sync` again',
      },
    );
  }
  copyArchiveAtomically(output, target.archivePath);
  if (!result.clean) {
    recordPendingMerge(target.dataDir, record, {
      oursContentHash: sync.databaseContentHash,
      theirsContentHash: sync.archiveContentHash,
      startedAt: new Date().toISOString(),
    });
    return done('diverged', 'conflict', { conflicts: result.conflicts });
  }
  const rebuilt = await rebuild(step, 'sync');
  step.toDehydrate.push(target.fileName);
  return done('diverged', 'merged', rebuilt);
}

/** Backs up the database (if there is one) and rebuilds it from its archive; records the match. */
async function rebuild(
  step: Step,
  matchedBy: 'hydrate' | 'sync' = 'hydrate',
): Promise<{ backupPath?: string }> {
  const hydrated = await hydrateArchive(step.ctx, step.target.archivePath, step.errorDetails);
  if (matchedBy === 'sync' && hydrated.rejectedRows.length === 0) recordMatch({ ...step.target, matchedBy });
  return hydrated.backupPath === undefined ? {} : { backupPath: hydrated.backupPath };
}

function assertNoConflicts(target: SyncTarget): void {
  const line = findConflictMarker(target.archivePath);
  if (line === undefined) return;
  throw new ArchiveFormatError(
    `line ${line}: the archive has unresolved merge conflicts, so ${target.fileName} was not synced`,
    {
      file: target.archivePath,
      database: databaseNameOf(target.fileName),
      hint: 'resolve them: `db-hydration git resolve --ours` (or `--theirs`), or edit the file (keep one row between each pair of markers, delete the marker lines); then run `db-hydration sync` again',
    },
  );
}

function assertUsable(target: SyncTarget): void {
  const check = checkDatabase(target.dbPath, { busyTimeoutMs: target.busyTimeoutMs });
  if (check.usable) return;
  throw new DatabaseReadError(`${check.reason}, so it was not synced`, {
    file: target.dbPath,
    database: databaseNameOf(target.fileName),
    hint: check.status === 'locked' ? check.hint : 'run `db-hydration fix` to restore it from its archive',
  });
}

/** The error for a database and archive that differ with no sync state (or no base copy) to tell which changed. */
function cannotTell(target: SyncTarget): ArchiveChangedError {
  return new ArchiveChangedError(
    `${target.fileName} and its archive differ, and without sync state (the archive content it last matched) db-hydration cannot tell which of them changed, so nothing was merged`,
    {
      file: target.dbPath,
      database: databaseNameOf(target.fileName),
      hint: `if the archive holds no one else's changes, run \`db-hydration dehydrate --db ${databaseNameOf(target.fileName)}\`; to take the archive's content, \`db-hydration hydrate --force --db ${databaseNameOf(target.fileName)}\` (the database is backed up first)`,
    },
  );
}

async function withScratch<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'db-hydration-sync-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Hydrating every archive into its database file in the data directory: missing databases are created, existing ones
 * skipped (and reported when they are not usable) or, with `force`, backed up and replaced.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ArchiveNameError, MigrationError, PathError, toErrorDetail, type ErrorDetail } from '../errors.js';
import { databaseNameOfArchive } from '../archive/naming.js';
import { codecForFileName, IDENTITY_CODEC } from '../archive/codec.js';
import { peekHeader, targetFileName } from '../archive/archive-header.js';
import type { ArchiveHeader } from '../archive/format.js';
import { buildDatabase } from '../hydrate/hydrate-database.js';
import { removeStaleTempFiles } from '../files/atomic-file.js';
import { checkDatabase } from '../integrity/classify-database.js';
import { classifySync, classifyWithoutReading, withSnapshot, type SyncKind } from '../sync/classify-sync.js';
import { forgetSyncState, recordMatch } from '../sync/sync-state.js';
import { assertArchiveDir, assertDataDir, kindOf } from './paths.js';
import { MigrationsReader } from '../migrate/migrations-dir.js';
import { migrateDatabase, planFor } from '../migrate/apply-migrations.js';
import { requireMigrationsDir } from './migrate-all.js';
import type { HydrateAllOptions, HydratedDatabase, HydrationResult, ManagerContext } from './types.js';

/**
 * The largest database whose pages `hydrateAll` checks (quick_check) before skipping it, so that a damaged one is
 * reported and pointed at `fix`: 64 MiB, a fraction of a second to read. Larger ones get the O(1) open check only.
 */
const SKIP_CHECK_MAX_BYTES = 64 * 1024 * 1024;

/** One archive's hydration: the archive, the database file it hydrates into, and where its results go. */
interface Target {
  readonly archivePath: string;
  readonly header: ArchiveHeader;
  readonly fileName: string;
  readonly dbPath: string;
}

/** Hydrates every archive of `ctx` (see {@link DBHydrationManager.hydrateAll}). */
export async function hydrateAll(ctx: ManagerContext, options: HydrateAllOptions): Promise<HydrationResult> {
  const timestamp = new Date().toISOString();
  // A fresh clone has no data directory yet: hydrate creates it (but not in place of a file).
  if (kindOf(ctx.dataDir) !== 'missing') assertDataDir(ctx.dataDir);
  assertArchiveDir(ctx.archiveDir);
  mkdirSync(ctx.dataDir, { recursive: true });
  removeStaleTempFiles(ctx.dataDir);
  const databases: Record<string, HydratedDatabase> = {};
  const errorDetails: ErrorDetail[] = [];
  const migrations = hydrateMigrations(ctx, options);
  for (const archivePath of ctx.listArchives()) {
    const expectedName = databaseNameOfArchive(basename(archivePath)) ?? basename(archivePath);
    try {
      const target = locate(ctx, archivePath, expectedName);
      const hydrated =
        existsSync(target.dbPath) && options.force !== true
          ? await hydrateExisting(ctx, target, errorDetails, migrations)
          : await hydrateOne(ctx, target, errorDetails, migrations);
      databases[target.fileName] = hydrated;
    } catch (error) {
      errorDetails.push(toErrorDetail(error, { file: archivePath, database: expectedName }));
    }
  }
  const hydrated = Object.values(databases);
  return {
    timestamp,
    databases,
    totalTables: hydrated.reduce((s, d) => s + d.tablesImported, 0),
    totalRows: hydrated.reduce((s, d) => s + d.totalRows, 0),
    errors: errorDetails.map((e) => e.message),
    errorDetails,
  };
}

/**
 * Hydrates one archive into its database file, replacing (after a backup) the database there: for `sync`, which has
 * decided that nothing local is lost. Rows the archive's constraints rejected are added to `errorDetails`.
 */
export async function hydrateArchive(
  ctx: ManagerContext,
  archivePath: string,
  errorDetails: ErrorDetail[],
): Promise<HydratedDatabase> {
  const expectedName = databaseNameOfArchive(basename(archivePath)) ?? basename(archivePath);
  return hydrateOne(ctx, locate(ctx, archivePath, expectedName), errorDetails);
}

/** The archive's header and the database file it hydrates into; throws when there is nothing to hydrate there. */
function locate(ctx: ManagerContext, archivePath: string, expectedName: string): Target {
  if (!existsSync(archivePath)) {
    throw new ArchiveNameError('no archive for this database', {
      file: archivePath,
      database: expectedName,
      hint: 'run `db-hydration dehydrate` on a machine that has the database',
    });
  }
  const header = peekHeader(archivePath);
  const fileName = targetFileName(header, archivePath);
  const dbPath = join(ctx.dataDir, fileName);
  if (existsSync(dbPath) && !statSync(dbPath).isFile()) {
    // A directory (or socket, ...) is not a database to skip or replace, even with force: it stays where it is.
    const check = checkDatabase(dbPath);
    throw new PathError(`${check.reason}, so it was not hydrated; it was left where it is`, {
      file: dbPath,
      database: header.database,
      hint: check.hint,
    });
  }
  return { archivePath, header, fileName, dbPath };
}

/**
 * An existing database without `force`. One that is not usable is skipped, but not silently: say so and point at
 * `fix`. A usable one is compared with its archive through its sync state: when only the archive changed since they
 * last matched (a pull, checkout or merge), nothing local can be lost, and it is backed up and rebuilt from the
 * archive; otherwise it is skipped, with the reason (in sync, local changes, diverged, or no sync state).
 */
async function hydrateExisting(
  ctx: ManagerContext,
  target: Target,
  errorDetails: ErrorDetail[],
  migrations: HydrateMigrations | undefined,
): Promise<HydratedDatabase> {
  const { archivePath, dbPath, fileName } = target;
  const skipped = (extra: Partial<HydratedDatabase> = {}): HydratedDatabase => ({
    archivePath,
    dbPath,
    status: 'skipped',
    tablesImported: 0,
    totalRows: 0,
    rejectedRows: [],
    ...extra,
  });
  if (!usableToSkip(ctx, target, errorDetails)) return skipped();
  const syncTarget = {
    dataDir: ctx.dataDir,
    fileName,
    dbPath,
    archivePath,
    busyTimeoutMs: ctx.busyTimeoutMs,
  };
  const sync =
    classifyWithoutReading(syncTarget) ??
    withSnapshot(syncTarget, (snapshot) => classifySync(syncTarget, snapshot));
  if (sync.kind !== 'archive-updated') return skipped({ sync: sync.kind, note: SKIP_NOTES[sync.kind] });
  const hydrated = await hydrateOne(ctx, target, errorDetails, migrations);
  return {
    ...hydrated,
    sync: sync.kind,
    note: sync.resolvesPendingMerge
      ? 'rebuilt from the resolved merge in its archive (it had no changes since the merge began)'
      : "brought the archive's update in (the database had no changes of its own)",
  };
}

/** Why an existing database was kept, by how it stood against its archive. */
const SKIP_NOTES: Readonly<Record<Exclude<SyncKind, 'archive-updated'>, string>> = {
  'in-sync': 'in sync with its archive',
  'local-changes':
    'it has changes its archive lacks, so it was kept; `db-hydration dehydrate` saves them to the archive',
  diverged:
    'it has changes its archive lacks, and the archive changed too, so it was kept: run `db-hydration sync` to merge them (`hydrate --force` would replace it, after a backup, and drop its changes)',
  untracked:
    'it differs from its archive, and without sync state db-hydration cannot tell whether it has changes the archive lacks, so it was kept (`hydrate --force` replaces it after a backup)',
};

/**
 * Whether an existing database is usable (so it can be compared and kept or updated). One that is not is reported and
 * pointed at `fix`. Pages are checked (quick_check, one read of the file) when that is cheap; a large file only gets
 * the open check. A locked one is not usable, and not reported either (hydrating it would wait for the lock anyway).
 */
function usableToSkip(ctx: ManagerContext, target: Target, errorDetails: ErrorDetail[]): boolean {
  const { dbPath, header } = target;
  const check = checkDatabase(dbPath, {
    check: statSync(dbPath).size <= SKIP_CHECK_MAX_BYTES ? 'quick' : 'open',
    busyTimeoutMs: ctx.busyTimeoutMs,
    expectTables: true,
  });
  if (!check.usable && check.status !== 'locked') {
    errorDetails.push({
      code: 'DATABASE_READ',
      message: `${dbPath}: exists but is ${check.status === 'damaged' ? 'damaged' : 'not a usable database'} (${check.reason}), so it was not hydrated`,
      file: dbPath,
      database: header.database,
      hint: 'run `db-hydration fix` to restore it from its archive (the damaged file is kept aside)',
    });
  }
  return check.usable;
}

/** Builds the database from its archive (backing up a database it replaces), reporting the rows it rejected. */
async function hydrateOne(
  ctx: ManagerContext,
  target: Target,
  errorDetails: ErrorDetail[],
  migrations?: HydrateMigrations,
): Promise<HydratedDatabase> {
  const { archivePath, dbPath, fileName, header } = target;
  let backupPath: string | undefined;
  let migrationsApplied: string[] | undefined;
  let migrationsPending: string[] | undefined;
  let migrationProblem: string | undefined;
  const outcome = await buildDatabase({
    archivePath,
    dbPath,
    busyTimeoutMs: ctx.busyTimeoutMs,
    onProgress: ctx.onProgress,
    checkHeader: (h) => {
      if (targetFileName(h, archivePath) !== fileName)
        throw new ArchiveNameError('the archive changed while it was read', { file: archivePath });
    },
    afterLoad:
      migrations === undefined
        ? undefined
        : (db) => {
            const where = { file: dbPath, database: header.database, table: ctx.migrationsTable };
            if (migrations.apply) {
              const list = migrations.reader.forDatabase(fileName);
              migrationsApplied = migrateDatabase(db, list, where).map((m) => m.name);
              return;
            }
            try {
              const list = migrations.reader.forDatabase(fileName);
              migrationsPending = planFor(db, list, where).pending.map((m) => m.name);
            } catch (error) {
              if (!(error instanceof MigrationError)) throw error;
              migrationProblem = error.message;
            }
          },
    beforeReplace: async () => {
      if (existsSync(dbPath)) backupPath = await ctx.backup(dbPath);
    },
  });
  // The database now matches the archive, unless rows were rejected: then it matches nothing, and old state must go.
  if (outcome.rejectedRows.length === 0)
    recordMatch({
      dataDir: ctx.dataDir,
      fileName,
      dbPath,
      archivePath,
      matchedBy: 'hydrate',
      // The hash of the file's bytes: for an encrypted (or compressed) archive not those of its plain bytes.
      ...(codecForFileName(basename(archivePath)) === IDENTITY_CODEC
        ? { archiveSha256: outcome.archiveHashes.sha256 }
        : {}),
      contentHash: outcome.archiveHashes.contentHash,
    });
  else forgetSyncState(ctx.dataDir, fileName);
  for (const r of outcome.rejectedRows) {
    errorDetails.push({
      code: 'ROW_REJECTED',
      message: `${archivePath}: line ${r.line}: a row of table "${r.table}" was skipped: ${r.reason}`,
      file: archivePath,
      database: header.database,
      table: r.table,
    });
  }
  return {
    archivePath,
    dbPath,
    status: 'hydrated',
    tablesImported: outcome.tablesImported,
    totalRows: outcome.totalRows,
    rejectedRows: outcome.rejectedRows,
    ...(backupPath === undefined ? {} : { backupPath }),
    ...(migrationsApplied === undefined ? {} : { migrationsApplied }),
    ...(migrationsPending === undefined || migrationsPending.length === 0 ? {} : { migrationsPending }),
    ...(migrationProblem === undefined ? {} : { migrationProblem }),
  };
}

/** The migrations `hydrate` applies (`apply`) or only compares each database it builds with. */
interface HydrateMigrations {
  readonly reader: MigrationsReader;
  readonly apply: boolean;
}

/**
 * With `migrate` (the option, else the manager's): each database's migrations, to apply; a directory that cannot be
 * read is then that database's error, and it is not written. Without it, but with a migrations directory: the same,
 * only to say what each database lacks (a directory that cannot be read is then passed over: hydrating does not need
 * it).
 */
function hydrateMigrations(ctx: ManagerContext, options: HydrateAllOptions): HydrateMigrations | undefined {
  if (options.migrate ?? ctx.migrateOnHydrate)
    return { reader: new MigrationsReader(requireMigrationsDir(ctx)), apply: true };
  if (ctx.migrationsDir === undefined) return undefined;
  return { reader: new MigrationsReader(ctx.migrationsDir), apply: false };
}

/**
 * Hydrating every archive into its database file in the data directory: missing databases are created, existing ones
 * skipped (and reported when they are not usable) or, with `force`, backed up and replaced.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ArchiveNameError, PathError, toErrorDetail, type ErrorDetail } from '../errors.js';
import { databaseNameOfArchive } from '../archive/naming.js';
import { peekHeader, targetFileName } from '../archive/archive-header.js';
import type { ArchiveHeader } from '../archive/format.js';
import { buildDatabase } from '../hydrate/hydrate-database.js';
import { removeStaleTempFiles } from '../files/atomic-file.js';
import { checkDatabase } from '../integrity/classify-database.js';
import { assertArchiveDir, assertDataDir, kindOf } from './paths.js';
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
  for (const archivePath of ctx.listArchives()) {
    const expectedName = databaseNameOfArchive(basename(archivePath)) ?? basename(archivePath);
    try {
      const target = locate(ctx, archivePath, expectedName);
      const hydrated =
        existsSync(target.dbPath) && options.force !== true
          ? skipExisting(ctx, target, errorDetails)
          : await hydrateOne(ctx, target, errorDetails);
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
 * An existing database without `force`: skipped, but not silently when the file is not a usable database: say so and
 * point at `fix`. Pages are checked (quick_check, one read of the file) when that is cheap; a large file only gets the
 * open check.
 */
function skipExisting(ctx: ManagerContext, target: Target, errorDetails: ErrorDetail[]): HydratedDatabase {
  const { archivePath, dbPath, header } = target;
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
  return { archivePath, dbPath, status: 'skipped', tablesImported: 0, totalRows: 0, rejectedRows: [] };
}

/** Builds the database from its archive (backing up a database it replaces), reporting the rows it rejected. */
async function hydrateOne(
  ctx: ManagerContext,
  target: Target,
  errorDetails: ErrorDetail[],
): Promise<HydratedDatabase> {
  const { archivePath, dbPath, fileName, header } = target;
  let backupPath: string | undefined;
  const outcome = await buildDatabase({
    archivePath,
    dbPath,
    busyTimeoutMs: ctx.busyTimeoutMs,
    onProgress: ctx.onProgress,
    checkHeader: (h) => {
      if (targetFileName(h, archivePath) !== fileName)
        throw new ArchiveNameError('the archive changed while it was read', { file: archivePath });
    },
    beforeReplace: async () => {
      if (existsSync(dbPath)) backupPath = await ctx.backup(dbPath);
    },
  });
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
  };
}

/**
 * Application start-up: make sure a database file is
 * usable before the application opens it. A missing or damaged file with an archive is hydrated from the archive (a
 * damaged file is first kept under a quarantine name, exactly as `fix` does, since this is `fix` for one database).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { DatabaseReadError, type ErrorDetail } from '../errors.js';
import { DBHydrationManager } from '../manager.js';
import type { FixDetail } from '../integrity/fix-databases.js';
import type { ProgressListener } from '../progress.js';
import { assertBusyTimeout, DEFAULT_BUSY_TIMEOUT_MS } from '../sqlite/busy-timeout.js';
import { databaseNameOf } from '../archive/naming.js';
import { migrationsDirFor, readMigrationsDir } from '../migrate/migrations-dir.js';
import { DEFAULT_MIGRATIONS_TABLE } from '../migrate/ledger.js';
import { applyPlan, planFor } from '../migrate/apply-migrations.js';
import { backupDatabase, DEFAULT_BACKUPS_KEPT } from '../manager/backups.js';

/** Options of {@link checkAndHydrate}. */
export interface CheckAndHydrateOptions {
  /** Where the database's archive lives. Default `<directory of the database>/json_archives`. */
  readonly archiveDir?: string;
  /** How long to wait for a lock held by another connection, in milliseconds. Default 5000. */
  readonly busyTimeoutMs?: number;
  readonly onProgress?: ProgressListener;
}

/** Result of {@link checkAndHydrate}. */
export interface CheckAndHydrateResult {
  readonly path: string;
  /**
   * `none`: the file was usable and was not touched; `restored`: hydrated from its archive; `created`: missing with
   * no archive, created empty; `salvaged`: damaged with no archive, rebuilt from its readable rows; `skipped` /
   * `failed`: not repaired (see errors).
   */
  readonly action: FixDetail['action'];
  /** The full outcome: the check before repair, quarantine paths, integrity check. */
  readonly detail: FixDetail | undefined;
  readonly errors: readonly string[];
  readonly errorDetails: readonly ErrorDetail[];
}

/**
 * Checks one database file and repairs it when it is missing or damaged: the check-only entry point for applications
 * that open their own connections. Never throws for problems with the file: they are in the result.
 *
 * @example
 * ```ts
 * const r = await checkAndHydrate('data/trading_journal.db');
 * if (r.action === 'restored') console.log('restored from data/json_archives/trading_journal.json');
 * ```
 */
export async function checkAndHydrate(
  path: string,
  options: CheckAndHydrateOptions = {},
): Promise<CheckAndHydrateResult> {
  assertBusyTimeout(options.busyTimeoutMs);
  const dataDir = dirname(path);
  const fileName = basename(path);
  const manager = new DBHydrationManager({
    dataDir,
    archiveDir: options.archiveDir ?? join(dataDir, 'json_archives'),
    databases: [fileName],
    ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
  });
  // Start-up of a fresh clone is hydration: the data directory may not exist yet (fix alone requires it).
  if (!existsSync(dataDir)) mkdirSync(dataDir, { recursive: true });
  const result = await manager.fixCorruptedDbs();
  const detail = result.details[fileName];
  return {
    path,
    action: detail?.action ?? 'failed',
    detail,
    errors: result.errors,
    errorDetails: result.errorDetails,
  };
}

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions extends CheckAndHydrateOptions {
  /** Options passed to better-sqlite3's `new Database()`. `timeout` defaults to `busyTimeoutMs`. */
  readonly database?: Database.Options;
  /** Receives what the check did (e.g. to log "restored from archive"). */
  readonly onCheck?: (result: CheckAndHydrateResult) => void;
  /**
   * A directory of numbered SQL migrations (docs/migrations.md): the ones the database lacks are applied before it is
   * returned, after a backup (`<file>.<timestamp>.bak`), so a database hydrated from an older archive comes out at the
   * schema the application expects.
   */
  readonly migrationsDir?: string;
  /** The ledger table of applied migrations. Default `_db_hydration_migrations`. */
  readonly migrationsTable?: string;
  /** Receives the file names of the migrations applied (called only when there were some). */
  readonly onMigrate?: (applied: readonly string[]) => void;
}

/**
 * Checks a database file, hydrates it from its archive when it is missing or damaged, then opens it; with
 * `migrationsDir`, applies the migrations it lacks (after a backup) before returning it.
 *
 * @returns an open better-sqlite3 connection
 * @throws {DatabaseReadError} when the file is damaged and could not be repaired (the error says what to run)
 * @throws {MigrationError} with `migrationsDir`, when the database must not be migrated or a migration failed (it was
 *   rolled back; the connection is closed)
 *
 * @example
 * ```ts
 * const db = await openDatabase('data/trading_journal.db', {
 *   onCheck: (r) => { if (r.action !== 'none') console.log(`trading_journal.db: ${r.action}`); },
 * });
 * const trades = db.prepare('SELECT * FROM trades').all();
 * ```
 */
export async function openDatabase(
  path: string,
  options: OpenDatabaseOptions = {},
): Promise<Database.Database> {
  assertBusyTimeout(options.busyTimeoutMs);
  const result = await checkAndHydrate(path, options);
  options.onCheck?.(result);
  const status = result.detail?.check.status;
  if ((result.action === 'failed' || result.action === 'skipped') && status !== 'locked') {
    const first = result.errorDetails[0];
    throw new DatabaseReadError(
      `cannot open the database: ${first?.message ?? result.detail?.check.reason ?? 'it could not be repaired'}`,
      {
        file: path,
        hint: first?.hint ?? 'run `db-hydration fix --verbose` and see what it reports',
      },
    );
  }
  const db = new Database(path, {
    timeout: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
    ...options.database,
  });
  if (options.migrationsDir === undefined) return db;
  try {
    await migrateOpened(db, path, options);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Applies the pending migrations of `options.migrationsDir` to an opened database, after a backup. */
async function migrateOpened(
  db: Database.Database,
  path: string,
  options: OpenDatabaseOptions,
): Promise<void> {
  const migrations = readMigrationsDir(migrationsDirFor(options.migrationsDir ?? '', basename(path)));
  const where = {
    file: path,
    database: databaseNameOf(basename(path)),
    table: options.migrationsTable ?? DEFAULT_MIGRATIONS_TABLE,
  };
  const plan = planFor(db, migrations, where);
  if (plan.pending.length === 0) return;
  await backupDatabase(path, {
    busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
    backupsKept: DEFAULT_BACKUPS_KEPT,
  });
  const applied = applyPlan(db, planFor(db, migrations, where), where);
  options.onMigrate?.(applied.map((m) => m.name));
}

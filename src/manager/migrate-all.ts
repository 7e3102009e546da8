/**
 * `migrate`: the pending migrations of the migrations directory applied to every live database of the data directory,
 * each database backed up first, each migration in its own transaction. A database that must not be migrated (newer
 * than the directory, an applied migration edited since, ...) is refused and left as it was.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ConfigError, DatabaseLockedError, toErrorDetail, type ErrorDetail } from '../errors.js';
import { databaseNameOf } from '../archive/naming.js';
import { MigrationsReader, type Migration } from '../migrate/migrations-dir.js';
import { applyPlan, planFor } from '../migrate/apply-migrations.js';
import type { PlanContext } from '../migrate/plan-migrations.js';
import { assertDataDir } from './paths.js';
import type { ManagerContext } from './types.js';

/** Options of {@link DBHydrationManager.migrateAll}. */
export interface MigrateAllOptions {
  /** Only say what would be applied; change nothing (no backup either). Default false. */
  readonly dryRun?: boolean;
}

/** One database in a {@link MigrationResult}. */
export interface MigratedDatabase {
  readonly dbPath: string;
  /**
   * `migrated`: pending migrations were applied; `up-to-date`: nothing was pending; `pending`: a dry run found some;
   * `refused`: the database must not be migrated, or another connection kept it locked (see the result's errors);
   * nothing was changed; `failed`: a migration
   * failed and was rolled back (those before it in `applied` stay applied), the backup holds the database as it was.
   */
  readonly status: 'migrated' | 'up-to-date' | 'pending' | 'refused' | 'failed';
  /** Its `user_version` before: the latest migration it had (0: none). */
  readonly fromVersion: number;
  /** Its `user_version` after (for a dry run: what it would be). */
  readonly toVersion: number;
  /** The file names of the migrations applied (for a dry run: that would be applied), in order. */
  readonly applied: readonly string[];
  /** Where the database was backed up before the first migration. */
  readonly backupPath?: string;
  /** The directory its migrations came from: `<migrationsDir>/<database name>/` when there is one, else migrationsDir. */
  readonly migrationsDir: string;
}

/** Result of {@link DBHydrationManager.migrateAll}. */
export interface MigrationResult {
  readonly timestamp: string;
  /** The configured migrations directory. */
  readonly migrationsDir: string;
  readonly dryRun: boolean;
  /** Keyed by database file name. */
  readonly databases: Readonly<Record<string, MigratedDatabase>>;
  readonly errors: readonly string[];
  readonly errorDetails: readonly ErrorDetail[];
}

/** The configured migrations directory, or a {@link ConfigError} saying how to give one. */
export function requireMigrationsDir(ctx: ManagerContext): string {
  if (ctx.migrationsDir === undefined)
    throw new ConfigError('no migrations directory is configured', undefined, 'migrationsDir', {
      hint: 'set "migrationsDir" in db-hydration.config.json, or pass --migrations DIR',
    });
  return ctx.migrationsDir;
}

/** Migrates every database of `ctx` (see {@link DBHydrationManager.migrateAll}). */
export async function migrateAll(ctx: ManagerContext, options: MigrateAllOptions): Promise<MigrationResult> {
  const timestamp = new Date().toISOString();
  const migrationsDir = requireMigrationsDir(ctx);
  assertDataDir(ctx.dataDir);
  const reader = new MigrationsReader(migrationsDir);
  const fileNames = ctx.listDatabases();
  // Every directory is read and checked before any database is touched.
  const migrationsOf = new Map(fileNames.map((f) => [f, reader.forDatabase(f)] as const));
  const databases: Record<string, MigratedDatabase> = {};
  const errorDetails: ErrorDetail[] = [];
  for (const fileName of fileNames) {
    const dbPath = join(ctx.dataDir, fileName);
    const where = { file: dbPath, database: databaseNameOf(fileName), table: ctx.migrationsTable };
    if (!existsSync(dbPath)) {
      errorDetails.push({
        code: 'PATH',
        message: `${dbPath}: the database does not exist, so it was not migrated`,
        file: dbPath,
        database: where.database,
        hint: 'run `db-hydration hydrate --migrate` to build it from its archive and migrate it',
      });
      continue;
    }
    const migrations = migrationsOf.get(fileName) ?? [];
    const outcome = await migrateOne(ctx, migrations, where, options, errorDetails);
    databases[fileName] = { ...outcome, migrationsDir: reader.dirFor(fileName) };
  }
  return {
    timestamp,
    migrationsDir,
    dryRun: options.dryRun === true,
    databases,
    errors: errorDetails.map((e) => e.message),
    errorDetails,
  };
}

async function migrateOne(
  ctx: ManagerContext,
  migrations: readonly Migration[],
  where: PlanContext & { file: string },
  options: MigrateAllOptions,
  errorDetails: ErrorDetail[],
): Promise<Omit<MigratedDatabase, 'migrationsDir'>> {
  const dbPath = where.file;
  let fromVersion = 0;
  const applied: string[] = [];
  let backupPath: string | undefined;
  let db: Database.Database | undefined;
  try {
    db = new Database(dbPath, { fileMustExist: true, timeout: ctx.busyTimeoutMs });
    const plan = planFor(db, migrations, where);
    fromVersion = plan.fromVersion;
    const names = plan.pending.map((m) => m.name);
    if (plan.pending.length === 0 || options.dryRun === true) {
      const status = plan.pending.length === 0 ? 'up-to-date' : 'pending';
      return { dbPath, status, fromVersion, toVersion: plan.latest, applied: names };
    }
    backupPath = await ctx.backup(dbPath);
    // Planned again after the backup, which gave other connections time to write.
    applyPlan(db, planFor(db, migrations, where), where, (m) => applied.push(m.name));
    return { dbPath, status: 'migrated', fromVersion, toVersion: plan.latest, applied, backupPath };
  } catch (error) {
    errorDetails.push(
      toErrorDetail(error, {
        file: dbPath,
        database: where.database,
        code: 'DATABASE_READ',
        hint: 'check it with `db-hydration status`; a damaged database is repaired by `db-hydration fix`',
      }),
    );
    // Locked before the first migration began: nothing was tried, as for a refusal (the backup is still there).
    const failed =
      backupPath !== undefined && !(error instanceof DatabaseLockedError && applied.length === 0);
    return {
      dbPath,
      status: failed ? 'failed' : 'refused',
      fromVersion,
      toVersion: fromVersion + applied.length,
      applied,
      ...(backupPath === undefined ? {} : { backupPath }),
    };
  } finally {
    db?.close();
  }
}

/**
 * The migrations part of `status`: for each live database, the version it is at, the migrations of the migrations
 * directory it lacks, or why it must not be migrated (newer than the directory, an applied migration edited since or
 * another branch's). Read-only: the database is opened read-only and nothing is written.
 */
import Database from 'better-sqlite3';
import { HydrationError, toErrorDetail, type ErrorDetail } from '../errors.js';
import { readMigrationsDir, type Migration } from '../migrate/migrations-dir.js';
import { planFor } from '../migrate/apply-migrations.js';

/** A database against the migrations directory, in a {@link DatabaseStatusEntry}. */
export interface MigrationStatus {
  /** Its `user_version`: the latest migration applied (0: none). */
  readonly version: number;
  /** The latest migration of the directory. */
  readonly latest: number;
  /** The file names of the migrations it lacks, in order (`db-hydration migrate` applies them). */
  readonly pending: readonly string[];
  /** Why it must not be migrated (then `pending` is empty). */
  readonly problem?: string;
  readonly hint?: string;
}

/** The directory's migrations, or undefined (with the error in `errorDetails`) when it cannot be used. */
export function loadMigrationsForStatus(
  dir: string | undefined,
  errorDetails: ErrorDetail[],
): readonly Migration[] | undefined {
  if (dir === undefined) return undefined;
  try {
    return readMigrationsDir(dir);
  } catch (error) {
    errorDetails.push(toErrorDetail(error, { file: dir }));
    return undefined;
  }
}

/** How a usable database stands against the migrations (see {@link MigrationStatus}). */
export function migrationStatusOf(
  dbPath: string,
  migrations: readonly Migration[],
  table: string,
  busyTimeoutMs: number,
): MigrationStatus {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
  try {
    const version = Number(db.pragma('user_version', { simple: true }));
    try {
      const plan = planFor(db, migrations, { file: dbPath, table });
      return { version, latest: plan.latest, pending: plan.pending.map((m) => m.name) };
    } catch (error) {
      if (!(error instanceof HydrationError)) throw error;
      return {
        version,
        latest: migrations.length,
        pending: [],
        problem: error.message,
        ...(error.hint === undefined ? {} : { hint: error.hint }),
      };
    }
  } finally {
    db.close();
  }
}

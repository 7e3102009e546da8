/**
 * The migrations part of `status`: for each live database, the version it is at, the migrations of the migrations
 * directory it lacks, or why it must not be migrated (newer than the directory, an applied migration edited since or
 * another branch's). Read-only: the database is opened read-only and nothing is written.
 */
import Database from 'better-sqlite3';
import { HydrationError, toErrorDetail, type ErrorDetail } from '../errors.js';
import type { Migration, MigrationsReader } from '../migrate/migrations-dir.js';
import { planFor } from '../migrate/apply-migrations.js';
import { planMigrations } from '../migrate/plan-migrations.js';
import type { LedgerEntry } from '../migrate/ledger.js';
import { readArchive } from '../archive/read-archive.js';

/** A database (or, before it is hydrated, its archive) against the migrations directory, in a status entry. */
export interface MigrationStatus {
  /** Its `user_version`: the latest migration applied (0: none). */
  readonly version: number;
  /** The latest migration of the directory. */
  readonly latest: number;
  /** The file names of the migrations it lacks, in order (`db-hydration migrate` applies them). */
  readonly pending: readonly string[];
  /** Whether this is what its archive holds (the database is missing, or its archive was updated), not the database. */
  readonly ofArchive?: boolean;
  /** Why it must not be migrated (then `pending` is empty). */
  readonly problem?: string;
  readonly hint?: string;
}

/**
 * A database's migrations for `status`, or undefined when no migrations directory is configured or its directory
 * cannot be used (then the error is in `errorDetails`, once per directory).
 */
export function migrationsForStatus(
  reader: MigrationsReader | undefined,
  fileName: string,
  errorDetails: ErrorDetail[],
  reported: Set<string>,
): readonly Migration[] | undefined {
  if (reader === undefined) return undefined;
  try {
    return reader.forDatabase(fileName);
  } catch (error) {
    const dir = reader.dirFor(fileName);
    if (!reported.has(dir)) errorDetails.push(toErrorDetail(error, { file: dir }));
    reported.add(dir);
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

/**
 * How an archive stands against the migrations: what a database hydrated from it would have had. Its ledger's rows
 * are read (the other tables' rows are only counted past) and its `user_version` taken from its pragmas.
 */
export function archiveMigrationStatus(
  archivePath: string,
  migrations: readonly Migration[],
  table: string,
): MigrationStatus {
  let userVersion = 0;
  let exists = false;
  let inLedger = false;
  const entries: LedgerEntry[] = [];
  for (const event of readArchive(archivePath, { lazyRows: true })) {
    if (event.kind === 'header') userVersion = event.header.pragmas?.user_version ?? 0;
    else if (event.kind === 'table') {
      inLedger = event.table.name.toLowerCase() === table.toLowerCase();
      exists ||= inLedger;
    } else if (event.kind === 'row' && inLedger) {
      const { id, name, checksum } = event.row;
      entries.push({
        id: typeof id === 'number' ? id : -1,
        name: typeof name === 'string' ? name : '',
        checksum: typeof checksum === 'string' ? checksum : '',
      });
    } else if (event.kind === 'tableEnd') inLedger = false;
  }
  try {
    const plan = planMigrations({ exists, entries, userVersion }, migrations, { file: archivePath, table });
    return { version: userVersion, latest: plan.latest, pending: plan.pending.map((m) => m.name) };
  } catch (error) {
    if (!(error instanceof HydrationError)) throw error;
    return {
      version: userVersion,
      latest: migrations.length,
      pending: [],
      problem: error.message,
      ...(error.hint === undefined ? {} : { hint: error.hint }),
    };
  }
}

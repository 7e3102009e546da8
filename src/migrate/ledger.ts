/**
 * The ledger: what a database records about the migrations applied to it, so the record travels with the database,
 * its archive and the archive's merges. An ordinary table (default `_db_hydration_migrations`) with one row per applied
 * migration, keyed by its number (`id INTEGER PRIMARY KEY`, so the merge driver matches rows by it), and
 * `PRAGMA user_version` set to the latest applied number, the usual SQLite convention that applications read. No
 * timestamps: a migration applied on two machines gives the same row, so their archives are the same bytes.
 */
import type Database from 'better-sqlite3';
import { MigrationError } from '../errors.js';
import { quoteIdent } from '../sqlite/identifiers.js';
import type { Migration } from './migrations-dir.js';

/** The ledger table's name unless `migrationsTable` says otherwise. */
export const DEFAULT_MIGRATIONS_TABLE = '_db_hydration_migrations';

/** One applied migration, as the ledger records it. */
export interface LedgerEntry {
  readonly id: number;
  /** The file name it had when it was applied. */
  readonly name: string;
  /** The SHA-256 of its text when it was applied (see `migrationChecksum`). */
  readonly checksum: string;
}

/** What a database says about its migrations. */
export interface LedgerState {
  /** Whether the ledger table exists. */
  readonly exists: boolean;
  /** Its rows, by id. */
  readonly entries: readonly LedgerEntry[];
  /** `PRAGMA user_version`. */
  readonly userVersion: number;
}

/**
 * Reads the ledger and `user_version`.
 * @throws {MigrationError} when a table of the ledger's name lacks the ledger's columns
 */
export function readLedger(db: Database.Database, table: string, file?: string): LedgerState {
  const userVersion = Number(db.pragma('user_version', { simple: true }));
  const exists =
    db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE").get(table) !==
    undefined;
  if (!exists) return { exists, entries: [], userVersion };
  let rows: unknown[];
  try {
    rows = db.prepare(`SELECT id, name, checksum FROM ${quoteIdent(table)} ORDER BY id`).all();
  } catch (error) {
    throw new MigrationError(
      `the table "${table}" is not a migrations ledger (it needs the columns id, name, checksum): ${(error as Error).message}`,
      {
        file,
        table,
        hint: 'set `migrationsTable` in the config to another name, or rename that table',
        cause: error,
      },
    );
  }
  const entries = rows.map((r) => {
    const { id, name, checksum } = r as Record<string, unknown>;
    if (typeof id !== 'number' || typeof name !== 'string' || typeof checksum !== 'string') {
      throw new MigrationError(`the ledger "${table}" holds a row that is not (id, name, checksum)`, {
        file,
        table,
        hint: 'restore the database or its archive from Git; the ledger must not be edited by hand',
      });
    }
    return { id, name, checksum };
  });
  return { exists, entries, userVersion };
}

/** Creates the ledger table if it is not there (inside the caller's transaction). */
export function ensureLedger(db: Database.Database, table: string): void {
  db.exec(
    `CREATE TABLE IF NOT EXISTS ${quoteIdent(table)} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL)`,
  );
}

/** Records a migration as applied: its ledger row and `user_version` (inside the caller's transaction). */
export function recordMigration(db: Database.Database, table: string, migration: Migration): void {
  db.prepare(`INSERT INTO ${quoteIdent(table)} (id, name, checksum) VALUES (?, ?, ?)`).run(
    migration.id,
    migration.name,
    migration.checksum,
  );
  db.pragma(`user_version = ${String(migration.id)}`);
}

/**
 * Applying migrations to an open database, each in its own transaction, the way SQLite's documented procedure for
 * schema changes needs it (https://sqlite.org/lang_altertable.html#otheralter):
 *
 * 1. `PRAGMA foreign_keys=OFF` before `BEGIN` (it cannot change inside a transaction), so dropping or rebuilding a
 *    parent table never fires `ON DELETE CASCADE` (or SET NULL) on its children;
 * 2. the migration's SQL, then its ledger row and `user_version`, in the same transaction;
 * 3. AUTOINCREMENT counters (`sqlite_sequence`) never go down: a table rebuilt by copying its rows keeps its counter;
 * 4. `PRAGMA foreign_key_check` before `COMMIT`: a violation rolls the migration back;
 * 5. the connection's `foreign_keys` (and `legacy_alter_table`) as they were.
 *
 * A migration that fails is rolled back: the database is as it was before it.
 */
import type Database from 'better-sqlite3';
import { DatabaseLockedError, MigrationError } from '../errors.js';
import { isBusyCode, sqliteCodeOf } from '../sqlite/error-codes.js';
import { sqlTokens } from '../sqlite/sql-tokens.js';
import { transactionStatement } from './migrations-dir.js';
import { ensureLedger, readLedger, recordMigration } from './ledger.js';
import type { Migration } from './migrations-dir.js';

export { transactionStatement } from './migrations-dir.js';
import {
  planMigrations,
  transactionStatementError,
  type MigrationPlan,
  type PlanContext,
} from './plan-migrations.js';

/**
 * Plans the migrations for an open database (see {@link planMigrations}).
 * @throws {MigrationError} on every refusal; nothing is written
 */
export function planFor(
  db: Database.Database,
  migrations: readonly Migration[],
  where: PlanContext,
): MigrationPlan {
  return planMigrations(readLedger(db, where.table, where.file), migrations, where);
}

/**
 * Applies the plan's pending migrations in order, each in its own transaction. Stops at the first that fails: that one
 * is rolled back (the ones before it stay applied and recorded) and its error thrown.
 * @returns the migrations applied
 * @throws {MigrationError} naming the migration file, with SQLite's message
 */
export function applyPlan(
  db: Database.Database,
  plan: MigrationPlan,
  where: PlanContext,
  onApplied?: (migration: Migration) => void,
): Migration[] {
  const done: Migration[] = [];
  for (const migration of plan.pending) {
    applyMigration(db, migration, where);
    done.push(migration);
    onApplied?.(migration);
  }
  return done;
}

/** Plans and applies in one call: the migrations applied (none when the database is up to date). */
export function migrateDatabase(
  db: Database.Database,
  migrations: readonly Migration[],
  where: PlanContext,
): Migration[] {
  return applyPlan(db, planFor(db, migrations, where), where);
}

/**
 * Applies one migration in its own transaction (see the module comment).
 * @throws {MigrationError} when it fails; it was rolled back
 */
export function applyMigration(db: Database.Database, migration: Migration, where: PlanContext): void {
  const fail = (message: string, hint: string, cause?: unknown): MigrationError =>
    new MigrationError(`migration ${migration.name} ${message}`, {
      file: where.file,
      database: where.database,
      hint,
      cause,
    });
  const forbidden = transactionStatement(migration.sql);
  if (forbidden !== undefined) throw transactionStatementError(migration, forbidden, where);
  const foreignKeys = Number(db.pragma('foreign_keys', { simple: true }));
  const legacyAlter = Number(db.pragma('legacy_alter_table', { simple: true }));
  db.pragma('foreign_keys = OFF');
  if (migration.directives.legacyAlterTable) db.pragma('legacy_alter_table = ON');
  try {
    begin(db, migration, where);
    try {
      const counters = readCounters(db);
      try {
        db.exec(migration.sql);
      } catch (error) {
        throw fail(
          `failed: ${(error as Error).message}; it was rolled back`,
          /error in (view|trigger) .*no such table/.test((error as Error).message) &&
            !migration.directives.legacyAlterTable
            ? 'a table rebuild (create new_X, copy, drop X, rename new_X to X) needs `-- db-hydration: legacy_alter_table=on` on the first line while views or triggers name X (docs/migrations.md)'
            : 'fix the migration file (it was not applied, so it may still be edited) and run again',
          error,
        );
      }
      if (!db.inTransaction)
        throw fail(
          'ended the transaction itself (COMMIT or ROLLBACK in the file); what ran after it may stay applied',
          'remove COMMIT/ROLLBACK from the file and restore the database from the backup made before `migrate`',
        );
      keepCounters(db, counters);
      ensureLedger(db, where.table);
      recordMigration(db, where.table, migration);
      const violations = db.pragma('foreign_key_check') as { table: string; parent: string }[];
      const first = violations[0];
      if (first !== undefined)
        throw fail(
          `leaves ${String(violations.length)} row(s) whose foreign key finds no parent (first: table "${first.table}" → "${first.parent}"); it was rolled back`,
          'rows are copied with foreign keys off, so ON DELETE actions do not run: delete or fix the child rows in the migration',
        );
      db.exec('COMMIT');
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      if (error instanceof MigrationError) throw error;
      throw fail(
        `failed: ${(error as Error).message}; it was rolled back`,
        'fix the migration file and run again',
        error,
      );
    }
  } finally {
    db.pragma(`legacy_alter_table = ${String(legacyAlter)}`);
    db.pragma(`foreign_keys = ${String(foreignKeys)}`);
  }
}

/** `BEGIN IMMEDIATE`, or a {@link DatabaseLockedError} when another connection holds the write lock past the timeout. */
function begin(db: Database.Database, migration: Migration, where: PlanContext): void {
  try {
    db.exec('BEGIN IMMEDIATE');
  } catch (error) {
    if (!isBusyCode(sqliteCodeOf(error))) throw error;
    const waited = Number(db.pragma('busy_timeout', { simple: true }));
    throw DatabaseLockedError.busy(waited, `, so migration ${migration.name} was not applied`, {
      file: where.file,
      database: where.database,
      cause: error,
    });
  }
}

/** `sqlite_sequence` as it is: table name → counter (empty when no table uses AUTOINCREMENT). */
function readCounters(db: Database.Database): Map<string, number> {
  const has = db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'").get();
  if (has === undefined) return new Map();
  const rows = db.prepare('SELECT name, seq FROM sqlite_sequence').raw().all() as [unknown, unknown][];
  return new Map(
    rows.filter((r) => typeof r[0] === 'string').map(([n, s]) => [n as string, Number(s)] as const),
  );
}

/** Raises each counter that went down (a rebuilt table) back to what it was, for tables that still exist. */
function keepCounters(db: Database.Database, before: ReadonlyMap<string, number>): void {
  if (before.size === 0) return;
  const after = readCounters(db);
  for (const [name, seq] of before) {
    const now = after.get(name);
    if (now !== undefined && now >= seq) continue;
    const sql = db
      .prepare("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?")
      .pluck()
      .get(name);
    if (typeof sql !== 'string' || !usesAutoincrement(sql)) continue;
    if (now === undefined) db.prepare('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)').run(name, seq);
    else db.prepare('UPDATE sqlite_sequence SET seq = ? WHERE name = ?').run(seq, name);
  }
}

function usesAutoincrement(createSql: string): boolean {
  for (const t of sqlTokens(createSql))
    if (t.kind === 'word' && t.text.toUpperCase() === 'AUTOINCREMENT') return true;
  return false;
}

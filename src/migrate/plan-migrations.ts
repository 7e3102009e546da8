/**
 * The plan: which migrations of the directory a database has had and which are pending, or why nothing may be applied
 * to it. Every refusal is decided here, before anything is written.
 */
import { MigrationError, type ErrorContext } from '../errors.js';
import type { LedgerEntry, LedgerState } from './ledger.js';
import { transactionStatement, type Migration } from './migrations-dir.js';

/** What applying the directory's migrations to a database means. */
export interface MigrationPlan {
  /** The database's `user_version` before: the latest migration applied to it (0: none). */
  readonly fromVersion: number;
  /** The latest migration the directory knows (0 when it is empty). */
  readonly latest: number;
  /** What the ledger records. */
  readonly applied: readonly LedgerEntry[];
  /** The migrations still to apply, in order. */
  readonly pending: readonly Migration[];
}

/** Where the refusals point: the database file and name. */
export type PlanContext = Pick<ErrorContext, 'file' | 'database'> & { readonly table: string };

/**
 * Plans the migrations of `migrations` (read by `readMigrationsDir`, so numbered 1..n) for a database in `state`.
 * @throws {MigrationError} when the database is newer than the directory, an applied migration differs from the
 *   directory's file of that number (edited since, or another branch's), or the ledger and `user_version` disagree
 */
export function planMigrations(
  state: LedgerState,
  migrations: readonly Migration[],
  where: PlanContext,
): MigrationPlan {
  const refuse = (message: string, hint: string): never => {
    throw new MigrationError(message, { file: where.file, database: where.database, hint });
  };
  const applied = state.entries;
  const latest = migrations.length;
  applied.forEach((e, i) => {
    if (e.id !== i + 1)
      refuse(
        `the ledger "${where.table}" is not a run of migrations 1, 2, 3, ...: it records ${applied.map((a) => a.id).join(', ')}`,
        'restore the database or its archive from Git; the ledger must not be edited by hand',
      );
  });
  const recorded = applied.length;
  if (!state.exists && state.userVersion !== 0)
    refuse(
      `user_version is ${state.userVersion} but there is no ledger "${where.table}": the database was versioned by something other than db-hydration's migrations, so which of them it has had cannot be told`,
      'apply migrations to it with the tool that set user_version, or rebuild it from an archive made by db-hydration',
    );
  if (state.exists && state.userVersion !== recorded)
    refuse(
      `user_version is ${state.userVersion} but the ledger "${where.table}" records migrations up to ${recorded}: something other than db-hydration's migrations changed one of them`,
      `set it back with \`PRAGMA user_version = ${recorded}\` if the ledger is right, or restore the database from its backup or archive`,
    );
  if (recorded > latest)
    refuse(
      `the database is at migration ${recorded} (${applied[recorded - 1]?.name ?? '?'}), newer than the migrations directory, which knows ${latest === 0 ? 'none' : `up to ${latest}`}: it comes from a newer checkout of the application`,
      'update this checkout (git pull, or switch to the branch that added the migration), or hydrate an archive made at this version',
    );
  for (const entry of applied) {
    const file = migrations[entry.id - 1];
    if (file === undefined) continue;
    if (file.name !== entry.name)
      refuse(
        `migration ${entry.id} applied to this database was ${entry.name}, but the migrations directory's ${entry.id} is ${file.name}: the database and this checkout applied different migrations (two branches each added one?)`,
        `give one branch's migration the next free number; rebuild the other database from its archive before the migration, or restore its backup, and migrate again`,
      );
    if (file.checksum !== entry.checksum)
      refuse(
        `${file.name} was edited after it was applied to this database (its checksum differs from the ledger's)`,
        `restore the file as it was applied (\`git log -p -- ${file.name}\`) and put the change into a new migration`,
      );
  }
  const pending = migrations.slice(recorded);
  for (const m of pending) {
    const statement = transactionStatement(m.sql);
    if (statement !== undefined) throw transactionStatementError(m, statement, where);
  }
  return { fromVersion: recorded, latest, applied, pending };
}

/** The refusal of a migration file that holds BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE or END. */
export function transactionStatementError(
  migration: Migration,
  statement: string,
  where: PlanContext,
): MigrationError {
  return new MigrationError(`migration ${migration.name} holds a ${statement} statement, so it was not run`, {
    file: where.file,
    database: where.database,
    hint: 'remove BEGIN/COMMIT/ROLLBACK/SAVEPOINT from the file: db-hydration runs each migration in its own transaction',
  });
}

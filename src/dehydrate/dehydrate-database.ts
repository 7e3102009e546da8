/**
 * Dehydration of one database: open it read-only, read everything inside one read transaction (one consistent
 * snapshot, WAL content included), stream it into a temp archive, and put that in place only if it changed.
 */
import { rmSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { recoverHotJournal, sizeProblem } from '../sqlite/file-header.js';
import { DatabaseReadError, HydrationError, PathError } from '../errors.js';
import { encodeValue, type SqliteValue } from '../codec/value-codec.js';
import { quoteIdent } from '../sqlite/identifiers.js';
import { checkProblems } from '../sqlite/check.js';
import { ArchiveWriter, type ArchiveWriteOutcome } from './write-archive.js';
import { exportRows } from './export-rows.js';
import { readDatabasePlan } from './read-schema.js';
import { beginSnapshot } from './parallel-export.js';
import type { ExportHelper } from './export-helper.js';
import type { ExportFaults, ExportUnit } from './parallel-protocol.js';
import type { ProgressListener } from '../progress.js';
import { isBusyCode, isDamageCode, sqliteCodeOf } from '../sqlite/error-codes.js';

/** Input of {@link dehydrateDatabase}. */
export interface DehydrateDatabaseOptions {
  readonly dbPath: string;
  readonly archivePath: string;
  /** The database name written to the archive's `database` field. */
  readonly database: string;
  /** The database's file name, written to `file_name`. */
  readonly fileName: string;
  /** How long to wait for a lock held by another connection, in milliseconds. */
  readonly busyTimeoutMs: number;
  readonly onProgress?: ProgressListener | undefined;
  /** Faults injected into a parallel export's helper thread: for tests only. */
  readonly faults?: ExportFaults | undefined;
}

/** Result of dehydrating one database. */
export interface DehydrateDatabaseOutcome extends ArchiveWriteOutcome {
  /** Table name → rows exported (plain and shadow tables; virtual tables count 0). */
  readonly rowsPerTable: Readonly<Record<string, number>>;
  readonly tablesExported: number;
  readonly totalRows: number;
  /** Rows read by the helper thread of a parallel export (0 when the export ran on one thread). */
  readonly helperRows: number;
}

/**
 * Dehydrates one database file into its archive.
 * @throws {HydrationError} when the database cannot be read; the existing archive is then left as it was
 */
export function dehydrateDatabase(options: DehydrateDatabaseOptions): DehydrateDatabaseOutcome {
  for (let attempt = 0; ; attempt++) {
    try {
      return dehydrateOnce(options);
    } catch (error) {
      // A read-only connection cannot roll back a hot journal (SQLITE_READONLY_ROLLBACK). While another process
      // writes, one can be seen for an instant; after a crashed writer it stays. Retry, then let SQLite recover it
      // with a read-write connection (rolling back an unfinished transaction changes no committed content).
      const cause =
        error instanceof HydrationError ? (error.cause as { code?: unknown } | undefined) : undefined;
      if (cause?.code !== 'SQLITE_READONLY_ROLLBACK' || attempt >= 3) throw error;
      if (attempt < 2) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      else recoverHotJournal(options.dbPath, options.busyTimeoutMs);
    }
  }
}

function dehydrateOnce(options: DehydrateDatabaseOptions): DehydrateDatabaseOutcome {
  const { dbPath, archivePath, database } = options;
  const context = { file: dbPath, database };
  let size: number;
  let inode: number;
  try {
    const stat = statSync(dbPath);
    size = stat.size;
    inode = stat.ino;
    if (!stat.isFile()) {
      throw new PathError(
        `${stat.isDirectory() ? 'it is a directory' : 'it is not a regular file'}, not a database file; it was not dehydrated and its archive was kept as it was`,
        {
          ...context,
          hint: 'db-hydration leaves it where it is: move or rename it yourself, then run `db-hydration hydrate` to create the database from its archive',
        },
      );
    }
  } catch (cause) {
    if (cause instanceof PathError) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new PathError('there is no such database file, so it was not dehydrated', {
        ...context,
        cause,
        hint: 'check the name (--db or "databases" in the config); if it has an archive, `db-hydration hydrate` creates it',
      });
    }
    throw new DatabaseReadError(`cannot read the database file: ${describe(cause)}`, {
      ...context,
      cause,
      hint: 'check the file permissions and the disk',
    });
  }
  if (size === 0) {
    throw new DatabaseReadError('the database file is empty (0 bytes); its archive was kept as it was', {
      ...context,
      hint: 'run `db-hydration fix` to restore it from the archive',
    });
  }

  let db: Database.Database;
  try {
    db = new Database(dbPath, { readonly: true, fileMustExist: true, timeout: options.busyTimeoutMs });
  } catch (cause) {
    throw new DatabaseReadError(`cannot open the database: ${describe(cause)}`, { ...context, cause });
  }
  let writer: ArchiveWriter | undefined;
  let helper: ExportHelper | undefined;
  try {
    const archive = new ArchiveWriter(archivePath);
    writer = archive;
    db.defaultSafeIntegers(true);
    // Rows are read once, in order: a small page cache (2 MiB instead of 16) serves that as well and keeps peak memory
    // down; the OS page cache holds the file anyway.
    db.pragma('cache_size = -2048');
    // The read transaction, and a helper thread on the same snapshot when the database is large.
    helper = beginSnapshot(db, dbPath, size, options.faults);
    // A damaged file must never replace a good archive (seed Property 5). Reading rows proves little: damaged index
    // or interior pages can go unnoticed, so every page is checked, inside the same snapshot. quick_check is O(N),
    // about the cost of one more scan; integrity_check would add an index lookup per row. On one thread it runs
    // first; with a helper thread, the helper runs it while this thread reads rows.
    let problems: readonly string[] | undefined =
      helper === undefined ? checkProblems(db, 'quick_check', 5) : undefined;
    // SQLite reads a page missing from a cut file as zeros, which quick_check can miss; the header and size show it.
    // The read transaction holds the shared lock here, so no writer is half-way through a commit.
    const headerProblem = sizeProblem(db, dbPath);
    if (headerProblem !== undefined) {
      throw new DatabaseReadError(
        `the database is damaged (${headerProblem}); its archive was kept as it was`,
        {
          ...context,
          hint: 'run `db-hydration fix` to restore it from its archive',
        },
      );
    }
    if (problems !== undefined) throwIfDamaged(problems, context);
    const plan = readDatabasePlan(db);
    const counts = plan.tables.map((table) =>
      table.selectSql === undefined
        ? 0
        : Number(
            db
              .prepare(`SELECT count(*) FROM main.${quoteIdent(table.name)}`)
              .pluck()
              .get(),
          ),
    );
    let units: readonly ExportUnit[] = plan.tables.map((_, index) => ({ table: index }));
    if (helper !== undefined) {
      const shared = helper.share(db, plan.tables, counts, plan.pragmas.encoding, writer.tempPath);
      if (shared !== undefined) {
        units = shared;
      } else {
        helper = undefined;
        problems = checkProblems(db, 'quick_check', 5);
        throwIfDamaged(problems, context);
      }
    }

    writer.writeHeader(database, options.fileName, plan.pragmas);
    const rowsPerTable: Record<string, number> = {};
    let totalRows = 0;
    let next = 0;
    let helperRows = 0;
    for (const [index, table] of plan.tables.entries()) {
      const table_ = table.name;
      const rowTotal = counts[index] ?? 0;
      const progress = (rowsDone: number): void =>
        options.onProgress?.({ phase: 'dehydrate', database, table: table_, rowsDone, rowsTotal: rowTotal });
      progress(0);
      writer.beginTable(table, rowTotal);
      let written = 0;
      for (let unit = units[next]; unit?.table === index; unit = units[++next]) {
        const fromHelper =
          helper?.claim(next) === false
            ? helper.takeUnit(next, () => {
                progress(written + (helper?.rowsInFlight() ?? 0));
              })
            : undefined;
        if (fromHelper !== undefined) {
          writer.appendRowsFile(fromHelper.path, fromHelper.rows);
          rmSync(fromHelper.path, { force: true });
          written += fromHelper.rows;
          helperRows += fromHelper.rows;
          progress(written);
          continue;
        }
        const before = written;
        written += exportRows(
          db,
          table,
          plan.pragmas.encoding,
          (line) => {
            archive.writeRow(line);
          },
          (rowsDone) => {
            progress(before + rowsDone);
          },
          unit.range,
          // Beside a helper thread, this thread reads row by row: its heap then stays small (see exportRows).
          helper === undefined,
        );
      }
      if (written !== rowTotal) {
        throw new DatabaseReadError(
          `table "${table.name}" changed while it was read (${rowTotal} rows counted, ${written} read)`,
          context,
        );
      }
      writer.endTable();
      rowsPerTable[table.name] = written;
      totalRows += written;
      progress(written);
    }
    if (helper !== undefined) {
      problems = helper.checkResult() ?? checkProblems(db, 'quick_check', 5);
      helper.stop();
      helper = undefined;
      throwIfDamaged(problems, context);
      // The helper opened the file by its path: it must still be the file this connection has open.
      if (helperRows > 0 && statSync(dbPath).ino !== inode) {
        throw new DatabaseReadError(
          'the database file was replaced while it was read; its archive was kept as it was',
          { ...context, hint: 'run the command again' },
        );
      }
    }
    const sequenceRows = plan.hasSequenceTable
      ? (db.prepare('SELECT name, seq FROM main.sqlite_sequence ORDER BY name, rowid').raw(true).all() as [
          SqliteValue,
          SqliteValue,
        ][])
      : [];
    // The archive keeps the counters as an object keyed by table name: SQLite writes one row per table, named as
    // text. A row edited into another shape cannot be kept as it is, and is not dropped silently either.
    const seen = new Set<string>();
    for (const [name] of sequenceRows) {
      if (typeof name !== 'string' || seen.has(name)) {
        throw new DatabaseReadError(
          `sqlite_sequence holds ${typeof name === 'string' ? `two rows for "${name}"` : `a row whose name is not text (${String(name)})`}, which SQLite never writes; the archive was kept as it was`,
          {
            ...context,
            hint: 'delete the stray row (DELETE FROM sqlite_sequence WHERE ...) and run again',
          },
        );
      }
      seen.add(name);
    }
    const sequences = sequenceRows.map(([name, seq]) => [name as string, encodeValue(seq, false)] as const);
    writer.writeFooter(sequences, plan.objects, plan.schemaOrder);
    db.exec('COMMIT');
    db.close();
    const outcome = writer.commit();
    return { ...outcome, rowsPerTable, tablesExported: plan.tables.length, totalRows, helperRows };
  } catch (error) {
    // Reading may meet damage before quick_check has reported it (with a helper thread, the check runs alongside):
    // report it as the check words it.
    const damage = isCorruption(error) ? damageFound(helper, db) : undefined;
    helper?.stop();
    writer?.abort();
    if (db.open) db.close();
    if (damage !== undefined) throwIfDamaged(damage, context);
    if (error instanceof HydrationError) throw error;
    if (isBusy(error)) {
      throw new HydrationError(
        'DATABASE_LOCKED',
        `the database is locked by another connection (waited ${options.busyTimeoutMs} ms); it was skipped and its archive was kept as it was`,
        {
          ...context,
          cause: error,
          hint: 'close the program holding the lock, or raise busyTimeoutMs, and run again',
        },
      );
    }
    throw new DatabaseReadError(`cannot dehydrate: ${describe(error)}; the archive was kept as it was`, {
      ...context,
      cause: error,
      hint: isCorruption(error) ? 'the database looks damaged: run `db-hydration fix`' : undefined,
    } as const);
  }
}

/** quick_check's problems, from the helper if it ran the check, else checked here; `undefined` if unknown. */
function damageFound(helper: ExportHelper | undefined, db: Database.Database): readonly string[] | undefined {
  try {
    const problems = helper?.checkResult() ?? (db.open ? checkProblems(db, 'quick_check', 5) : undefined);
    return problems !== undefined && problems.length > 0 ? problems : undefined;
  } catch {
    return undefined;
  }
}

function throwIfDamaged(problems: readonly string[], context: { file: string; database: string }): void {
  if (problems.length === 0) return;
  throw new DatabaseReadError(
    `the database is damaged (quick_check: ${problems.join('; ')}); it was not exported and its archive was kept as it was`,
    { ...context, hint: 'run `db-hydration fix` to restore it from its archive' },
  );
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && code.startsWith('SQLITE')
      ? `${error.message} (${code})`
      : error.message;
  }
  return String(error);
}

function isBusy(error: unknown): boolean {
  return isBusyCode(sqliteCodeOf(error));
}

function isCorruption(error: unknown): boolean {
  return isDamageCode(sqliteCodeOf(error));
}

/**
 * Hydration of one database: build it from its archive in a temp file next to the target (file settings first, then
 * tables and rows, then sequences, indexes, views and triggers, so triggers never fire during the load), check it,
 * and rename it into place. The target is never half-written: a failure leaves it as it was.
 */
import { existsSync, readFileSync, rmSync, statSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ArchiveFormatError, ArchiveValueError, DatabaseWriteError, HydrationError } from '../errors.js';
import { decodeValue, TextBytes } from '../codec/value-codec.js';
import { quoteIdent } from '../sqlite/identifiers.js';
import { checkVirtualTables } from '../sqlite/check.js';
import { commitTempFile, fsyncFile, tempPathFor } from '../files/atomic-file.js';
import type { ArchiveHeader, ArchiveSchemaEntry, ArchiveTableMeta } from '../archive/format.js';
import type { ProgressListener } from '../progress.js';
import { readArchive } from '../archive/read-archive.js';
import { applyCreate, orderSchema } from './apply-schema.js';
import { RowImporter, type RejectedRow } from './import-rows.js';
import { STAT_TABLES } from '../sqlite/catalog.js';
import { isBusyCode, isFullCode, sqliteCodeOf } from '../sqlite/error-codes.js';

/** Input of {@link buildDatabase}. */
export interface BuildDatabaseOptions {
  readonly archivePath: string;
  /** Where the finished database goes. */
  readonly dbPath: string;
  /** Called with the archive header before anything is built; may throw to refuse the archive. */
  readonly checkHeader?: (header: ArchiveHeader) => void;
  /** Called after the new file is complete and synced, right before it is renamed over `dbPath`. */
  readonly beforeReplace?: () => void | Promise<void>;
  readonly onProgress?: ProgressListener | undefined;
  /** How long to wait for other connections to the existing database to finish, in milliseconds. Default 5000. */
  readonly busyTimeoutMs?: number | undefined;
}

/** Result of building one database. */
export interface BuildDatabaseOutcome {
  readonly header: ArchiveHeader;
  readonly tablesImported: number;
  readonly totalRows: number;
  readonly rowsPerTable: Readonly<Record<string, number>>;
  readonly rejectedRows: readonly RejectedRow[];
}

const PROGRESS_EVERY = 8192;

/**
 * Builds the database described by an archive and puts it at `dbPath` (replacing what is there).
 * @throws {HydrationError} on a bad archive or a failed write; nothing is left behind and `dbPath` is untouched
 */
export async function buildDatabase(options: BuildDatabaseOptions): Promise<BuildDatabaseOutcome> {
  const { archivePath, dbPath } = options;
  const temp = tempPathFor(dbPath);
  let db: Database.Database | undefined;
  try {
    db = new Database(temp);
    const outcome = load(db, options);
    db.close();
    db = undefined;
    fsyncFile(temp);
    const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    assertReplaceable(dbPath, busyTimeoutMs);
    if (options.beforeReplace !== undefined) {
      await options.beforeReplace();
      // The backup gave other code of this process (and other processes) time to open the file: check again. From
      // here to the rename nothing waits, so no code of this process can open it in between.
      assertReplaceable(dbPath, busyTimeoutMs);
    }
    // A -wal or -shm left from the old file must not be applied to the new one.
    for (const suffix of ['-wal', '-shm', '-journal']) rmSync(dbPath + suffix, { force: true });
    replaceFile(temp, dbPath);
    return outcome;
  } catch (error) {
    // SQLite rolls the transaction back on SQLITE_FULL, so the file no longer shows which limit was hit: a disk that
    // is really full has next to no space left, and a file-size limit (ulimit -f) shows in the process limits.
    const tooLarge = isFullCode(sqliteCodeOf(error)) && diskHasRoom(temp) && !fileSizeLimited();
    if (db?.open === true) db.close();
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(temp + suffix, { force: true });
    if (error instanceof HydrationError) throw error;
    if (tooLarge) {
      throw new ArchiveFormatError(
        `the database built from it grew past ${(maxBytesFor(archivePath) / 2 ** 20).toFixed(0)} MiB (${GROWTH_LIMIT} times the archive's size, at least 1 GiB), which only a schema that makes values larger than the archive holds can do; nothing was written`,
        {
          file: archivePath,
          cause: error,
          hint: "check the archive's schema (generated columns, defaults) in its history",
        },
      );
    }
    throw new DatabaseWriteError(`cannot hydrate from ${archivePath}: ${(error as Error).message}`, {
      file: dbPath,
      cause: error,
    });
  }
}

function load(db: Database.Database, options: BuildDatabaseOptions): BuildDatabaseOutcome {
  const file = options.archivePath;
  let header: ArchiveHeader | undefined;
  let plain = false;
  let current: { meta: ArchiveTableMeta; importer: RowImporter | undefined } | undefined;
  const rowsPerTable: Record<string, number> = {};
  const rejectedRows: RejectedRow[] = [];
  let totalRows = 0;
  let tables = 0;
  const statTables = new Set<string>();
  // Rows of a table named sqlite_sequence (a plain archive from a naive exporter lists it among the tables).
  const sequenceRows: Readonly<Record<string, unknown>>[] = [];
  let inSequenceTable = false;
  let schemaOrder: readonly ArchiveSchemaEntry[] | undefined;

  for (const event of readArchive(file)) {
    switch (event.kind) {
      case 'header': {
        header = event.header;
        plain = event.plain;
        options.checkHeader?.(header);
        const p = header.pragmas;
        // File settings that can only be chosen before the first table exists.
        if (p !== undefined) {
          db.pragma(`encoding = '${p.encoding}'`);
          db.pragma(`page_size = ${p.page_size}`);
          db.pragma(`auto_vacuum = ${p.auto_vacuum}`);
        }
        // A bulk load into a private temp file: an in-memory journal (cheap for a new file, and a failed statement can still roll back), no syncs (the file is synced once at the end), no
        // foreign-key enforcement (violations present in the source are reproduced, not repaired).
        db.pragma('journal_mode = MEMORY');
        db.pragma('synchronous = OFF');
        db.pragma('foreign_keys = OFF');
        db.pragma('ignore_check_constraints = ON');
        // A 4 MiB page cache: rows arrive in key order, so inserts touch few pages, and CREATE INDEX sorts in memory
        // up to this size, then in temp files. Measured at 1M rows: 8 MiB +8 MiB peak RSS, 2 MiB -5 MiB, no clear
        // difference in time; 16 MiB +12 MiB at 1M and +17 MiB at 5M. (Sorter helper threads, PRAGMA threads, were
        // measured too: a few % faster, but each keeps its own sort buffer, +32 MiB peak at 5M rows.)
        db.pragma('cache_size = -4096');
        // An archive's schema can make values larger than the archive holds (a STORED generated column or a DEFAULT
        // of zeroblob(1e9)): the file may not grow past a bound, so a hostile archive cannot fill the disk.
        db.pragma(`max_page_count = ${maxPagesFor(file, Number(db.pragma('page_size', { simple: true })))}`);
        // Shadow tables of FTS and R*Tree are read-only to ordinary SQL in defensive mode.
        db.unsafeMode(true);
        db.exec('BEGIN');
        break;
      }
      case 'table': {
        const meta = event.table;
        inSequenceTable = meta.name === 'sqlite_sequence' && meta.type === 'table';
        if (inSequenceTable) {
          // SQLite creates sqlite_sequence itself with the first AUTOINCREMENT table; its rows are the counters, set
          // once every table is loaded (see the footer).
          current = { meta, importer: undefined };
          break;
        }
        const name = header?.database ?? '';
        if (meta.type === 'shadow') {
          const exists = db
            .prepare("SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND name = ?")
            .pluck()
            .get(meta.name) as string | undefined;
          if (exists === undefined) {
            throw new ArchiveFormatError(`shadow table "${meta.name}" has no virtual table that created it`, {
              file,
              table: meta.name,
            });
          }
          if (exists !== meta.schema) {
            throw new ArchiveFormatError(
              `shadow table "${meta.name}" is created differently by this SQLite (${exists}); the archive was written by another version of its module`,
              { file, table: meta.name },
            );
          }
          db.exec(`DELETE FROM main.${quoteIdent(meta.name)}`);
        } else if (STAT_TABLES.has(meta.name)) {
          createStatTable(db, meta, file);
          statTables.add(meta.name);
        } else {
          applyCreate(db, meta.type === 'virtual' ? 'virtual' : 'table', meta.name, meta.schema, file);
        }
        tables++;
        const importer =
          meta.type === 'virtual' ? undefined : new RowImporter(db, meta.name, meta.rowid_key, file, plain);
        current = { meta, importer };
        options.onProgress?.({
          phase: 'hydrate',
          database: name,
          table: meta.name,
          rowsDone: 0,
          rowsTotal: meta.row_count,
        });
        break;
      }
      case 'row': {
        if (inSequenceTable) {
          sequenceRows.push(event.row);
          break;
        }
        const importer = current?.importer;
        if (importer === undefined) {
          throw new ArchiveFormatError(
            `virtual table "${current?.meta.name ?? ''}" cannot hold rows in an archive (they live in its shadow tables)`,
            {
              file,
            },
          );
        }
        importer.insert(event.row, event.line);
        const done = importer.inserted + importer.rejected.length;
        if (done % PROGRESS_EVERY === 0 && current !== undefined) {
          options.onProgress?.({
            phase: 'hydrate',
            database: header?.database ?? '',
            table: current.meta.name,
            rowsDone: done,
            rowsTotal: current.meta.row_count,
          });
        }
        break;
      }
      case 'tableEnd': {
        current?.importer?.finish();
        const inserted = current?.importer?.inserted ?? 0;
        rowsPerTable[event.table.name] = inserted;
        totalRows += inserted;
        rejectedRows.push(...(current?.importer?.rejected ?? []));
        options.onProgress?.({
          phase: 'hydrate',
          database: header?.database ?? '',
          table: event.table.name,
          rowsDone: event.rows,
          rowsTotal: event.table.row_count,
        });
        current = undefined;
        break;
      }
      case 'footer': {
        const { sequences, objects } = event.footer;
        const names = Object.keys(sequences);
        const hasSequence =
          db.prepare("SELECT 1 FROM main.sqlite_schema WHERE name = 'sqlite_sequence'").get() !== undefined;
        // Loading rows made SQLite write counters of its own. db-hydration's archives list the counters there were
        // (none, if sqlite_sequence was emptied): exactly those stay. A plain archive says nothing of them, so
        // SQLite's are kept.
        if (hasSequence && !plain) db.exec('DELETE FROM main.sqlite_sequence');
        if (names.length > 0) {
          if (!hasSequence)
            throw new ArchiveFormatError('"sequences" given, but no table uses AUTOINCREMENT', { file });
          if (plain) db.exec('DELETE FROM main.sqlite_sequence');
          const insert = db.prepare('INSERT INTO main.sqlite_sequence (name, seq) VALUES (?, ?)');
          for (const name of names) {
            const value = decodeSequence(sequences[name], file, name, {});
            insert.run(name, value instanceof TextBytes ? value.bytes : value);
          }
        }
        if (sequenceRows.length > 0) setSequenceRows(db, sequenceRows, plain, file);
        for (const o of objects) applyCreate(db, o.type, o.name, o.sql, file);
        schemaOrder = event.footer.schema_order;
        break;
      }
    }
  }
  if (header === undefined) throw new ArchiveFormatError('the archive has no header', { file });
  // ANALYZE creates every statistics table at once: drop those the source did not have.
  for (const name of STAT_TABLES) {
    if (!statTables.has(name) && tableSql(db, name) !== undefined)
      db.exec(`DROP TABLE main.${quoteIdent(name)}`);
  }
  // Everything exists: list it in the source's order.
  if (schemaOrder !== undefined) orderSchema(db, schemaOrder);
  const p = header.pragmas;
  if (p !== undefined) {
    db.pragma(`user_version = ${p.user_version}`);
    db.pragma(`application_id = ${p.application_id}`);
  }
  db.exec('COMMIT');
  db.unsafeMode(false);
  if (p?.journal_mode === 'wal') db.pragma('journal_mode = WAL');
  // Tables and indexes were built by SQLite itself from bound values; what an archive can make inconsistent is the
  // index of a virtual table, whose shadow tables it fills directly. Those are checked before the file is used.
  const problems = checkVirtualTables(db);
  if (problems.length > 0) {
    throw new ArchiveFormatError(
      `the virtual tables built from this archive are inconsistent (${problems.join('; ')}); no database was written`,
      { file },
    );
  }
  return { header, tablesImported: tables, totalRows, rowsPerTable, rejectedRows };
}

/**
 * Refuses to replace a database another connection is using. The new file is renamed over the old one; on POSIX a
 * connection that still has the old file open keeps reading the old content (a consistent, stale snapshot; its writes
 * fail with SQLITE_READONLY_DBMOVED), but a WAL-mode connection that closes later deletes `<file>-wal` by name, which
 * would then be the new file's log (https://sqlite.org/howtocorrupt.html, section 2). So: in WAL mode, any other open
 * connection makes the file "in use" (each holds a shared lock on it for its whole life); in rollback mode, only a
 * connection inside a transaction does, and we wait for it up to the busy timeout. On Windows, renaming over an open
 * file fails instead, which is reported the same way.
 * @throws {HydrationError} DATABASE_LOCKED when the file is in use
 */
export function assertReplaceable(dbPath: string, busyTimeoutMs: number): void {
  if (!existsSync(dbPath)) return;
  // Everything goes through SQLite: a descriptor of the file opened and closed here would drop the POSIX locks that
  // other connections of this process hold on it (https://sqlite.org/howtocorrupt.html, section 2.2).
  let db: Database.Database | undefined;
  try {
    // Read-only first: a read-write connection would "roll back" a garbage -journal lying next to a damaged file.
    db = new Database(dbPath, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
    const wal = String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal';
    db.close();
    db = new Database(dbPath, { fileMustExist: true, timeout: busyTimeoutMs });
    if (wal) db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('ROLLBACK');
  } catch (error) {
    const code = sqliteCodeOf(error);
    if (isBusyCode(code)) {
      throw new HydrationError(
        'DATABASE_LOCKED',
        `the database is in use by another connection (waited ${busyTimeoutMs} ms), so it was not replaced`,
        { file: dbPath, hint: 'close the programs using it and run again' },
      );
    }
    // Not a database, or a damaged one: no connection can be using it successfully. Anything that is not an SQLite
    // error (a bad option) is a bug to report, never a reason to replace the file.
    if (code === undefined) throw error;
  } finally {
    if (db?.open === true) db.close();
  }
}

/** How many times its archive's size a database may grow to while it is built (indexes and page slack included). */
const GROWTH_LIMIT = 32;

/** The size a database built from `archivePath` may reach: {@link GROWTH_LIMIT} times the archive, at least 1 GiB. */
function maxBytesFor(archivePath: string): number {
  // Tests lower the 1 GiB floor to see the bound act without writing a gigabyte.
  const floor = Number(process.env.DB_HYDRATION_TEST_GROWTH_FLOOR ?? 2 ** 30);
  return Math.max(floor, GROWTH_LIMIT * statSync(archivePath).size);
}

function maxPagesFor(archivePath: string, pageSize: number): number {
  return Math.ceil(maxBytesFor(archivePath) / pageSize);
}

/** Whether the process has a file-size limit (Linux; elsewhere assumed not). */
function fileSizeLimited(): boolean {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max file size'));
    return line !== undefined && !/\bunlimited\b/.test(line);
  } catch {
    return false;
  }
}

function diskHasRoom(path: string): boolean {
  try {
    const fs = statfsSync(dirname(path));
    return fs.bavail * fs.bsize > 64 * 2 ** 20;
  } catch {
    return false;
  }
}

/** Renames the new file over the old one; on Windows an open target makes that fail, reported as "in use". */
function replaceFile(temp: string, dbPath: string): void {
  try {
    commitTempFile(temp, dbPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EPERM' || code === 'EBUSY' || code === 'EACCES') {
      throw new HydrationError(
        'DATABASE_LOCKED',
        `the database is in use (${code}: the file cannot be replaced while it is open), so it was not replaced`,
        { file: dbPath, cause: error, hint: 'close the programs using it and run again' },
      );
    }
    throw error;
  }
}

/** Sets AUTOINCREMENT counters from rows `{"name": <table>, "seq": <value>}` of a table named sqlite_sequence. */
function setSequenceRows(
  db: Database.Database,
  rows: readonly Readonly<Record<string, unknown>>[],
  lenient: boolean,
  file: string,
): void {
  if (tableSql(db, 'sqlite_sequence') === undefined) {
    throw new ArchiveFormatError('table "sqlite_sequence" has rows, but no table uses AUTOINCREMENT', {
      file,
      table: 'sqlite_sequence',
    });
  }
  const remove = db.prepare('DELETE FROM main.sqlite_sequence WHERE name = ?');
  const insert = db.prepare('INSERT INTO main.sqlite_sequence (name, seq) VALUES (?, ?)');
  for (const row of rows) {
    const name = row.name;
    if (typeof name !== 'string') {
      throw new ArchiveFormatError('a row of table "sqlite_sequence" has no string "name"', {
        file,
        table: 'sqlite_sequence',
      });
    }
    const value = decodeSequence(row.seq ?? null, file, name, { lenient });
    remove.run(name);
    insert.run(name, value instanceof TextBytes ? value.bytes : value);
  }
}

/** Decodes an AUTOINCREMENT counter, naming the archive and the table when the value is bad. */
function decodeSequence(
  json: unknown,
  file: string,
  name: string,
  options: { lenient?: boolean },
): ReturnType<typeof decodeValue> {
  try {
    return decodeValue(json, options);
  } catch (error) {
    throw new ArchiveValueError(`the sequence of table "${name}": ${(error as Error).message}`, {
      file,
      table: 'sqlite_sequence',
      cause: error,
    });
  }
}

/** The SQL of a table in sqlite_schema, or undefined when there is no such table. */
function tableSql(db: Database.Database, name: string): string | null | undefined {
  return db
    .prepare("SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND name = ?")
    .pluck()
    .safeIntegers(false)
    .get(name) as string | null | undefined;
}

/**
 * Creates a statistics table of ANALYZE (sqlite_stat1, sqlite_stat4), which no CREATE TABLE may name: `ANALYZE` on
 * sqlite_schema alone creates them, empty, at no cost. The archive's schema must be what this SQLite creates.
 */
function createStatTable(db: Database.Database, meta: ArchiveTableMeta, file: string): void {
  if (tableSql(db, meta.name) === undefined) db.exec('ANALYZE main.sqlite_schema');
  const sql = tableSql(db, meta.name);
  if (sql !== meta.schema) {
    throw new ArchiveFormatError(
      `statistics table "${meta.name}" is created differently by this SQLite (${String(sql)}), not as ${meta.schema}`,
      { file, table: meta.name },
    );
  }
  db.exec(`DELETE FROM main.${quoteIdent(meta.name)}`);
}

/** Whether a path exists (file, directory or anything else). */
export function pathExists(path: string): boolean {
  return existsSync(path);
}

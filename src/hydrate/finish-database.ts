/**
 * The last steps of building a database from its archive: AUTOINCREMENT counters, the statistics tables of ANALYZE,
 * the schema's order, the header's pragmas, and the check of virtual tables before the file is used.
 */
import type Database from 'better-sqlite3';
import { ArchiveFormatError, ArchiveValueError } from '../errors.js';
import { decodeValue, TextBytes } from '../codec/value-codec.js';
import { quoteIdent } from '../sqlite/identifiers.js';
import { checkVirtualTables } from '../sqlite/check.js';
import type {
  ArchiveFooter,
  ArchiveHeader,
  ArchiveSchemaEntry,
  ArchiveTableMeta,
} from '../archive/format.js';
import { orderSchema } from './apply-schema.js';
import { STAT_TABLES } from '../sqlite/catalog.js';

/**
 * Sets the AUTOINCREMENT counters of the footer's `sequences`. Loading rows made SQLite write counters of its own.
 * db-hydration's archives list the counters there were (none, if sqlite_sequence was emptied): exactly those stay. A
 * plain archive says nothing of them, so SQLite's are kept.
 */
export function applySequences(
  db: Database.Database,
  sequences: ArchiveFooter['sequences'],
  plain: boolean,
  file: string,
): void {
  const names = Object.keys(sequences);
  const hasSequence =
    db.prepare("SELECT 1 FROM main.sqlite_schema WHERE name = 'sqlite_sequence'").get() !== undefined;
  if (hasSequence && !plain) db.exec('DELETE FROM main.sqlite_sequence');
  if (names.length === 0) return;
  if (!hasSequence)
    throw new ArchiveFormatError('"sequences" given, but no table uses AUTOINCREMENT', { file });
  if (plain) db.exec('DELETE FROM main.sqlite_sequence');
  const insert = db.prepare('INSERT INTO main.sqlite_sequence (name, seq) VALUES (?, ?)');
  for (const name of names) {
    const value = decodeSequence(sequences[name], file, name, {});
    insert.run(name, value instanceof TextBytes ? value.bytes : value);
  }
}

/** Sets AUTOINCREMENT counters from rows `{"name": <table>, "seq": <value>}` of a table named sqlite_sequence. */
export function setSequenceRows(
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
export function createStatTable(db: Database.Database, meta: ArchiveTableMeta, file: string): void {
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

/** Whether `name` is a statistics table of ANALYZE, which {@link createStatTable} creates. */
export function isStatTable(name: string): boolean {
  return STAT_TABLES.has(name);
}

/**
 * Finishes the build: drops the statistics tables ANALYZE created that the source did not have, lists the schema in
 * the source's order, sets the header's pragmas, commits, and checks the virtual tables.
 * @param statTables the statistics tables the archive has
 */
export function finishDatabase(
  db: Database.Database,
  header: ArchiveHeader,
  statTables: ReadonlySet<string>,
  schemaOrder: readonly ArchiveSchemaEntry[] | undefined,
  file: string,
): void {
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
}

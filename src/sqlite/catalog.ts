/**
 * Typed reads of SQLite's catalog: sqlite_schema and the table pragmas. Each interface mirrors the columns of the
 * pragma it names (https://sqlite.org/pragma.html).
 */
import type { Database } from 'better-sqlite3';

/** A row of sqlite_schema (https://sqlite.org/schematab.html). */
export interface SchemaRow {
  readonly type: 'table' | 'index' | 'view' | 'trigger';
  readonly name: string;
  readonly tbl_name: string;
  readonly sql: string | null;
}

/** A row of `PRAGMA table_list` (SQLite 3.37+). */
export interface TableListRow {
  readonly schema: string;
  readonly name: string;
  readonly type: 'table' | 'view' | 'shadow' | 'virtual';
  readonly ncol: number;
  readonly wr: number;
  readonly strict: number;
}

/** A row of `PRAGMA table_xinfo`. `hidden`: 0 normal, 1 hidden (virtual tables), 2 virtual generated, 3 stored generated. */
export interface ColumnRow {
  readonly cid: number;
  readonly name: string;
  readonly type: string;
  readonly notnull: number;
  readonly dflt_value: string | null;
  readonly pk: number;
  readonly hidden: number;
}

/** A row of `PRAGMA index_list`. `origin`: 'c' CREATE INDEX, 'u' UNIQUE constraint, 'pk' PRIMARY KEY. */
export interface IndexListRow {
  readonly seq: number;
  readonly name: string;
  readonly unique: number;
  readonly origin: 'c' | 'u' | 'pk';
  readonly partial: number;
}

/** A row of `PRAGMA index_xinfo`. */
export interface IndexColumnRow {
  readonly seqno: number;
  readonly cid: number;
  readonly name: string | null;
  readonly desc: number;
  readonly coll: string;
  readonly key: number;
}

// Pragma results hold only small integers, so the statements below read numbers, not BigInts.
function all<T>(db: Database, sql: string, ...params: unknown[]): T[] {
  return db
    .prepare(sql)
    .safeIntegers(false)
    .all(...params) as T[];
}

/** Every row of sqlite_schema in rowid order. */
export function readSchemaRows(db: Database): SchemaRow[] {
  return all<SchemaRow>(db, 'SELECT type, name, tbl_name, sql FROM main.sqlite_schema ORDER BY rowid');
}

/** `PRAGMA main.table_list`. */
export function readTableList(db: Database): TableListRow[] {
  return all<TableListRow>(db, "SELECT * FROM pragma_table_list WHERE schema = 'main'");
}

/** `PRAGMA main.table_xinfo(table)`. */
export function readColumns(db: Database, table: string): ColumnRow[] {
  return all<ColumnRow>(db, "SELECT * FROM pragma_table_xinfo(?, 'main') ORDER BY cid", table);
}

/** `PRAGMA main.index_list(table)`. */
export function readIndexList(db: Database, table: string): IndexListRow[] {
  return all<IndexListRow>(db, "SELECT * FROM pragma_index_list(?, 'main')", table);
}

/** `PRAGMA main.index_xinfo(index)`. */
export function readIndexColumns(db: Database, index: string): IndexColumnRow[] {
  return all<IndexColumnRow>(db, "SELECT * FROM pragma_index_xinfo(?, 'main') ORDER BY seqno", index);
}

/** The statistics tables of ANALYZE that this SQLite creates; archived like tables, recreated by ANALYZE. */
export const STAT_TABLES: ReadonlySet<string> = new Set(['sqlite_stat1', 'sqlite_stat4']);

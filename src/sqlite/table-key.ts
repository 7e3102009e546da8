/**
 * A table's key as SQLite orders its rows: the rowid (through an `INTEGER PRIMARY KEY` alias or not), or the
 * PRIMARY KEY of a `WITHOUT ROWID` table with each column's collation and direction. The archive lists rows in this
 * order; a merge and a diff walk them by it.
 */
import type { Database } from 'better-sqlite3';
import { readColumns, readIndexColumns, readIndexList, type ColumnRow } from './catalog.js';

/** One column of a `WITHOUT ROWID` table's PRIMARY KEY. */
export interface KeyColumn {
  readonly name: string;
  /** The collation's name as SQLite reports it (`BINARY`, `NOCASE`, `RTRIM`, or an application's own). */
  readonly collation: string;
  readonly descending: boolean;
}

/**
 * How a table's rows are keyed: `rowid` (the rowid, in the column `alias` when it has one), or `primaryKey` (a
 * `WITHOUT ROWID` table's key columns, in key order).
 */
export type TableKey =
  | { readonly kind: 'rowid'; readonly alias: string | undefined }
  | { readonly kind: 'primaryKey'; readonly columns: readonly KeyColumn[] };

/** The key of table `table` of `db`; `withoutRowid` as `PRAGMA table_list` reports it. */
export function readTableKey(db: Database, table: string, withoutRowid: boolean): TableKey {
  if (!withoutRowid) return { kind: 'rowid', alias: rowidAliasColumn(db, table, readColumns(db, table)) };
  const pkIndex = readIndexList(db, table).find((i) => i.origin === 'pk');
  const columns =
    pkIndex === undefined
      ? []
      : readIndexColumns(db, pkIndex.name)
          .filter((c) => c.key === 1)
          .map((c) => ({ name: c.name ?? '', collation: c.coll, descending: c.desc === 1 }));
  return { kind: 'primaryKey', columns };
}

/**
 * The column that is an alias for the rowid, if any: the only PRIMARY KEY column, declared exactly `INTEGER`, with no
 * separate index behind it (`INTEGER PRIMARY KEY DESC` gets such an index and is not an alias;
 * https://sqlite.org/lang_createtable.html#rowids_and_the_integer_primary_key).
 */
export function rowidAliasColumn(
  db: Database,
  table: string,
  columns: readonly ColumnRow[],
): string | undefined {
  const pk = columns.filter((c) => c.pk > 0);
  if (pk.length !== 1 || pk[0]?.type.toUpperCase() !== 'INTEGER') return undefined;
  if (readIndexList(db, table).some((i) => i.origin === 'pk')) return undefined;
  return pk[0].name;
}

/**
 * Schema extraction: what a database holds, in the order the archive lists it.
 *
 * Tables (plain, virtual and shadow) are listed by name; indexes, views and triggers follow, grouped in that order
 * and each group sorted by name. Sorting by name rather than by creation order makes an archive a function of the
 * database's content alone, so hydrating and dehydrating again reproduces the same bytes. The order is also a valid
 * creation order: indexes need only their table, views are not checked against what they reference, and triggers
 * come after the views they may be attached to.
 *
 * The creation order itself, which `.schema` and `.dump` show, is recorded apart: `schema_order` lists the entries of
 * sqlite_schema in rowid order, and hydration puts sqlite_schema in that order once everything is created.
 */
import type { Database } from 'better-sqlite3';
import { affinityOf } from '../sqlite/affinity.js';
import { quoteIdent, unshadowedRowidName } from '../sqlite/identifiers.js';
import {
  readColumns,
  readIndexColumns,
  readIndexList,
  readSchemaRows,
  readTableList,
  STAT_TABLES,
  type SchemaRow,
} from '../sqlite/catalog.js';
import { compareNames } from '../sqlite/names.js';
import { rowidAliasColumn } from '../sqlite/table-key.js';
import type { ArchiveObject, ArchivePragmas, ArchiveSchemaEntry, TableKind } from '../archive/format.js';

/** A column whose values the archive carries. */
export interface ExportColumn {
  readonly name: string;
  /** Whether the column has REAL affinity; see the codec. */
  readonly realAffinity: boolean;
}

/** Everything the exporter needs to know about one table. */
export interface TablePlan {
  readonly name: string;
  readonly sql: string;
  readonly kind: TableKind;
  /** Columns carried in the archive (generated and hidden columns are left out: SQLite computes them). */
  readonly columns: readonly ExportColumn[];
  /** Rowid name selected as the first value of each row, when rowids must be kept explicitly. */
  readonly rowidKey: string | undefined;
  /** SQL that selects the rows in archive order, `undefined` for virtual tables (their rows live in shadows). */
  readonly selectSql: string | undefined;
  /**
   * {@link selectSql} without the helper values after the columns, when it has any: the same rows in the same order,
   * for rows that turn out not to need them (see exportRows). `undefined` otherwise.
   */
  readonly leanSelectSql?: string | undefined;
  /**
   * SQL that fetches one column's raw bytes for a row, given the row's key values; used to keep TEXT that is not
   * valid in the database encoding. `keyIndexes` point into the selected row (which may hold helper values after the
   * columns), one per `?` of `whereSql`.
   */
  readonly lookup: { readonly whereSql: string; readonly keyIndexes: readonly number[] } | undefined;
}

/** The schema of a database as the archive records it. */
export interface DatabasePlan {
  readonly tables: readonly TablePlan[];
  readonly objects: readonly ArchiveObject[];
  /** sqlite_schema's entries in rowid order (see {@link schemaOrderOf}). */
  readonly schemaOrder: readonly ArchiveSchemaEntry[];
  readonly hasSequenceTable: boolean;
  readonly pragmas: ArchivePragmas;
}

const OBJECT_ORDER = { index: 0, view: 1, trigger: 2 } as const;

/** Reads the schema and the file settings of an open database. */
export function readDatabasePlan(db: Database): DatabasePlan {
  const schemaRows = readSchemaRows(db);
  const kinds = new Map(readTableList(db).map((t) => [t.name, t]));
  const tables: TablePlan[] = [];
  const objects: ArchiveObject[] = [];
  let hasSequenceTable = false;

  for (const row of schemaRows) {
    if (row.type === 'table') {
      if (row.name === 'sqlite_sequence') {
        hasSequenceTable = true;
        continue;
      }
      // Internal tables are SQLite's to write, except the statistics of ANALYZE (and `PRAGMA optimize`), which are
      // data: the query planner reads them (https://sqlite.org/fileformat2.html#stat1tab).
      if ((row.name.startsWith('sqlite_') && !STAT_TABLES.has(row.name)) || row.sql === null) continue;
      const listed = kinds.get(row.name);
      const kind: TableKind =
        listed?.type === 'virtual' ? 'virtual' : listed?.type === 'shadow' ? 'shadow' : 'table';
      tables.push(planTable(db, row.name, row.sql, kind, listed?.wr === 1));
    } else if (row.sql !== null) {
      objects.push({ type: row.type, name: row.name, tbl_name: row.tbl_name, sql: row.sql });
    }
  }
  tables.sort((a, b) => compareNames(a.name, b.name));
  objects.sort((a, b) => OBJECT_ORDER[a.type] - OBJECT_ORDER[b.type] || compareNames(a.name, b.name));
  return {
    tables,
    objects,
    schemaOrder: schemaOrderOf(schemaRows),
    hasSequenceTable,
    pragmas: readPragmas(db),
  };
}

/**
 * The entries of sqlite_schema (given in rowid order) that hydration creates and that have SQL text: tables, virtual
 * and shadow tables, sqlite_sequence, the statistics tables, indexes, views and triggers. Left out are the automatic
 * indexes of UNIQUE and PRIMARY KEY constraints (no SQL text: SQLite creates them right after their table, wherever
 * that goes) and the internal tables the archive does not carry.
 */
export function schemaOrderOf(rows: readonly SchemaRow[]): ArchiveSchemaEntry[] {
  return rows
    .filter(
      (r) =>
        r.sql !== null &&
        !(
          r.type === 'table' &&
          r.name.startsWith('sqlite_') &&
          r.name !== 'sqlite_sequence' &&
          !STAT_TABLES.has(r.name)
        ),
    )
    .map((r) => ({ type: r.type, name: r.name }));
}

function planTable(
  db: Database,
  name: string,
  sql: string,
  kind: TableKind,
  withoutRowid: boolean,
): TablePlan {
  if (kind === 'virtual') {
    return { name, sql, kind, columns: [], rowidKey: undefined, selectSql: undefined, lookup: undefined };
  }
  const all = readColumns(db, name);
  const stored = all.filter((c) => c.hidden === 0);
  const columns = stored.map((c) => ({ name: c.name, realAffinity: affinityOf(c.type) === 'REAL' }));
  const from = `FROM main.${quoteIdent(name)}`;
  const columnList = stored.map((c) => quoteIdent(c.name));

  if (withoutRowid) {
    const pkIndex = readIndexList(db, name).find((i) => i.origin === 'pk');
    const keyCols =
      pkIndex === undefined ? [] : readIndexColumns(db, pkIndex.name).filter((c) => c.key === 1);
    const orderBy = keyCols
      .map((k) => `${quoteIdent(k.name ?? '')} COLLATE ${quoteIdent(k.coll)}${k.desc === 1 ? ' DESC' : ''}`)
      .join(', ');
    const keyIndexes = keyCols.map((k) => stored.findIndex((c) => c.name === k.name));
    const keyed = keyIndexes.length > 0 && keyIndexes.every((i) => i >= 0);
    // A TEXT key that is not valid in the database encoding reaches JavaScript altered (U+FFFD), so it could not find
    // its own row again. Each key's raw bytes (NULL unless it is TEXT) are selected after the columns, and the lookup
    // binds them back as TEXT: `k IS CASE WHEN <raw> IS NULL THEN <value> ELSE CAST(<raw> AS TEXT) END`. They cost a
    // Buffer per row, so the export reads them only from the first row that needs them (`leanSelectSql`).
    const rawKeys = keyed ? keyCols.map((k) => rawTextOf(quoteIdent(k.name ?? ''))) : [];
    const ordered = ` ${from}${orderBy === '' ? '' : ` ORDER BY ${orderBy}`}`;
    return {
      ...{ name, sql, kind, columns, rowidKey: undefined },
      selectSql: `SELECT ${[...columnList, ...rawKeys].join(', ')}${ordered}`,
      leanSelectSql: keyed ? `SELECT ${columnList.join(', ')}${ordered}` : undefined,
      lookup: keyed
        ? {
            whereSql: keyCols.map((k) => sameValueAs(quoteIdent(k.name ?? ''))).join(' AND '),
            keyIndexes: keyIndexes.flatMap((column, j) => [stored.length + j, column, stored.length + j]),
          }
        : undefined,
    };
  }

  const alias = rowidAliasColumn(db, name, all);
  if (alias !== undefined) {
    const index = stored.findIndex((c) => c.name === alias);
    return {
      name,
      sql,
      kind,
      columns,
      rowidKey: undefined,
      selectSql: `SELECT ${columnList.join(', ')} ${from} ORDER BY ${quoteIdent(alias)}`,
      lookup: { whereSql: `${quoteIdent(alias)} = ?`, keyIndexes: [index] },
    };
  }
  const rowidName = unshadowedRowidName(all.map((c) => c.name));
  if (rowidName === undefined) {
    // Every rowid name is shadowed by a column: rowids cannot be read, and the order of the rows is their only trace.
    // The table's own b-tree is scanned (NOT INDEXED: never a covering index), which is rowid order, so the archive
    // is still a function of the content; hydration inserts the rows in that order, so its rowids ascend the same
    // way and `SELECT * FROM t` returns the rows as the source does. With no key, a row is found again by all its
    // values (identical rows have identical bytes), TEXT bound back from raw bytes.
    return {
      name,
      sql,
      kind,
      columns,
      rowidKey: undefined,
      selectSql: `SELECT ${[...columnList, ...columnList.map(rawTextOf)].join(', ')} ${from} NOT INDEXED`,
      leanSelectSql: `SELECT ${columnList.join(', ')} ${from} NOT INDEXED`,
      lookup: {
        whereSql: columnList.map(sameValueAs).join(' AND '),
        keyIndexes: columnList.flatMap((_, i) => [stored.length + i, i, stored.length + i]),
      },
    };
  }
  return {
    name,
    sql,
    kind,
    columns,
    rowidKey: rowidName,
    selectSql: `SELECT ${rowidName}, ${columnList.join(', ')} ${from} ORDER BY ${rowidName}`,
    lookup: { whereSql: `${rowidName} = ?`, keyIndexes: [0] },
  };
}

/** A selected helper value: the raw bytes of a TEXT value of `column` (a quoted name), NULL for other values. */
function rawTextOf(column: string): string {
  return `CASE WHEN typeof(${column}) = 'text' THEN CAST(${column} AS BLOB) END`;
}

/**
 * A condition matching `column` against a value bound as three parameters: its raw TEXT bytes (from
 * {@link rawTextOf}), the value as read, and the raw bytes again.
 */
function sameValueAs(column: string): string {
  return `${column} IS CASE WHEN ? IS NULL THEN ? ELSE CAST(? AS TEXT) END`;
}

function readPragmas(db: Database): ArchivePragmas {
  const get = (name: string): unknown => db.pragma(name, { simple: true });
  return {
    application_id: Number(get('application_id')),
    auto_vacuum: Number(get('auto_vacuum')),
    encoding: String(get('encoding')) as ArchivePragmas['encoding'],
    journal_mode: String(get('journal_mode')).toLowerCase(),
    page_size: Number(get('page_size')),
    user_version: Number(get('user_version')),
  };
}

/**
 * Row export: streams a table's rows, in archive order, as one JSON object per line.
 *
 * Rows are read in raw (array) mode with BigInt integers and turned into JSON text from fragments computed once per
 * table (`{"id":`, `,"name":`, …), so nothing is built per row but the line itself.
 */
import type { Database, Statement } from 'better-sqlite3';
import { encodeTextBytes, encodeValue, type SqliteValue } from '../codec/value-codec.js';
import type { ArchivePragmas } from '../archive/format.js';
import type { TablePlan } from './read-schema.js';
import { quoteIdent } from '../sqlite/identifiers.js';

/** Receives each encoded row line (without separator). */
export type RowSink = (line: string) => void;

/** How often (in rows) export calls back with progress. */
export const PROGRESS_EVERY = 8192;

/**
 * In a UTF-16 database SQLite converts TEXT to UTF-8 for us, and joins a lone surrogate with the unit after it into
 * one astral character instead of marking it U+FFFD: there, any surrogate in the string may hide invalid bytes. And
 * U+FFFE and U+FFFF, valid in UTF-16, turn into U+FFFD when SQLite converts UTF-8 back to UTF-16 on insert: such TEXT
 * must be carried as its raw bytes.
 */
const SURROGATE = /[\uD800-\uDFFF\uFFFE\uFFFF]/;
const NONCHARACTER = /[\uFFFE\uFFFF]/;

/** Rows fetched per `all()` call when a table is read in rowid batches. */
const BATCH_ROWS = 512;

/**
 * A slice of a table read in rowid order: the rows whose key is greater than `after` (when given) and at most `upTo`
 * (when given). Only tables that {@link rowidKeyOf} can split may be given one.
 */
export interface RowRange {
  readonly after?: bigint | undefined;
  readonly upTo?: bigint | undefined;
}

/**
 * Writes every row of `table` to `sink`; returns the number of rows.
 * @param onRows called every {@link PROGRESS_EVERY} rows with the rows done so far
 */
export function exportRows(
  db: Database,
  table: TablePlan,
  encoding: ArchivePragmas['encoding'],
  sink: RowSink,
  onRows?: (rowsDone: number) => void,
  range?: RowRange,
  batches = true,
): number {
  if (table.selectSql === undefined) return 0;
  const keyed = table.rowidKey === undefined ? [] : [{ name: table.rowidKey, realAffinity: false }];
  const values = [...keyed, ...table.columns];
  const fragments = values.map((v, i) => `${i === 0 ? '{' : ','}${JSON.stringify(v.name)}:`);
  const real = values.map((v) => v.realAffinity);
  const width = values.length;
  const bytesLookup = new TextLookup(db, table, encoding);
  const utf16 = encoding !== 'UTF-8';
  let count = 0;
  // Rows read without the plan's helper values (`leanSelectSql`, below) cannot look TEXT bytes up: such a row is left
  // to the statement that has them.
  let helpers = true;

  /** Writes one row; `false` (nothing written) when the row needs the helper values that were not read. */
  const encodeRow = (raw: readonly SqliteValue[]): boolean => {
    let line = '';
    for (let i = 0; i < width; i++) {
      const value = raw[i] as SqliteValue;
      let encoded: string;
      if (typeof value === 'string') {
        if (value.includes('\uFFFD') || (utf16 && SURROGATE.test(value))) {
          if (!helpers) return false;
          const bytes = bytesLookup.rawBytesIfNotText(raw, i, value);
          encoded = bytes === undefined ? JSON.stringify(value) : encodeTextBytes(bytes);
        } else {
          encoded = JSON.stringify(value);
        }
      } else {
        encoded = encodeValue(value, real[i] === true);
      }
      line += (fragments[i] as string) + encoded;
    }
    sink(`${line}}`);
    count++;
    if (onRows !== undefined && count % PROGRESS_EVERY === 0) onRows(count);
    return true;
  };

  const rowid = rowidKeyOf(table);
  if (range !== undefined && rowid === undefined) {
    throw new Error(`table "${table.name}" is not read in rowid order, so it cannot be read in ranges`);
  }
  const batched = batches && rowid !== undefined ? rowidBatches(db, rowid, range) : undefined;
  if (batched !== undefined) {
    // Keyset pagination on the rowid: `all()` on a few thousand rows costs less per row than `iterate()`, and every
    // batch is read inside the caller's read transaction, so together they are one consistent snapshot.
    let rows = batched.first.all() as SqliteValue[][];
    while (rows.length > 0) {
      for (const raw of rows) encodeRow(raw);
      if (rows.length < BATCH_ROWS) break;
      const last = (rows[rows.length - 1] as SqliteValue[])[batched.keyIndex];
      rows = (
        range?.upTo === undefined ? batched.next.all(last) : batched.next.all(last, range.upTo)
      ) as SqliteValue[][];
    }
    return count;
  }
  // One statement stepped row by row: a little slower than batches, but nothing outlives its row, which keeps V8's
  // young generation from growing (batches keep a few hundred rows alive across each scavenge).
  const { sql, bounds } = rangeSelect(table.selectSql, rowid, range);
  const read = (select: string): IterableIterator<SqliteValue[]> =>
    db
      .prepare(select)
      .raw(true)
      .safeIntegers(true)
      .iterate(...bounds) as IterableIterator<SqliteValue[]>;
  // The helper values (the raw bytes of TEXT keys, which keep a key with bytes that are not valid UTF-8 findable) cost
  // a Buffer per row and are almost never needed: a UTF-8 table is read without them until a row needs them, and
  // from that row on (LIMIT -1 OFFSET: the same order, in the same read transaction) with them.
  if (table.leanSelectSql !== undefined && range === undefined && !utf16) {
    helpers = false;
    let complete = true;
    for (const raw of read(table.leanSelectSql)) if (!(complete = encodeRow(raw))) break;
    if (complete) return count;
    helpers = true;
  }
  for (const raw of read(count === 0 ? sql : `${sql} LIMIT -1 OFFSET ${String(count)}`)) encodeRow(raw);
  return count;
}

/** The SELECT of a table, or of `range` of it (in rowid order), and its parameters. */
function rangeSelect(
  selectSql: string,
  rowid: RowidKey | undefined,
  range: RowRange | undefined,
): { sql: string; bounds: bigint[] } {
  if (range === undefined || rowid === undefined) return { sql: selectSql, bounds: [] };
  const where: string[] = [];
  const bounds: bigint[] = [];
  if (range.after !== undefined) {
    where.push(`${rowid.key} > ?`);
    bounds.push(range.after);
  }
  if (range.upTo !== undefined) {
    where.push(`${rowid.key} <= ?`);
    bounds.push(range.upTo);
  }
  const sql = `${rowid.select}${where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`} ORDER BY ${rowid.key}`;
  return { sql, bounds };
}

/** How a table is read in rowid order: its SELECT without ORDER BY, the key, and the key's place in each row. */
interface RowidKey {
  readonly select: string;
  readonly key: string;
  readonly keyIndex: number;
}

/**
 * The rowid key a table is read in order of (an INTEGER PRIMARY KEY alias or an explicit rowid key), or `undefined`
 * when the plan reads it in another order. The plan's own SELECT is rebuilt and compared, so any other ordering is
 * left to a single `iterate()`. Such a table can be read in batches, and split into {@link RowRange}s.
 */
export function rowidKeyOf(table: TablePlan): RowidKey | undefined {
  const lookup = table.lookup;
  if (lookup?.keyIndexes.length !== 1) return undefined;
  const keyIndex = lookup.keyIndexes[0] as number;
  const columns = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  const from = `FROM main.${quoteIdent(table.name)}`;
  let key: string;
  let select: string;
  if (table.rowidKey !== undefined) {
    key = table.rowidKey;
    select = `SELECT ${key}, ${columns} ${from}`;
  } else {
    const column = table.columns[keyIndex];
    if (column === undefined) return undefined;
    key = quoteIdent(column.name);
    select = `SELECT ${columns} ${from}`;
  }
  if (lookup.whereSql !== `${key} = ?` || table.selectSql !== `${select} ORDER BY ${key}`) return undefined;
  return { select, key, keyIndex };
}

/** Statements that read a table (or one range of it) in rowid order, {@link BATCH_ROWS} rows at a time. */
function rowidBatches(
  db: Database,
  rowid: RowidKey,
  range: RowRange | undefined,
): { first: Statement; next: Statement; keyIndex: number } {
  const { select, key, keyIndex } = rowid;
  const upper = range?.upTo === undefined ? '' : ` AND ${key} <= ?`;
  const order = `ORDER BY ${key} LIMIT ${BATCH_ROWS}`;
  const prepare = (sql: string): Statement => db.prepare(sql).raw(true).safeIntegers(true);
  const first = prepare(
    range?.after === undefined
      ? `${select}${range?.upTo === undefined ? '' : ` WHERE ${key} <= ?`} ${order}`
      : `${select} WHERE ${key} > ?${upper} ${order}`,
  );
  const bound = [range?.after, range?.upTo].filter((v) => v !== undefined);
  return {
    first: bound.length === 0 ? first : first.bind(...bound),
    next: prepare(`${select} WHERE ${key} > ?${upper} ${order}`),
    keyIndex,
  };
}

/**
 * TEXT that is not valid UTF-8 reaches JavaScript with U+FFFD in place of the bad bytes. For such values (rare) the
 * raw bytes are fetched with `CAST(col AS BLOB)` and kept when they differ from the string's own encoding.
 */
class TextLookup {
  private readonly statements = new Map<number, Statement>();
  private readonly nodeEncoding: BufferEncoding;

  constructor(
    private readonly db: Database,
    private readonly table: TablePlan,
    private readonly encoding: ArchivePragmas['encoding'],
  ) {
    this.nodeEncoding = encoding === 'UTF-8' ? 'utf8' : 'utf16le';
  }

  rawBytesIfNotText(row: readonly SqliteValue[], index: number, value: string): Buffer | undefined {
    const lookup = this.table.lookup;
    const offset = this.table.rowidKey === undefined ? 0 : 1;
    const column = this.table.columns[index - offset];
    if (lookup === undefined || column === undefined) {
      throw new Error(
        `table "${this.table.name}" holds TEXT that may not be valid ${this.encoding}, and the row has no key to read its bytes exactly`,
      );
    }
    let statement = this.statements.get(index);
    if (statement === undefined) {
      statement = this.db
        .prepare(
          `SELECT CAST(${quoteIdent(column.name)} AS BLOB) FROM main.${quoteIdent(this.table.name)} WHERE ${lookup.whereSql}`,
        )
        .raw(true)
        .safeIntegers(true);
      this.statements.set(index, statement);
    }
    const found = statement.get(...lookup.keyIndexes.map((k) => row[k])) as [Uint8Array] | undefined;
    if (found === undefined) {
      throw new Error(
        `table "${this.table.name}": could not re-read the bytes of a TEXT value in column "${column.name}"`,
      );
    }
    const raw = Buffer.from(found[0]);
    let own = Buffer.from(value, this.nodeEncoding);
    if (this.encoding === 'UTF-16be') own = own.swap16();
    // U+FFFE and U+FFFF do not survive SQLite's UTF-8 to UTF-16 conversion: kept as bytes even when they match.
    if (this.encoding !== 'UTF-8' && NONCHARACTER.test(value)) return raw;
    return raw.equals(own) ? undefined : raw;
  }
}

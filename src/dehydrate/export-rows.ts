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
 * Writes every row of `table` to `sink`; returns the number of rows.
 * @param onRows called every {@link PROGRESS_EVERY} rows with the rows done so far
 */
export function exportRows(
  db: Database,
  table: TablePlan,
  encoding: ArchivePragmas['encoding'],
  sink: RowSink,
  onRows?: (rowsDone: number) => void,
): number {
  if (table.selectSql === undefined) return 0;
  const statement = db.prepare(table.selectSql).raw(true).safeIntegers(true);
  const offset = table.rowidKey === undefined ? 0 : 1;
  const keys = [
    ...(table.rowidKey === undefined ? [] : [table.rowidKey]),
    ...table.columns.map((c) => c.name),
  ];
  const fragments = keys.map((k, i) => `${i === 0 ? '{' : ','}${JSON.stringify(k)}:`);
  const real = [...(offset === 1 ? [false] : []), ...table.columns.map((c) => c.realAffinity)];
  const width = keys.length;
  const bytesLookup = new TextLookup(db, table, encoding);
  let count = 0;

  for (const raw of statement.iterate() as IterableIterator<SqliteValue[]>) {
    let line = '';
    for (let i = 0; i < width; i++) {
      const value = raw[i] as SqliteValue;
      let encoded: string;
      if (typeof value === 'string' && value.includes('\uFFFD')) {
        const bytes = bytesLookup.rawBytesIfNotText(raw, i, value);
        encoded = bytes === undefined ? JSON.stringify(value) : encodeTextBytes(bytes);
      } else {
        encoded = encodeValue(value, real[i] === true);
      }
      line += (fragments[i] as string) + encoded;
    }
    sink(`${line}}`);
    count++;
    if (onRows !== undefined && count % PROGRESS_EVERY === 0) onRows(count);
  }
  return count;
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
    return raw.equals(own) ? undefined : raw;
  }
}

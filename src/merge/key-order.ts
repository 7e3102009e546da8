/**
 * Row keys and their order, as SQLite sorts them, computed from archive rows alone: the merge and the diff walk
 * key-ordered rows of two or three archives side by side (a merge-join), so they must compare keys exactly as the
 * archive writer ordered them. SQLite's order: NULL, then numbers (INTEGER and REAL compared by value), then TEXT (by
 * the key column's collation), then BLOB (bytes).
 *
 * Collations known here: BINARY (bytes in the database encoding), NOCASE (ASCII letters folded) and RTRIM (trailing
 * spaces ignored). A key with any other collation has no known order: the table is then merged as a whole.
 */
import { decodeValue, TextBytes, type DecodedValue } from '../codec/value-codec.js';
import type { ArchivePragmas } from '../archive/format.js';
import type { TableFacts } from './table-facts.js';

/** The database encoding, which decides the byte order of BINARY TEXT. */
export type TextEncoding = ArchivePragmas['encoding'];

/** A row as the comparator sees it: its members (parsed on demand) and its JSON text. */
export interface KeyedRow {
  readonly values: Readonly<Record<string, unknown>>;
  readonly text: string;
}

/** Compares two archive rows by key; negative, zero or positive. */
export type RowComparator = (a: KeyedRow, b: KeyedRow) => number;

const KNOWN_COLLATIONS = new Set(['BINARY', 'NOCASE', 'RTRIM']);

/** The comparator for a table's rows, or `undefined` when the table has no key whose order is known here. */
export function rowComparator(facts: TableFacts, encoding: TextEncoding): RowComparator | undefined {
  const key = facts.key;
  if (key === undefined) return undefined;
  if (key.rowid) {
    const column = key.columns[0]?.name ?? '';
    const fast = leadingInteger(column);
    return (a, b) => {
      const x = fast(a.text);
      const y = x === undefined ? undefined : fast(b.text);
      return y === undefined ? compareIntegers(a.values[column], b.values[column]) : (x as number) - y;
    };
  }
  if (key.columns.some((c) => !KNOWN_COLLATIONS.has(c.collation.toUpperCase()))) return undefined;
  const parts = key.columns.map((c) => {
    const compare = valueComparator(c.collation.toUpperCase(), encoding);
    const sign = c.descending ? -1 : 1;
    return { name: c.name, compare, sign };
  });
  const read = leadingMembers(parts.map((p) => p.name));
  // The merge compares each head row several times: the key read from a row's text is kept for the last few rows.
  const seen: (KeyedRow | undefined)[] = new Array<KeyedRow | undefined>(KEY_CACHE).fill(undefined);
  const keys: (KeyValue[] | undefined)[] = new Array<KeyValue[] | undefined>(KEY_CACHE).fill(undefined);
  let next = 0;
  const fast = (row: KeyedRow): KeyValue[] | undefined => {
    for (let k = 0; k < KEY_CACHE; k++) if (seen[k] === row) return keys[k];
    const values = read(row.text);
    seen[next] = row;
    keys[next] = values;
    next = (next + 1) % KEY_CACHE;
    return values;
  };
  return (a, b) => {
    const x = fast(a);
    const y = x === undefined ? undefined : fast(b);
    for (const [i, p] of parts.entries()) {
      const d =
        y === undefined
          ? p.compare(decodeKey(a.values[p.name]), decodeKey(b.values[p.name]))
          : p.compare((x as KeyValue[])[i] as KeyValue, y[i] as KeyValue);
      if (d !== 0) return d * p.sign;
    }
    return 0;
  };
}

/** How many rows' keys a comparator keeps (the merge holds three heads and their successors). */
const KEY_CACHE = 8;

/** A key value read from a row's text without parsing it: TEXT or a small INTEGER. */
type KeyValue = string | number;

/**
 * Reads the key columns' values straight from a row's text when each of them comes, before any member that would
 * need parsing, as a plain JSON string without escapes or a JSON integer of at most 15 digits, and the key columns'
 * names need no escapes: how the archive writer lists most rows keyed by text and integers
 * (`{"symbol":"BTC","ts":1700000000,…`). The row then needs no parsing to be ordered. `undefined` otherwise (the
 * caller parses the row).
 */
export function leadingMembers(names: readonly string[]): (text: string) => KeyValue[] | undefined {
  const members = names.map((n) => `${JSON.stringify(n)}:`);
  if (members.some((m, i) => m !== `"${names[i] ?? ''}":`)) return () => undefined;
  return (text) => {
    const values = new Array<KeyValue | undefined>(names.length).fill(undefined);
    let found = 0;
    let i = 1;
    while (text.charCodeAt(i) === 34) {
      let at = -1;
      for (let j = 0; j < members.length; j++) {
        if (text.startsWith(members[j] as string, i)) {
          at = j;
          break;
        }
      }
      if (at >= 0) {
        i += (members[at] as string).length;
      } else {
        // Another member: its name is stepped over (one with escapes gives up).
        const nameEnd = text.indexOf('"', i + 1);
        if (nameEnd < 0 || text.charCodeAt(nameEnd + 1) !== 58 || text.lastIndexOf('\\', nameEnd) > i)
          return undefined;
        i = nameEnd + 2;
      }
      let value: KeyValue;
      if (text.charCodeAt(i) === 34) {
        const end = text.indexOf('"', i + 1);
        if (end < 0) return undefined;
        value = text.slice(i + 1, end);
        if (value.includes('\\')) return undefined;
        i = end + 1;
      } else {
        const negative = text.charCodeAt(i) === 45;
        if (negative) i++;
        const start = i;
        let n = 0;
        for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i)) n = n * 10 + (c - 48);
        // At most 15 digits (exact in a double), and no leading zero (not JSON).
        if (i === start || i - start > 15 || (i - start > 1 && text.charCodeAt(start) === 48))
          return undefined;
        value = negative ? -n : n;
      }
      const end = text.charCodeAt(i);
      if (end !== 44 && end !== 125) return undefined;
      if (at >= 0) {
        if (values[at] !== undefined) return undefined;
        values[at] = value;
        if (++found === names.length) return values as KeyValue[];
      }
      if (end === 125) return undefined;
      i++;
    }
    return undefined;
  };
}

/** A row's key for messages: `id=3`, or `(a=1, b='x')` for a composite key. */
export function keyText(facts: TableFacts, row: Readonly<Record<string, unknown>>): string {
  const columns = facts.key?.columns ?? [];
  const parts = columns.map((c) => `${c.name}=${JSON.stringify(row[c.name] ?? null)}`);
  return parts.length === 1 ? (parts[0] ?? '') : `(${parts.join(', ')})`;
}

/**
 * Reads a rowid straight from a row's text when the row starts with it as a small JSON integer (`{"id":42,`), which
 * is how the archive writer lists rowid tables whose key comes first: the row then needs no parsing to be ordered.
 * `undefined` when the text does not start so (the caller parses the row).
 */
function leadingInteger(column: string): (text: string) => number | undefined {
  const prefix = `{${JSON.stringify(column)}:`;
  return (text) => {
    if (!text.startsWith(prefix)) return undefined;
    let i = prefix.length;
    const negative = text.charCodeAt(i) === 45;
    if (negative) i++;
    const start = i;
    let n = 0;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
    }
    const digits = i - start;
    const end = text.charCodeAt(i);
    // At most 15 digits: exact in a double. Then the member must end (`,` or `}`).
    if (digits === 0 || digits > 15 || (end !== 44 && end !== 125)) return undefined;
    return negative ? -n : n;
  };
}

function decodeKey(json: unknown): DecodedValue {
  return decodeValue(json === undefined ? null : json);
}

/** Rowids: JSON integers or `{"$int": …}`. */
function compareIntegers(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return compareValues(decodeKey(a), decodeKey(b), compareCodePoints);
}

function valueComparator(
  collation: string,
  encoding: TextEncoding,
): (a: DecodedValue, b: DecodedValue) => number {
  const binary =
    encoding === 'UTF-8' ? compareCodePoints : encoding === 'UTF-16be' ? compareCodeUnits : compareUtf16le;
  // SQLite registers BINARY in all three encodings but NOCASE and RTRIM in UTF-8 only: in a UTF-16 database their
  // texts are converted to UTF-8 and compared in that byte order (code points), whatever the database encoding.
  const text =
    collation === 'NOCASE'
      ? (x: string, y: string) => compareCodePoints(foldAscii(x), foldAscii(y))
      : collation === 'RTRIM'
        ? (x: string, y: string) => compareCodePoints(x.replace(/ +$/, ''), y.replace(/ +$/, ''))
        : binary;
  return (a, b) => compareValues(a, b, text, encoding);
}

/** SQLite's storage-class order, then the value order within the class. */
export function compareValues(
  a: DecodedValue,
  b: DecodedValue,
  compareText: (x: string, y: string) => number,
  encoding: TextEncoding = 'UTF-8',
): number {
  const ca = classOf(a);
  const cb = classOf(b);
  if (ca !== cb) return ca - cb;
  if (ca === 0) return 0;
  if (ca === 1) return compareNumbers(a as number | bigint, b as number | bigint);
  if (ca === 2) {
    // TEXT carried as raw bytes (not valid in the encoding): compared as bytes in the database encoding, as SQLite's
    // BINARY collation does.
    if (a instanceof TextBytes || b instanceof TextBytes) {
      return Buffer.compare(textBytes(a, encoding), textBytes(b, encoding));
    }
    return compareText(a as string, b as string);
  }
  return Buffer.compare(a as Buffer, b as Buffer);
}

function classOf(v: DecodedValue): number {
  if (v === null) return 0;
  if (typeof v === 'number' || typeof v === 'bigint') return 1;
  if (typeof v === 'string' || v instanceof TextBytes) return 2;
  return 3;
}

function textBytes(v: DecodedValue, encoding: TextEncoding): Buffer {
  if (v instanceof TextBytes) return Buffer.from(v.bytes);
  if (encoding === 'UTF-8') return Buffer.from(v as string, 'utf8');
  const le = Buffer.from(v as string, 'utf16le');
  return encoding === 'UTF-16le' ? le : le.swap16();
}

/** INTEGER and REAL by value, exactly (a bigint beyond 2^53 against a double is not rounded). */
export function compareNumbers(a: number | bigint, b: number | bigint): number {
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'number') return -compareNumbers(b, a);
  // a is a bigint, b a double.
  const n = b as number;
  if (!Number.isFinite(n)) return n > 0 ? -1 : 1;
  const floor = BigInt(Math.floor(n));
  if (a < floor) return -1;
  if (a > floor) return 1;
  return n > Math.floor(n) ? -1 : 0;
}

/** Code point order, which is the byte order of UTF-8. */
function compareCodePoints(x: string, y: string): number {
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const a = x.charCodeAt(i);
    const b = y.charCodeAt(i);
    if (a !== b) return shiftSurrogates(a) - shiftSurrogates(b);
  }
  return x.length - y.length;
}

/** Maps UTF-16 code units so that surrogates (code points above U+FFFF) sort after U+E000–U+FFFF. */
function shiftSurrogates(u: number): number {
  if (u >= 0xd800 && u <= 0xdfff) return u + 0x2000;
  if (u >= 0xe000) return u - 0x800;
  return u;
}

/** Code unit order, the byte order of UTF-16BE. */
function compareCodeUnits(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

function compareUtf16le(x: string, y: string): number {
  return Buffer.compare(Buffer.from(x, 'utf16le'), Buffer.from(y, 'utf16le'));
}

/** SQLite's NOCASE: only the 26 ASCII letters are folded. */
function foldAscii(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

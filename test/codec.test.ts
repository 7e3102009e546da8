/**
 * The value codec, per storage class, through real SQLite: insert a value into a column of some declared type, read it
 * back with safe integers, encode it, JSON.parse the text, decode it, insert it into a new database's column of the
 * same declared type, and compare the storage class (typeof) and the exact value.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import {
  decodeValue,
  encodeTextBytes,
  encodeValue,
  TextBytes,
  type SqliteValue,
} from '../src/codec/value-codec.js';
import { affinityOf } from '../src/sqlite/affinity.js';
import { HydrationError } from '../src/errors.js';
import { anyValue, blob, int64, RawText, real, text, type GenValue } from './helpers/generators.js';

const RUNS = 1000;

const PLAIN_TYPES = [
  '',
  'INTEGER',
  'INT',
  'BIGINT',
  'REAL',
  'FLOAT',
  'DOUBLE',
  'NUMERIC',
  'DECIMAL(10,2)',
  'BOOLEAN',
  'TEXT',
  'VARCHAR(10)',
  'CLOB',
  'BLOB',
] as const;

interface Column {
  readonly table: string;
  readonly type: string;
  readonly strict: boolean;
}

const COLUMNS: readonly Column[] = [
  ...PLAIN_TYPES.map((type, i) => ({ table: `p${i}`, type, strict: false })),
  ...['INT', 'INTEGER', 'REAL', 'TEXT', 'BLOB', 'ANY'].map((type, i) => ({
    table: `s${i}`,
    type,
    strict: true,
  })),
];

/** A value as SQLite holds it: storage class and an exact rendering. */
interface Stored {
  readonly type: string;
  readonly value: string;
}

/** Two in-memory databases with one table per declared type: the source and the copy. */
class Pair {
  readonly source = open();
  readonly copy = open();

  close(): void {
    this.source.close();
    this.copy.close();
  }
}

function open(): Database.Database {
  const db = new Database(':memory:');
  db.defaultSafeIntegers(true);
  for (const c of COLUMNS) {
    db.exec(`CREATE TABLE ${c.table} (v${c.type === '' ? '' : ` ${c.type}`})${c.strict ? ' STRICT' : ''}`);
  }
  return db;
}

/** Inserts one value (RawText through `CAST(? AS TEXT)`); false when the column refuses it (STRICT types). */
function insert(db: Database.Database, table: string, value: GenValue | TextBytes): boolean {
  db.exec(`DELETE FROM ${table}`);
  const raw = value instanceof RawText || value instanceof TextBytes;
  try {
    db.prepare(`INSERT INTO ${table} (v) VALUES (${raw ? 'CAST(? AS TEXT)' : '?'})`).run(
      raw ? value.bytes : value,
    );
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_DATATYPE') return false;
    throw error;
  }
}

function read(
  db: Database.Database,
  table: string,
): { stored: Stored; value: SqliteValue; bytes: Buffer | null } {
  const row = db
    .prepare(`SELECT typeof(v) AS t, v, hex(v) AS h, CAST(v AS BLOB) AS b FROM ${table}`)
    .get() as { t: string; v: SqliteValue; h: string; b: Buffer | null };
  const value =
    row.t === 'real'
      ? Object.is(row.v, -0)
        ? '-0'
        : String(row.v)
      : row.t === 'integer'
        ? String(row.v)
        : row.h;
  return { stored: { type: row.t, value }, value: row.v, bytes: row.b };
}

/** Encodes what SQLite holds the way the exporter does (raw bytes for TEXT JavaScript cannot hold exactly). */
function encode(column: Column, value: SqliteValue, bytes: Buffer | null): string {
  if (typeof value === 'string' && bytes !== null && !Buffer.from(value, 'utf8').equals(bytes)) {
    return encodeTextBytes(bytes);
  }
  return encodeValue(value, affinityOf(column.type) === 'REAL');
}

/**
 * Runs the whole trip for one value and one column; returns the archive text, or undefined when the column refused
 * the value in the first place.
 */
function trip(pair: Pair, column: Column, value: GenValue): string | undefined {
  if (!insert(pair.source, column.table, value)) return undefined;
  const before = read(pair.source, column.table);
  const json = encode(column, before.value, before.bytes);
  const decoded = decodeValue(JSON.parse(json) as unknown);
  assert.ok(insert(pair.copy, column.table, decoded instanceof TextBytes ? decoded : decoded));
  assert.deepEqual(
    read(pair.copy, column.table).stored,
    before.stored,
    `${column.type || 'untyped'}: ${json}`,
  );
  return json;
}

const columnArb = fc.constantFrom(...COLUMNS);

function property(values: fc.Arbitrary<GenValue>, check?: (json: string, value: GenValue) => void): void {
  const pair = new Pair();
  try {
    let tried = 0;
    fc.assert(
      fc.property(values, columnArb, (value, column) => {
        const json = trip(pair, column, value);
        if (json === undefined) return;
        tried++;
        check?.(json, value);
      }),
      { numRuns: RUNS },
    );
    assert.ok(tried > RUNS / 4, `only ${tried} of ${RUNS} values fitted their column`);
  } finally {
    pair.close();
  }
}

describe('value codec through SQLite', () => {
  it('keeps INTEGER values over the whole 64-bit range, plain JSON within ±(2^53 − 1)', () => {
    property(int64, (json, value) => {
      const parsed = JSON.parse(json) as unknown;
      const safe = typeof value === 'bigint' && value >= -(2n ** 53n - 1n) && value <= 2n ** 53n - 1n;
      if (safe) assert.ok(typeof parsed === 'number' || typeof parsed === 'string', json);
      else assert.ok(typeof parsed === 'object' || typeof parsed === 'string', json);
    });
  });

  it('keeps REAL values: -0.0, ±Infinity, subnormals, integral values; fractional ones stay plain JSON', () => {
    property(real, (json, value) => {
      const parsed = JSON.parse(json) as unknown;
      if (typeof value === 'number' && Number.isFinite(value) && !Number.isInteger(value)) {
        assert.ok(typeof parsed !== 'object' || parsed === null, `${json} should be plain`);
      }
    });
  });

  it('keeps TEXT values: NUL, astral characters, combining marks, tag look-alikes; always a plain JSON string', () => {
    property(text, (json) => {
      const parsed = JSON.parse(json) as unknown;
      assert.ok(typeof parsed !== 'object' || parsed === null, `${json} should be plain`);
    });
  });

  it('keeps TEXT bytes that are not valid UTF-8', () => {
    property(
      fc.uint8Array({ minLength: 1, maxLength: 12 }).map((b) => new RawText(Buffer.from(b))),
      () => undefined,
    );
  });

  it('keeps BLOBs, empty and look-alike ones included, always tagged', () => {
    property(blob, (json, value) => {
      if (json !== 'null' && Buffer.isBuffer(value)) assert.match(json, /^\{"\$blob":"[A-Za-z0-9+/=]*"\}$/);
    });
  });

  it('keeps NULL and a mix of every storage class in untyped, typed and STRICT ANY columns', () => {
    property(fc.oneof(anyValue, fc.constant(null)));
  });
});

describe('value codec: decoding untrusted JSON', () => {
  it('refuses what is not an exact encoding', () => {
    const bad: unknown[] = [
      9007199254740992,
      { $int: '9223372036854775808' },
      { $int: '-9223372036854775809' },
      { $int: '1.5' },
      { $int: 5 },
      { $real: 'NaN' },
      { $real: '1e' },
      { $blob: 'not base64!' },
      { $blob: 'QR==' }, // trailing bits not zero: 'QQ==' is the one encoding of 0x41
      { $blob: 'QQ' }, // no padding
      { $blob: 'QQ ==' },
      { $blob: '-_8=' }, // the URL-safe alphabet
      { $blob: 5 },
      { $text: 'abc' },
      { $int: '1', extra: 1 },
      { $unknown: '1' },
      [1, 2],
      true,
    ];
    for (const value of bad) {
      assert.throws(
        () => decodeValue(value),
        (error: unknown) => error instanceof HydrationError && error.code === 'ARCHIVE_VALUE',
        JSON.stringify(value),
      );
    }
  });

  it('reads plain archives leniently: booleans as 1/0, objects and arrays as their JSON text', () => {
    assert.equal(decodeValue(true, { lenient: true }), 1n);
    assert.equal(decodeValue(false, { lenient: true }), 0n);
    assert.equal(decodeValue([1, 'a'], { lenient: true }), '[1,"a"]');
    assert.equal(decodeValue({ a: 1 }, { lenient: true }), '{"a":1}');
    assert.equal(
      decodeValue(JSON.parse('{"__proto__": 1}') as unknown, { lenient: true }),
      '{"__proto__":1}',
    );
  });

  it('decodes every tag and plain value to the right JavaScript type', () => {
    assert.equal(decodeValue({ $int: '-9223372036854775808' }), -(2n ** 63n));
    assert.ok(Object.is(decodeValue({ $real: '-0' }), -0));
    assert.equal(decodeValue({ $real: '-Infinity' }), -Infinity);
    assert.equal(decodeValue({ $real: '5e-324' }), 5e-324);
    assert.deepEqual(decodeValue({ $blob: '' }), Buffer.alloc(0));
    assert.deepEqual(decodeValue({ $text: 'Yf9i' }), new TextBytes(Buffer.from([0x61, 0xff, 0x62])));
    assert.equal(decodeValue(7), 7n);
    assert.equal(decodeValue(7.5), 7.5);
    assert.equal(decodeValue('{"$int":"1"}'), '{"$int":"1"}');
    assert.equal(decodeValue(null), null);
  });
});

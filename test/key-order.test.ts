/**
 * The merge's key order read straight from row text (without parsing the row) against SQLite's own order and the
 * order of the parsed rows, on real WITHOUT ROWID tables of random composite keys, collations, directions and
 * encodings.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { readDatabasePlan } from '../src/dehydrate/read-schema.js';
import { exportRows } from '../src/dehydrate/export-rows.js';
import { TableFactsCache } from '../src/merge/table-facts.js';
import { leadingMembers, rowComparator, type KeyedRow } from '../src/merge/key-order.js';
import { decodeValue } from '../src/codec/value-codec.js';
import { blob, int64, real, text } from './helpers/generators.js';

const keyValue = fc.oneof(
  { arbitrary: int64, weight: 2 },
  { arbitrary: fc.bigInt({ min: -30n, max: 30n }), weight: 3 },
  { arbitrary: text, weight: 2 },
  { arbitrary: fc.constantFrom('BTC', 'ETH', 'btc', 'a', 'A', 'a ', 'a  ', 'b"c', 'd\\e', 'é'), weight: 3 },
  { arbitrary: real, weight: 1 },
  { arbitrary: blob, weight: 1 },
);

const tableShape = fc.record({
  types: fc.tuple(fc.constantFrom('', 'TEXT', 'INTEGER', 'REAL'), fc.constantFrom('', 'TEXT', 'INTEGER')),
  collations: fc.tuple(
    fc.constantFrom('BINARY', 'NOCASE', 'RTRIM'),
    fc.constantFrom('BINARY', 'NOCASE', 'RTRIM'),
  ),
  descending: fc.tuple(fc.boolean(), fc.boolean()),
  // Where the value column goes: the key first (as most tables list it), in the middle, or first.
  valueAt: fc.constantFrom(0, 1, 2),
  names: fc.constantFrom(['symbol', 'ts'], ['k"1', 'k2'], ['b', 'a']),
  encoding: fc.constantFrom('UTF-8', 'UTF-16le', 'UTF-16be'),
});

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);
const q = (name: string): string => `"${name.replaceAll('"', '""')}"`;

describe('merge key order read from row text', () => {
  it('orders rows as SQLite does and as the parsed rows do', () => {
    let read = 0;
    // Feature: database-hydration, Property 17: key order read from row text equals the parsed rows' key order
    fc.assert(
      fc.property(
        tableShape,
        fc.array(fc.tuple(keyValue, keyValue, fc.integer()), { minLength: 1, maxLength: 30 }),
        (shape, rows) => {
          const db = new Database(':memory:');
          try {
            db.pragma(`encoding = '${shape.encoding}'`);
            const [k1, k2] = shape.names as [string, string];
            const keys = [0, 1].map(
              (i) =>
                `${q([k1, k2][i] as string)} ${shape.types[i] as string} COLLATE ${shape.collations[i] as string}`,
            );
            const columns = [...keys];
            columns.splice(shape.valueAt, 0, 'v');
            const pk = [k1, k2].map((k, i) => `${q(k)}${shape.descending[i] === true ? ' DESC' : ''}`);
            const schema = `CREATE TABLE t (${columns.join(', ')}, PRIMARY KEY (${pk.join(', ')})) WITHOUT ROWID`;
            db.exec(schema);
            const insert = db.prepare(`INSERT OR IGNORE INTO t (${q(k1)}, ${q(k2)}, v) VALUES (?, ?, ?)`);
            for (const [a, b, v] of rows) insert.run(a, b, BigInt(v));
            const plan = readDatabasePlan(db);
            const table = plan.tables.find((t) => t.name === 't');
            assert.ok(table !== undefined);
            const lines: string[] = [];
            exportRows(db, table, plan.pragmas.encoding, (line) => lines.push(line));
            const facts = new TableFactsCache('test').of({
              name: 't',
              schema,
              type: 'table',
              row_count: lines.length,
            });
            const compare = rowComparator(facts, plan.pragmas.encoding);
            assert.ok(compare !== undefined);
            const parsed: KeyedRow[] = lines.map((l) => ({
              values: JSON.parse(l) as Record<string, unknown>,
              text: l,
            }));
            // Without text to read from, the comparator parses: the reference.
            const reference = parsed.map((r) => ({ values: r.values, text: '' }));
            const fast = leadingMembers([k1, k2]);
            for (const [i, row] of parsed.entries()) {
              const values = fast(row.text);
              if (values !== undefined) {
                read++;
                const decoded = [k1, k2].map((k) => decodeValue(row.values[k]));
                assert.deepEqual(
                  values.map((x) => (typeof x === 'number' ? BigInt(x) : x)),
                  decoded,
                  row.text,
                );
              }
              const next = parsed[i + 1];
              if (next === undefined) continue;
              assert.ok(compare(row, next) < 0, `${row.text} before ${next.text}`);
              assert.ok(compare(reference[i] as KeyedRow, reference[i + 1] as KeyedRow) < 0);
              const j = (i * 7) % parsed.length;
              assert.equal(
                sign(compare(row, parsed[j] as KeyedRow)),
                sign(compare(reference[i] as KeyedRow, reference[j] as KeyedRow)),
              );
            }
          } finally {
            db.close();
          }
        },
      ),
      { numRuns: 300 },
    );
    assert.ok(read > 300, `the keys of ${String(read)} rows were read from their text`);
  });
});

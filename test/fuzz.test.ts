/**
 * Fuzzing hydration with mutated archives: byte flips, truncations, splices of two valid archives, line edits and
 * hostile values put in place of valid ones. Every case must end either in a complete, valid database or in errors that
 * name the archive with no database written; nothing may throw, and nothing may be written outside the temp root.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DBHydrationManager, SYNC_STATE_DIR, checkDatabase } from '../src/index.js';
import { makeShop, scratchDir } from './helpers/damage.js';
// The seeded PRNG of the bench fixtures (mulberry32), so a failing case can be replayed from the printed seed.
import { prng } from '../bench/fixtures.js';

const CASES = 10_000;

/** Valid archives of different shapes, all for a database named `shop`. */
async function baseArchives(dir: string): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const shapes: ((db: Database.Database) => void)[] = [
    (db) => {
      db.exec(`
        CREATE TABLE seq (id INTEGER PRIMARY KEY AUTOINCREMENT, v);
        CREATE TABLE plain (a, b);
        CREATE VIRTUAL TABLE docs USING fts5(body);
        CREATE VIRTUAL TABLE box USING rtree(id, x0, x1);
        INSERT INTO seq (v) VALUES (1), (2.5), ('three'), (x'0004'), (NULL), (9223372036854775807), (-0.0);
        INSERT INTO plain (rowid, a, b) VALUES (3, 'x', 1), (10, 'y', 2);
        INSERT INTO docs VALUES ('hello world'), ('fuzzing archives');
        INSERT INTO box VALUES (1, 0, 5), (2, 1, 2);
        CREATE TRIGGER t AFTER INSERT ON plain BEGIN DELETE FROM seq; END;
        CREATE VIEW vv AS SELECT * FROM plain;
      `);
      db.pragma('user_version = 42');
    },
    (db) => {
      db.exec(`
        CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
        CREATE TABLE s (a INTEGER, b TEXT, c REAL, d BLOB, e ANY) STRICT;
        CREATE TABLE g (a INTEGER, b INTEGER GENERATED ALWAYS AS (a * 2) VIRTUAL, c TEXT UNIQUE);
        CREATE INDEX g_a ON g(a) WHERE a > 1;
        INSERT INTO kv VALUES ('a', 1), ('b', 'two'), ('c', x'ff');
        INSERT INTO s VALUES (1, 'x', 1.5, x'00', 'any'), (2, 'y', -1e300, NULL, 3);
        INSERT INTO g (a, c) VALUES (1, 'p'), (2, 'q'), (3, 'r');
      `);
    },
  ];
  for (const [i, shape] of shapes.entries()) {
    const data = join(dir, `base-${i}`);
    mkdirSync(data, { recursive: true });
    const db = new Database(join(data, 'shop.db'));
    shape(db);
    db.close();
    const r = await new DBHydrationManager({ dataDir: data }).dehydrateAll();
    assert.deepEqual(r.errors, []);
    out.push(readFileSync(join(data, 'json_archives', 'shop.json')));
  }
  const shop = join(dir, 'base-shop');
  mkdirSync(shop);
  makeShop(join(shop, 'shop.db'), 8);
  await new DBHydrationManager({ dataDir: shop }).dehydrateAll();
  out.push(readFileSync(join(shop, 'json_archives', 'shop.json')));
  // A plain archive in the seed's shape.
  out.push(
    Buffer.from(
      JSON.stringify({
        database: 'shop',
        exported_at: '2025-01-01T00:00:00',
        tables: {
          users: {
            schema: 'CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)',
            row_count: 2,
            rows: [
              { id: 1, name: 'ann' },
              { id: 2, name: 'bob' },
            ],
          },
        },
      }),
    ),
  );
  return out;
}

const HOSTILE = [
  '"../shop.db"',
  '"/tmp/shop.db"',
  '"..\\\\shop.db"',
  '"shop.db"',
  '"users.db"',
  '1e400',
  '12345678901234567890',
  '-0',
  'null',
  'true',
  '{"$int":"99999999999999999999"}',
  '{"$blob":"!!"}',
  '{"$real":"nope"}',
  '"CREATE TABLE x (a); ATTACH \'/tmp/evil.db\' AS e"',
  '"PRAGMA writable_schema = ON"',
  '"DROP TABLE items"',
  `${'['.repeat(5000)}${']'.repeat(5000)}`,
  `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`,
  '""',
  '-1',
  '"\\u0000"',
  '{}',
  '[]',
];

function mutate(bases: readonly Buffer[], rnd: () => number): { kind: string; bytes: Buffer } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const base = pick(bases);
  const at = (b: Buffer): number => Math.floor(rnd() * (b.length + 1));
  switch (Math.floor(rnd() * 6)) {
    case 0: {
      const out = Buffer.from(base);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let i = 0; i < flips; i++) {
        const p = Math.floor(rnd() * out.length);
        out[p] = rnd() < 0.5 ? (out[p] ?? 0) ^ (1 << Math.floor(rnd() * 8)) : Math.floor(rnd() * 256);
      }
      return { kind: 'byte flip', bytes: out };
    }
    case 1:
      return { kind: 'truncation', bytes: base.subarray(0, at(base)) };
    case 2: {
      const other = pick(bases);
      return {
        kind: 'splice',
        bytes: Buffer.concat([base.subarray(0, at(base)), other.subarray(at(other))]),
      };
    }
    case 3: {
      const lines = base.toString('utf8').split('\n');
      const i = Math.floor(rnd() * lines.length);
      const j = Math.floor(rnd() * lines.length);
      const op = Math.floor(rnd() * 3);
      if (op === 0) lines.splice(i, 1);
      else if (op === 1) lines.splice(i, 0, lines[j] ?? '');
      else [lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? ''];
      return { kind: 'line edit', bytes: Buffer.from(lines.join('\n')) };
    }
    case 4: {
      // Replace one JSON string or number with a hostile value.
      const text = base.toString('utf8');
      const tokens = [...text.matchAll(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/g)];
      const t = pick(tokens);
      const start = t.index;
      return {
        kind: 'hostile value',
        bytes: Buffer.from(text.slice(0, start) + pick(HOSTILE) + text.slice(start + t[0].length)),
      };
    }
    default: {
      const out = Buffer.from(base);
      const p = Math.floor(rnd() * out.length);
      const len = Math.floor(rnd() * 64);
      return {
        kind: 'chunk overwrite',
        bytes: Buffer.concat([out.subarray(0, p), Buffer.from(pick(HOSTILE)), out.subarray(p + len)]),
      };
    }
  }
}

describe('fuzzing hydration', () => {
  it(`survives ${CASES} mutated archives`, { timeout: 300_000 }, async () => {
    const { dir: outer, cleanup } = scratchDir('dh-fuzz-');
    try {
      const root = join(outer, 'root');
      const data = join(root, 'data');
      const archives = join(root, 'archives');
      mkdirSync(data, { recursive: true });
      mkdirSync(archives);
      const bases = await baseArchives(join(outer, 'bases'));
      rmSync(join(outer, 'bases'), { recursive: true });
      const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31); // FUZZ_SEED=<n> replays a run
      const rnd = prng(seed);
      const archivePath = join(archives, 'shop.json');
      const manager = new DBHydrationManager({ dataDir: data, archiveDir: archives });
      const thrown: string[] = [];
      const violations: string[] = [];
      let accepted = 0;
      let rejected = 0;
      for (let i = 0; i < CASES; i++) {
        const { kind, bytes } = mutate(bases, rnd);
        writeFileSync(archivePath, bytes);
        try {
          const r = await manager.hydrateAll();
          const fatal = r.errorDetails.filter((e) => e.code !== 'ROW_REJECTED');
          let written = readdirSync(data);
          if (fatal.length > 0) {
            rejected++;
            if (written.length > 0)
              violations.push(`case ${i} (${kind}): rejected, yet wrote ${written.join(', ')}`);
            for (const e of fatal) {
              if (!e.message.includes(archivePath))
                violations.push(`case ${i} (${kind}): error without the archive: ${e.message}`);
            }
          } else {
            accepted++;
            // Besides the database, an accepted hydrate records its sync state (never committed, see docs/sync.md).
            // A flipped bit can change the archive's `file_name` case (`shop.Db`): database extensions are matched
            // without case, so that is still the database's own name.
            written = written.filter((f) => f !== SYNC_STATE_DIR);
            if (written.length !== 1 || !/^shop\.(db|sqlite|sqlite3)$/i.test(written[0] ?? '')) {
              violations.push(`case ${i} (${kind}): accepted, wrote ${written.join(', ')}`);
            } else if (!checkDatabase(join(data, written[0] ?? '')).usable) {
              violations.push(`case ${i} (${kind}): accepted, but the database is not valid`);
            }
          }
        } catch (error) {
          thrown.push(`case ${i} (${kind}): ${(error as Error).stack ?? String(error)}`);
        }
        for (const name of readdirSync(data)) rmSync(join(data, name), { recursive: true, force: true });
      }
      // Nothing outside the data and archive dirs, and nothing outside the temp root.
      assert.deepEqual(readdirSync(outer), ['root']);
      assert.deepEqual(readdirSync(root).sort(), ['archives', 'data']);
      assert.deepEqual(readdirSync(archives), ['shop.json']);
      assert.equal(existsSync(join(outer, 'shop.db')), false);
      console.log(
        `fuzz: seed ${seed}, ${CASES} cases, ${accepted} hydrated, ${rejected} rejected, ${thrown.length} thrown`,
      );
      assert.deepEqual(thrown, []);
      assert.deepEqual(violations.slice(0, 20), []);
      assert.ok(rejected > CASES / 2, 'most mutations are rejected');
      assert.ok(accepted > 50, 'some mutations still make valid archives');
    } finally {
      cleanup();
    }
  });
});

/**
 * Parallel export (src/dehydrate/parallel-export.ts): a helper thread reads part of the database with its own
 * connection. Its archive must be the very bytes a one-thread export writes, it must take part, a failing helper must
 * cost nothing but time, and its quick_check must still keep a damaged database from replacing its archive.
 *
 * `DB_HYDRATION_PARALLEL=force:<rows per unit>` makes every export use the helper, with tiny units, so that small
 * test databases are split into many units shared by the two threads.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { dehydrateDatabase, type DehydrateDatabaseOutcome } from '../src/dehydrate/dehydrate-database.js';
import type { ExportFaults } from '../src/dehydrate/parallel-protocol.js';
import { buildDatabase, databaseSpec } from './helpers/generators.js';
import { leafPagesOf, makeShop, overwritePages } from './helpers/damage.js';
import { makeDatabase, tempDir } from './helpers/fixtures.js';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 100);

/** Runs `fn` with environment variables set, restoring them afterwards. */
function withEnv<T>(vars: Record<string, string>, fn: () => T): T {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) Reflect.deleteProperty(process.env, k);
      else process.env[k] = v;
    }
  }
}

/** Dehydrates `dbPath` into `archivePath` with the given DB_HYDRATION_PARALLEL mode. */
function exportWith(
  mode: string,
  dbPath: string,
  archivePath: string,
  faults?: ExportFaults,
): DehydrateDatabaseOutcome {
  return withEnv({ DB_HYDRATION_PARALLEL: mode }, () =>
    dehydrateDatabase({
      dbPath,
      archivePath,
      database: 'db',
      fileName: 'db.db',
      busyTimeoutMs: 2000,
      faults,
    }),
  );
}

/**
 * {@link exportWith} with helper faults, until the helper finished a unit before its fault (at most 10 tries): whether
 * it gets to one before the main thread has read everything depends on the scheduler. Every try must give the same
 * archive; the last one is returned.
 */
function exportUntilHelperWorked(
  dbPath: string,
  archivePath: string,
  expected: string,
  faults: ExportFaults,
): DehydrateDatabaseOutcome {
  for (let attempt = 1; ; attempt++) {
    const outcome = exportWith('force:50', dbPath, archivePath, faults);
    assert.equal(content(archivePath), expected);
    if (outcome.helperRows > 0 || attempt === 10) return outcome;
  }
}

/** An archive without its `exported_at` line (line 3), which differs between two exports. */
function content(archivePath: string): string {
  return readFileSync(archivePath, 'utf8').split('\n').toSpliced(2, 1).join('\n');
}

/** Files whose names start with a dot: temp and part files. */
function hiddenFiles(dir: string): string[] {
  return readdirSync(dir).filter((name) => name.startsWith('.'));
}

/** A database with rowid tables (with gaps and a negative rowid), WITHOUT ROWID, BLOBs, big integers, invalid
 * UTF-8, AUTOINCREMENT, FTS5 and an index, about 3,000 rows. */
function makeMixed(path: string, wal: boolean): void {
  makeDatabase(path, (db) => {
    if (wal) db.pragma('journal_mode = WAL');
    db.exec(`
      CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT, price REAL, qty, note BLOB);
      CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER, payload BLOB);
      CREATE TABLE candles (symbol TEXT, ts INTEGER, close REAL, PRIMARY KEY (symbol, ts)) WITHOUT ROWID;
      CREATE TABLE plain (a, b);
      CREATE VIRTUAL TABLE docs USING fts5(body);
      CREATE INDEX trades_symbol ON trades(symbol);
    `);
    const trade = db.prepare('INSERT INTO trades VALUES (?, ?, ?, ?, ?)');
    const event = db.prepare('INSERT INTO events (seq, payload) VALUES (?, ?)');
    const candle = db.prepare('INSERT INTO candles VALUES (?, ?, ?)');
    const plain = db.prepare('INSERT INTO plain (rowid, a, b) VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= 1000; i++) {
        trade.run(
          BigInt(i * 3),
          `S${i % 7}`,
          i / 7,
          i % 5 === 0 ? 1.0 : BigInt(i),
          Buffer.from([i & 255, 0]),
        );
        event.run(2n ** 62n + BigInt(i), Buffer.alloc(i % 40, i & 255));
        candle.run(`S${i % 9}`, BigInt(1_700_000_000 + i), i * 1.25);
      }
      for (let i = -5; i <= 300; i += 2) plain.run(BigInt(i), i % 3 === 0 ? null : `v${i}`, i / 2);
      db.prepare('INSERT INTO plain (rowid, a, b) VALUES (?, CAST(? AS TEXT), ?)').run(
        1000n,
        Buffer.from([0x61, 0xff, 0xfe, 0x62]),
        'invalid utf-8',
      );
      db.exec("INSERT INTO docs (body) VALUES ('alpha beta'), ('gamma'), ('delta epsilon')");
    })();
  });
}

describe('parallel export', () => {
  // Feature: database-hydration, Property 11: Parallel Export Equivalence
  it('Property 11: Parallel Export Equivalence: with a helper thread the archive is byte for byte the one-thread archive', async () => {
    const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'dh-par-'));
    let helperRows = 0;
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(databaseSpec({ maxRows: 30 }), async (spec) => {
          const base = join(dir, String(n++));
          mkdirSync(base);
          const dbPath = join(base, 'db.db');
          buildDatabase(dbPath, spec);
          exportWith('off', dbPath, join(base, 'one.json'));
          const outcome = exportWith('force:3', dbPath, join(base, 'two.json'));
          helperRows += outcome.helperRows;
          assert.equal(content(join(base, 'two.json')), content(join(base, 'one.json')));
          assert.deepEqual(hiddenFiles(base), []);
          rmSync(base, { recursive: true, force: true });
          await Promise.resolve();
        }),
        { numRuns: RUNS },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assert.ok(helperRows > 0, 'the helper thread read rows in the property runs');
  });

  for (const wal of [false, true]) {
    it(`splits tables into ranges read by both threads, same archive (${wal ? 'WAL' : 'rollback journal'})`, () => {
      const { dir, cleanup } = tempDir();
      try {
        const dbPath = join(dir, 'db.db');
        makeMixed(dbPath, wal);
        const one = exportWith('off', dbPath, join(dir, 'one.json'));
        const two = exportWith('force:50', dbPath, join(dir, 'two.json'));
        assert.equal(one.helperRows, 0);
        assert.ok(
          two.helperRows > 0 && two.helperRows < two.totalRows,
          `both threads read rows (${two.helperRows})`,
        );
        assert.equal(two.totalRows, one.totalRows);
        assert.deepEqual(two.rowsPerTable, one.rowsPerTable);
        assert.equal(content(join(dir, 'two.json')), content(join(dir, 'one.json')));
        assert.deepEqual(hiddenFiles(dir), []);
      } finally {
        cleanup();
      }
    });
  }

  it('a helper that fails part-way costs only time: the main thread reads what it left', () => {
    const { dir, cleanup } = tempDir();
    try {
      const dbPath = join(dir, 'db.db');
      makeMixed(dbPath, false);
      exportWith('off', dbPath, join(dir, 'one.json'));
      const two = exportUntilHelperWorked(dbPath, join(dir, 'two.json'), content(join(dir, 'one.json')), {
        helperFailAfter: 2,
      });
      assert.ok(two.helperRows > 0, 'the helper finished two units before it failed');
      assert.equal(content(join(dir, 'two.json')), content(join(dir, 'one.json')));
      assert.deepEqual(hiddenFiles(dir), []);
    } finally {
      cleanup();
    }
  });

  it('a helper thread that ends with an uncaught error neither crashes the process nor changes the archive', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const dbPath = join(dir, 'db.db');
      makeMixed(dbPath, false);
      exportWith('off', dbPath, join(dir, 'one.json'));
      const two = exportUntilHelperWorked(dbPath, join(dir, 'two.json'), content(join(dir, 'one.json')), {
        helperFailAfter: 1,
        helperFailMode: 'uncaught',
      });
      assert.ok(two.helperRows > 0, 'the helper finished a unit before it failed');
      // The export waits synchronously; the worker's 'error' event arrives once the event loop runs again. Without a
      // listener it would be an uncaught exception here, failing this test.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(content(join(dir, 'two.json')), content(join(dir, 'one.json')));
      assert.deepEqual(hiddenFiles(dir), []);
    } finally {
      cleanup();
    }
  });

  it("the helper's quick_check keeps a database with a damaged index from replacing its archive", () => {
    const { dir, cleanup } = tempDir();
    try {
      const dbPath = join(dir, 'db.db');
      makeShop(dbPath, 3000);
      const archive = join(dir, 'db.json');
      exportWith('off', dbPath, archive);
      const before = readFileSync(archive);
      // Index pages only: reading the rows never touches them, so only the check can see the damage.
      overwritePages(dbPath, leafPagesOf(dbPath, 'items_name').slice(0, 2), 0xee);
      assert.throws(() => exportWith('force:100', dbPath, archive), /damaged \(quick_check/);
      assert.deepEqual(readFileSync(archive), before);
      assert.deepEqual(hiddenFiles(dir), []);
    } finally {
      cleanup();
    }
  });
});

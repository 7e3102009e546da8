/**
 * The seed's Edge Cases 1-5, 7 and 8 (empty database, >10,000 rows, special characters, NULLs, BLOBs, missing
 * archives, partial archives), and an archive in the seed's plain shape written by Python's json.dump.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DBHydrationManager } from '../src/index.js';
import { makeDatabase, tempDir } from './helpers/fixtures.js';
import { snapshot } from './helpers/snapshot.js';
import { assertRoundTrip, roundTrip } from './helpers/round-trip.js';

function query(path: string, sql: string): Record<string, unknown>[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.defaultSafeIntegers(true);
    return db.prepare(sql).all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

/** Writes `doc` as the seed's exporter would: Python's json.dump with indent=2 (ASCII escapes, `1.0` for floats). */
function pythonJsonDump(path: string, doc: unknown): void {
  execFileSync(
    'python3',
    [
      '-c',
      'import json, sys\nwith open(sys.argv[1], "w") as f:\n    json.dump(json.load(sys.stdin), f, indent=2)',
      path,
    ],
    { input: JSON.stringify(doc) },
  );
}

describe('edge case 1: empty database', () => {
  it('round-trips a database with no tables, and its archive has an empty "tables"', async () => {
    // A file SQLite never wrote to is 0 bytes; dehydration refuses those on purpose (an emptied file is treated as
    // damage, so its archive is kept). A database whose tables were all dropped still has its header.
    await assertRoundTrip(
      (db) => {
        db.exec('CREATE TABLE gone (a); DROP TABLE gone');
      },
      (r) => {
        const doc = JSON.parse(r.archive) as { tables: object; database: string };
        assert.deepEqual(doc.tables, {});
        assert.equal(doc.database, 'db');
        assert.ok(existsSync(r.hydratedPath));
        assert.deepEqual(r.after.schema, []);
      },
    );
  });
});

describe('edge case 2: large database', () => {
  it('round-trips 25,000 rows of mixed values', async () => {
    await assertRoundTrip(
      (db) => {
        db.exec('CREATE TABLE big (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, u)');
        const ins = db.prepare('INSERT INTO big (i, r, t, b, u) VALUES (?, ?, ?, ?, ?)');
        db.transaction(() => {
          for (let n = 0; n < 25000; n++) {
            const k = BigInt(n);
            ins.run(
              k * 1_000_000_007n,
              n / 7,
              `row ${n} ✓`,
              Buffer.from([n & 255, n >> 8]),
              [k, n + 0.25, `${n}`, null][n % 4],
            );
          }
        })();
      },
      (r) => {
        assert.equal(r.after.tables.big?.length, 25000);
        assert.equal(r.archive.split('\n').filter((l) => l.startsWith('{"id":')).length, 25000);
      },
    );
  });
});

describe('edge case 3: special characters', () => {
  it('round-trips table and column names with spaces, quotes and unicode, and a database file name with them', async () => {
    await assertRoundTrip(
      (db) => {
        db.exec(`
          CREATE TABLE "my table" ("first name" TEXT, "it's" INTEGER, "say ""hi""" REAL, "日本語 列" BLOB, "ünï" );
          INSERT INTO "my table" VALUES ('Zoë', 1, 1.5, x'01', 'ß'), ('O''Brien', 2, NULL, NULL, '"quoted"');
          CREATE INDEX "idx ""q"" ü" ON "my table" ("first name");
        `);
      },
      (r) => {
        assert.deepEqual(
          query(r.hydratedPath, 'SELECT "first name" AS n FROM "my table" ORDER BY rowid').map((x) => x.n),
          ['Zoë', "O'Brien"],
        );
        assert.match(r.archive, /"say \\"hi\\"":1\.5/);
      },
      { fileName: 'my data ü.db' },
    );
  });

  it('round-trips a database whose file name is as long as the file system allows (its temp files get short names)', async () => {
    // 240 bytes of name: SQLite's `<name>.db-journal` is 251 bytes, under the limit of 255, while a temp file named
    // `.<name>.json.dh-tmp-<pid>-<random>` would be over it.
    const name = `${'ü'.repeat(60)}${'n'.repeat(120)}`;
    assert.equal(Buffer.byteLength(name), 240);
    await assertRoundTrip(
      (db) => {
        db.exec("CREATE TABLE t (a); INSERT INTO t VALUES (1), ('x');");
      },
      (r) => {
        assert.deepEqual(
          query(r.hydratedPath, 'SELECT a FROM t ORDER BY rowid').map((x) => x.a),
          [1n, 'x'],
        );
      },
      { fileName: `${name}.db` },
    );
  });
});

describe('edge case 4: NULL values', () => {
  it('round-trips NULLs in every kind of column, next to columns with defaults', async () => {
    await assertRoundTrip(
      (db) => {
        db.exec(`
          CREATE TABLE n (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT DEFAULT 'dflt', b BLOB, u, k TEXT UNIQUE);
          INSERT INTO n (i, r, t, b, u, k) VALUES (NULL, NULL, NULL, NULL, NULL, NULL), (NULL, NULL, NULL, NULL, NULL, NULL), (1, 1.5, 'x', x'00', 'y', 'z');
          CREATE TABLE s (a ANY, b INT) STRICT;
          INSERT INTO s VALUES (NULL, NULL);
        `);
      },
      (r) => {
        const rows = query(
          r.hydratedPath,
          'SELECT typeof(i) AS i, typeof(t) AS t, typeof(k) AS k FROM n ORDER BY id',
        );
        assert.deepEqual(rows[0], { i: 'null', t: 'null', k: 'null' });
        assert.equal(rows.length, 3);
        assert.match(
          r.archive,
          /"t":null/,
          'a NULL is written as null, not left out (the default would apply)',
        );
      },
    );
  });
});

describe('edge case 5: binary data', () => {
  it('round-trips BLOBs of any bytes as base64 tags', async () => {
    const blobs = [
      Buffer.alloc(0),
      Buffer.from([0]),
      Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
      Buffer.alloc(200_000, 0xab),
    ];
    await assertRoundTrip(
      (db) => {
        db.exec('CREATE TABLE b (id INTEGER PRIMARY KEY, data BLOB)');
        const ins = db.prepare('INSERT INTO b (data) VALUES (?)');
        for (const blob of blobs) ins.run(blob);
      },
      (r) => {
        const rows = query(r.hydratedPath, 'SELECT data FROM b ORDER BY id');
        assert.deepEqual(
          rows.map((x) => Buffer.from(x.data as Uint8Array).toString('hex')),
          blobs.map((b) => b.toString('hex')),
        );
        assert.match(r.archive, /\{"id":3,"data":\{"\$blob":"AAECAwQF/);
      },
    );
  });
});

describe('edge case 6: an archive path that cannot be written', () => {
  it('reports a directory standing where the archive goes, and leaves no temp file and no open descriptor', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const data = join(dir, 'data');
      const archives = join(dir, 'archives');
      mkdirSync(data);
      makeDatabase(join(data, 'app.db'), (db) => {
        db.exec('CREATE TABLE t (a); INSERT INTO t VALUES (1);');
      });
      mkdirSync(join(archives, 'app.json'), { recursive: true });
      const openFiles = (): string[] =>
        existsSync('/proc/self/fd')
          ? readdirSync('/proc/self/fd')
              .map((fd) => {
                try {
                  return readlinkSync(`/proc/self/fd/${fd}`);
                } catch {
                  return '';
                }
              })
              .filter((path) => path.startsWith(dir))
          : [];
      const manager = new DBHydrationManager({ dataDir: data, archiveDir: archives });
      for (let i = 0; i < 3; i++) {
        const r = await manager.dehydrateAll();
        assert.equal(r.errorDetails.length, 1);
        assert.match(r.errors[0] ?? '', /app\.db: cannot dehydrate: EISDIR/);
      }
      assert.deepEqual(openFiles(), []);
      assert.deepEqual(readdirSync(archives).sort(), ['app.json', 'manifest.json']);
      assert.deepEqual(readdirSync(join(archives, 'app.json')), []);
    } finally {
      cleanup();
    }
  });
});

describe('edge case 7: missing archives', () => {
  it('hydrates nothing and reports nothing when the archive directory does not exist', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const result = await new DBHydrationManager({
        dataDir: join(dir, 'data'),
        archiveDir: join(dir, 'none'),
      }).hydrateAll();
      assert.deepEqual(result.errors, []);
      assert.deepEqual(result.databases, {});
    } finally {
      cleanup();
    }
  });

  it('reports a configured database without an archive, naming the archive file, and still hydrates the others', async () => {
    const r = await roundTrip((db) => {
      db.exec("CREATE TABLE t (a); INSERT INTO t VALUES ('kept')");
    });
    try {
      const target = join(r.dir, 'third');
      const result = await new DBHydrationManager({
        dataDir: target,
        archiveDir: r.archiveDir,
        databases: ['absent.db', 'db.db'],
      }).hydrateAll();
      assert.equal(result.errors.length, 1);
      assert.match(result.errors[0] ?? '', /absent\.json/);
      assert.equal(result.errorDetails[0]?.code, 'ARCHIVE_NAME');
      assert.ok((result.errorDetails[0].hint ?? '').length > 0);
      assert.equal(result.databases['db.db']?.status, 'hydrated');
      assert.deepEqual(snapshot(join(target, 'db.db')), r.before);
      assert.ok(!existsSync(join(target, 'absent.db')));
    } finally {
      r.cleanup();
    }
  });
});

describe('edge case 8: partial archives', () => {
  it('hydrates a plain archive that lacks some tables, with rows lacking some columns (defaults apply)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const archives = join(dir, 'archives');
      mkdirSync(archives);
      writeFileSync(
        join(archives, 'part.json'),
        JSON.stringify({
          database: 'part',
          exported_at: '2025-01-16T12:00:00',
          tables: {
            items: {
              schema:
                "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER DEFAULT 7, note TEXT DEFAULT 'none')",
              row_count: 3,
              rows: [
                { id: 1, name: 'a', qty: 2, note: 'x' },
                { id: 2, name: 'b' },
                { name: 'c', note: null },
              ],
            },
          },
        }),
      );
      const out = join(dir, 'data');
      const result = await new DBHydrationManager({ dataDir: out, archiveDir: archives }).hydrateAll();
      assert.deepEqual(result.errors, []);
      assert.deepEqual(query(join(out, 'part.db'), 'SELECT id, name, qty, note FROM items ORDER BY id'), [
        { id: 1n, name: 'a', qty: 2n, note: 'x' },
        { id: 2n, name: 'b', qty: 7n, note: 'none' },
        { id: 3n, name: 'c', qty: 7n, note: null },
      ]);
      assert.deepEqual(
        query(join(out, 'part.db'), "SELECT name FROM sqlite_schema WHERE type = 'table'").map((x) => x.name),
        ['items'],
      );
    } finally {
      cleanup();
    }
  });

  it('refuses a truncated archive, naming the file and line, and leaves the existing database untouched', async () => {
    const r = await roundTrip((db) => {
      db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v)');
      const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
      for (let i = 0; i < 50; i++) ins.run(`value ${i}`);
    });
    try {
      const lines = r.archive.split('\n');
      writeFileSync(r.archivePath, lines.slice(0, 20).join('\n'));
      const existing = snapshot(r.hydratedPath);
      const bytes = readFileSync(r.hydratedPath);
      const result = await new DBHydrationManager({
        dataDir: r.otherDir,
        archiveDir: r.archiveDir,
      }).hydrateAll({ force: true });
      assert.equal(result.errors.length, 1);
      assert.match(result.errors[0] ?? '', /db\.json/);
      assert.match(result.errors[0] ?? '', /line \d+/);
      assert.equal(result.errorDetails[0]?.code, 'ARCHIVE_FORMAT');
      assert.ok(readFileSync(r.hydratedPath).equals(bytes));
      assert.deepEqual(snapshot(r.hydratedPath), existing);

      // Missing database + truncated archive: nothing is created.
      const fresh = join(r.dir, 'fresh');
      const again = await new DBHydrationManager({ dataDir: fresh, archiveDir: r.archiveDir }).hydrateAll();
      assert.equal(again.errors.length, 1);
      assert.ok(!existsSync(join(fresh, 'db.db')));
    } finally {
      r.cleanup();
    }
  });

  it('refuses an archive whose row_count does not match its rows', async () => {
    const r = await roundTrip((db) => {
      db.exec('CREATE TABLE t (v); INSERT INTO t VALUES (1), (2), (3)');
    });
    try {
      const lines = r.archive.split('\n');
      const dropAt = lines.findIndex((l) => l.startsWith('{"rowid":2'));
      lines.splice(dropAt, 1);
      writeFileSync(r.archivePath, lines.join('\n'));
      const out = join(r.dir, 'fresh');
      const result = await new DBHydrationManager({ dataDir: out, archiveDir: r.archiveDir }).hydrateAll();
      assert.equal(result.errors.length, 1);
      assert.match(result.errors[0] ?? '', /row_count says 3 but the archive holds 2 rows/);
      assert.ok(!existsSync(join(out, 'db.db')));
    } finally {
      r.cleanup();
    }
  });
});

describe('plain archives in the seed shape', () => {
  it('hydrates an archive pretty-printed by Python json.dump(indent=2) with only JSON-native values', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const archives = join(dir, 'archives');
      mkdirSync(archives);
      pythonJsonDump(join(archives, 'trading_journal.json'), {
        database: 'trading_journal',
        exported_at: '2025-01-16T12:00:00',
        tables: {
          trades: {
            schema:
              'CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT NOT NULL, price REAL, qty INTEGER, note, data BLOB)',
            row_count: 3,
            rows: [
              { id: 1, symbol: 'SOL', price: 1.5, qty: 10, note: 'first', data: 'aGVsbG8=' },
              { id: 2, symbol: 'BTC ₿', price: 42000, qty: -3, note: null, data: null },
              { id: 5, symbol: 'ETH "e"', price: 0.001, qty: 9007199254740991, note: 2.5, data: '' },
            ],
          },
          'empty table': { schema: 'CREATE TABLE "empty table" (x)', row_count: 0, rows: [] },
        },
      });
      const text = readFileSync(join(archives, 'trading_journal.json'), 'utf8');
      assert.match(
        text,
        /^\{\n {2}"database": "trading_journal",\n/,
        'python wrote the pretty-printed shape',
      );
      assert.match(text, /\\u20bf/, 'python escaped non-ASCII');
      const out = join(dir, 'data');
      const result = await new DBHydrationManager({ dataDir: out, archiveDir: archives }).hydrateAll();
      assert.deepEqual(result.errors, []);
      const db = join(out, 'trading_journal.db');
      assert.deepEqual(
        query(
          db,
          'SELECT id, symbol, typeof(price) AS tp, price, typeof(qty) AS tq, qty, note, data FROM trades ORDER BY id',
        ),
        [
          {
            id: 1n,
            symbol: 'SOL',
            tp: 'real',
            price: 1.5,
            tq: 'integer',
            qty: 10n,
            note: 'first',
            data: 'aGVsbG8=',
          },
          {
            id: 2n,
            symbol: 'BTC ₿',
            tp: 'real',
            price: 42000,
            tq: 'integer',
            qty: -3n,
            note: null,
            data: null,
          },
          {
            id: 5n,
            symbol: 'ETH "e"',
            tp: 'real',
            price: 0.001,
            tq: 'integer',
            qty: 9007199254740991n,
            note: 2.5,
            data: '',
          },
        ],
      );
      assert.deepEqual(query(db, 'SELECT count(*) AS n FROM "empty table"'), [{ n: 0n }]);
      // Dehydrating the result and hydrating that gives the same database.
      const archive2 = join(dir, 'archives2');
      assert.deepEqual(
        (await new DBHydrationManager({ dataDir: out, archiveDir: archive2 }).dehydrateAll()).errors,
        [],
      );
      const out2 = join(dir, 'data2');
      assert.deepEqual(
        (await new DBHydrationManager({ dataDir: out2, archiveDir: archive2 }).hydrateAll()).errors,
        [],
      );
      assert.deepEqual(snapshot(join(out2, 'trading_journal.db')), snapshot(db));
    } finally {
      cleanup();
    }
  });

  it('hydrates the plain archive the seed exporter itself writes with Python sqlite3 (BLOBs as base64 text)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const src = join(dir, 'src.db');
      makeDatabase(src, (db) => {
        db.exec(`
          CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT, price REAL, raw BLOB, n);
          INSERT INTO trades VALUES (1, 'SOL', 1.0, x'00ff', NULL), (2, 'ü', 2.75, NULL, 'x'), (3, 'a"b', -1e-3, x'', 7);
          CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT);
          INSERT INTO notes (body) VALUES ('one'), ('two');
          UPDATE sqlite_sequence SET seq = 41 WHERE name = 'notes';
          CREATE INDEX trades_symbol ON trades (symbol);
          ANALYZE;
        `);
      });
      const archives = join(dir, 'archives');
      mkdirSync(archives);
      const script = [
        'import sqlite3, json, base64, sys',
        'conn = sqlite3.connect(sys.argv[1]); conn.row_factory = sqlite3.Row',
        'out = {"database": "seed", "exported_at": "2025-01-16T12:00:00", "tables": {}}',
        'for (name, sql) in conn.execute("SELECT name, sql FROM sqlite_master WHERE type=\'table\'"):',
        '    rows = [{k: (base64.b64encode(r[k]).decode() if isinstance(r[k], bytes) else r[k]) for k in r.keys()} for r in conn.execute(f\'SELECT * FROM "{name}"\')]',
        '    out["tables"][name] = {"schema": sql, "row_count": len(rows), "rows": rows}',
        'json.dump(out, open(sys.argv[2], "w"), indent=2)',
      ].join('\n');
      execFileSync('python3', ['-c', script, src, join(archives, 'seed.json')]);
      const out = join(dir, 'data');
      const result = await new DBHydrationManager({ dataDir: out, archiveDir: archives }).hydrateAll();
      assert.deepEqual(result.errors, []);
      assert.deepEqual(
        query(
          join(out, 'seed.db'),
          'SELECT id, symbol, typeof(price) AS tp, price, raw, n FROM trades ORDER BY id',
        ),
        [
          { id: 1n, symbol: 'SOL', tp: 'real', price: 1, raw: 'AP8=', n: null },
          { id: 2n, symbol: 'ü', tp: 'real', price: 2.75, raw: null, n: 'x' },
          { id: 3n, symbol: 'a"b', tp: 'real', price: -0.001, raw: '', n: 7n },
        ],
      );
      // A naive exporter lists sqlite_sequence and sqlite_stat1 among the tables: the counters and statistics follow.
      const text = readFileSync(join(archives, 'seed.json'), 'utf8');
      assert.match(text, /"sqlite_sequence": \{/);
      assert.match(text, /"sqlite_stat1": \{/);
      assert.deepEqual(query(join(out, 'seed.db'), 'SELECT name, seq FROM sqlite_sequence'), [
        { name: 'notes', seq: 41n },
      ]);
      assert.deepEqual(query(join(out, 'seed.db'), 'SELECT count(*) AS n FROM notes'), [{ n: 2n }]);
      assert.equal(query(join(out, 'seed.db'), 'SELECT count(*) AS n FROM sqlite_stat1')[0]?.n, 2n);
    } finally {
      cleanup();
    }
  });
});

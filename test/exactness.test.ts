/**
 * Exactness: hydrate(dehydrate(db)) is the same database, compared by content (every row with its storage class and
 * exact value, the whole sqlite_schema, the pragmas). One test per bullet of issue 2's "Exactness" section; each also
 * checks on the hydrated copy that the feature it is about is really there.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DBHydrationManager, checkDatabase } from '../src/index.js';
import { makeDatabase, tempDir } from './helpers/fixtures.js';
import { snapshot } from './helpers/snapshot.js';
import { assertRoundTrip, dehydrateAndHydrate, roundTrip } from './helpers/round-trip.js';

const q = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** Runs a query on a database file (read-only, BigInt integers). */
function query(path: string, sql: string, ...params: unknown[]): Record<string, unknown>[] {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.defaultSafeIntegers(true);
    return db.prepare(sql).all(...params) as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

/** `[typeof(v), v]` of column `col` of table `table`, in rowid order. */
function typed(path: string, table: string, col: string, order = 'rowid'): [string, unknown][] {
  return query(path, `SELECT typeof(${q(col)}) AS t, ${q(col)} AS v FROM ${q(table)} ORDER BY ${order}`).map(
    (r) => [r.t as string, r.v],
  );
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

describe('exactness: values', () => {
  it('keeps INTEGER over the whole signed 64-bit range, in typed and untyped columns', async () => {
    const values = [
      INT64_MIN,
      INT64_MIN + 1n,
      -(2n ** 53n) - 1n,
      -(2n ** 53n) + 1n,
      -1n,
      0n,
      1n,
      2n ** 53n - 1n,
      2n ** 53n,
      2n ** 53n + 1n,
      INT64_MAX - 1n,
      INT64_MAX,
    ];
    await assertRoundTrip(
      (db) => {
        db.exec('CREATE TABLE t (i INTEGER, u, r REAL, n NUMERIC)');
        const ins = db.prepare('INSERT INTO t (i, u, n) VALUES (?, ?, ?)');
        for (const v of values) ins.run(v, v, v);
      },
      (r) => {
        for (const col of ['i', 'u', 'n']) {
          assert.deepEqual(
            typed(r.hydratedPath, 't', col),
            values.map((v) => ['integer', v]),
          );
        }
        assert.match(r.archive, /\{"\$int":"-9223372036854775808"\}/);
        assert.match(r.archive, /\{"\$int":"9223372036854775807"\}/);
        assert.match(r.archive, /"i":9007199254740991,/, 'safe integers stay plain JSON');
      },
    );
  });

  it('keeps REAL -0.0, ±Infinity, subnormals and integral REALs (1.0 stays REAL, 1 stays INTEGER)', async () => {
    const reals = [
      -0,
      0,
      Infinity,
      -Infinity,
      5e-324,
      -5e-324,
      2.2250738585072e-308,
      1,
      -1,
      1e20,
      1e300,
      0.1,
      2 ** 53,
      -(2 ** 60),
    ];
    await assertRoundTrip(
      (db) => {
        db.exec('CREATE TABLE t (u, r REAL, n NUMERIC, x TEXT)');
        const ins = db.prepare('INSERT INTO t (u, r) VALUES (?, ?)');
        for (const v of reals) ins.run(v, v);
        // Integral REAL next to an INTEGER of the same value in an untyped column.
        db.exec('INSERT INTO t (u, r, n) VALUES (1, 1, 1.0), (1.0, 1.0, 1e20), (2.5, -0.0, -0.0)');
      },
      (r) => {
        const u = typed(r.hydratedPath, 't', 'u');
        assert.deepEqual(
          u.slice(0, reals.length).map(([t]) => t),
          reals.map(() => 'real'),
        );
        assert.ok(Object.is(u[0]?.[1], -0), '-0.0 keeps its sign');
        assert.equal(u[2]?.[1], Infinity);
        assert.equal(u[3]?.[1], -Infinity);
        assert.equal(u[4]?.[1], 5e-324);
        assert.deepEqual(u.slice(reals.length), [
          ['integer', 1n],
          ['real', 1],
          ['real', 2.5],
        ]);
        const rr = typed(r.hydratedPath, 't', 'r');
        assert.ok(rr.every(([t]) => t === 'real'));
        // SQLite itself stores integral values of REAL columns as integers on disk, so -0.0 there reads back as 0.0
        // in the source too; the copy must read the same.
        assert.ok(Object.is(rr.at(-1)?.[1], typed(r.sourcePath, 't', 'r').at(-1)?.[1]));
        assert.deepEqual(typed(r.hydratedPath, 't', 'n').slice(-3), [
          ['integer', 1n],
          ['real', 1e20],
          ['integer', 0n],
        ]);
        assert.match(r.archive, /"u":\{"\$real":"1"\}/, 'integral REAL in an untyped column is tagged');
        assert.match(r.archive, /"u":\{"\$real":"-0"\}/);
      },
    );
  });

  it('keeps TEXT with NUL, emoji, NFD forms, look-alike tags and bytes that are not valid UTF-8', async () => {
    const texts = [
      '',
      'a\u0000b',
      '\u0000',
      'emoji 🎉👩‍👩‍👧',
      'e\u0301', // NFD of é
      '\u00e9', // NFC of é
      '\uFFFD is a real replacement character',
      '{"$blob":"AAAA"}',
      '{"$int":"1"}',
      '1',
      '1.0',
      'null',
      'line\nbreak\r\n\ttab "quotes" \\ backslash',
      '\u2028\u2029',
    ];
    await assertRoundTrip(
      (db) => {
        db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, u, s TEXT)');
        const ins = db.prepare('INSERT INTO t (u, s) VALUES (?, ?)');
        for (const s of texts) ins.run(s, s);
        // Not valid UTF-8: a lone 0xff, a truncated sequence, an overlong encoding, a UTF-16 surrogate as CESU-8,
        // and invalid bytes next to a genuine U+FFFD.
        for (const hex of ['61ff62', 'e282', 'c0af', 'eda080', 'efbfbdff']) {
          db.exec(`INSERT INTO t (u, s) VALUES (CAST(x'${hex}' AS TEXT), CAST(x'${hex}' AS TEXT))`);
        }
      },
      (r) => {
        for (const col of ['u', 's']) {
          const rows = query(
            r.hydratedPath,
            `SELECT typeof(${col}) AS t, hex(${col}) AS h FROM t ORDER BY id`,
          );
          assert.ok(rows.every((row) => row.t === 'text'));
          assert.deepEqual(
            rows.map((row) => row.h),
            [
              ...texts.map((s) => Buffer.from(s, 'utf8').toString('hex').toUpperCase()),
              '61FF62',
              'E282',
              'C0AF',
              'EDA080',
              'EFBFBDFF',
            ],
          );
        }
        assert.match(r.archive, /\{"\$text":"Yf9i"\}/, 'invalid UTF-8 is carried as its bytes');
      },
    );
  });

  it('keeps TEXT that is not valid UTF-8 as a WITHOUT ROWID key, and in a table whose rowid names are all columns', async () => {
    await assertRoundTrip(
      (db) => {
        db.exec(`
          CREATE TABLE w (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
          CREATE TABLE w2 (a, b, c, PRIMARY KEY (b, a)) WITHOUT ROWID;
          CREATE TABLE r (rowid, _rowid_, oid, v);
          -- 61ff and 61fe both read as 'a\uFFFD' in JavaScript.
          INSERT INTO w VALUES (CAST(x'61ff' AS TEXT), CAST(x'62ff' AS TEXT)), (CAST(x'61fe' AS TEXT), 1),
            (x'61ff', CAST(x'63ff' AS TEXT)), ('a\uFFFD', CAST(x'ff' AS TEXT)), (5, CAST(x'64ff' AS TEXT));
          INSERT INTO w2 VALUES (CAST(x'ff' AS TEXT), CAST(x'fe' AS TEXT), CAST(x'fd' AS TEXT)),
            (CAST(x'fe' AS TEXT), CAST(x'fe' AS TEXT), CAST(x'fc' AS TEXT));
          INSERT INTO r VALUES (1, 2, 3, CAST(x'63ff' AS TEXT)), (CAST(x'63ff' AS TEXT), NULL, 1.5, CAST(x'63fe' AS TEXT)),
            (1, 2, 3, CAST(x'63ff' AS TEXT));
        `);
      },
      (r) => {
        const hex = (sql: string): unknown[] =>
          query(r.hydratedPath, sql).map((x) => Object.values(x).join(' '));
        assert.deepEqual(hex('SELECT hex(k), typeof(k), hex(v) FROM w ORDER BY k'), [
          '35 text 64FF',
          '61EFBFBD text FF',
          '61FE text 31',
          '61FF text 62FF',
          '61FF blob 63FF',
        ]);
        assert.deepEqual(hex('SELECT hex(c) FROM w2 ORDER BY c'), ['FC', 'FD']);
        assert.deepEqual(hex('SELECT hex(v) FROM r ORDER BY v'), ['63FE', '63FF', '63FF']);
      },
    );
  });

  it('keeps TEXT that is not valid UTF-8 in the middle of a large WITHOUT ROWID table, and of one with no rowid name', async () => {
    // Such tables are read without their keys' raw bytes until a row needs them, then from that row on with them.
    await assertRoundTrip(
      (db) => {
        db.exec(
          'CREATE TABLE w (k TEXT PRIMARY KEY, v) WITHOUT ROWID; CREATE TABLE r (rowid, _rowid_, oid, v)',
        );
        const w = db.prepare('INSERT INTO w VALUES (?, ?)');
        const r = db.prepare('INSERT INTO r VALUES (?, ?, ?, ?)');
        db.transaction(() => {
          for (let i = 0; i < 3000; i++) {
            w.run(`k${String(i).padStart(4, '0')}`, BigInt(i));
            r.run(BigInt(i), BigInt(-i), `o${String(i)}`, i * 0.5);
          }
        })();
        db.exec(`
          INSERT INTO w VALUES (CAST(x'6b31353030ff' AS TEXT), 1), ('k2000x', CAST(x'76ff' AS TEXT));
          UPDATE r SET v = CAST(x'76ff' AS TEXT) WHERE rowid IN (1500, 2500);
        `);
      },
      (r) => {
        const rows = r.archive.split('\n').filter((line) => line.startsWith('{"k":'));
        assert.equal(rows.length, 3002);
        assert.equal(rows[1501], '{"k":{"$text":"azE1MDD/"},"v":1},', 'k1500 < k1500\\xff < k1501');
        assert.equal(rows[2002], '{"k":"k2000x","v":{"$text":"dv8="}},');
        assert.equal(rows[3001], '{"k":"k2999","v":2999}');
        assert.equal(r.archive.match(/"v":\{"\$text":"dv8="\}/g)?.length, 3);
      },
    );
  });

  it('keeps BLOBs: the empty blob, the empty string and NULL are three values; base64- or JSON-looking blobs stay BLOB', async () => {
    const blobs = [
      Buffer.alloc(0),
      Buffer.from('aGVsbG8=', 'utf8'),
      Buffer.from('{"$blob":"AA=="}', 'utf8'),
      Buffer.from('[1,2]', 'utf8'),
      Buffer.from([0, 255, 254, 0]),
      Buffer.alloc(70000, 7),
    ];
    await assertRoundTrip(
      (db) => {
        db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, u, b BLOB, s TEXT)');
        const ins = db.prepare('INSERT INTO t (u, b, s) VALUES (?, ?, ?)');
        for (const b of blobs) ins.run(b, b, b);
        db.exec("INSERT INTO t (u, b, s) VALUES ('', '', ''), (NULL, NULL, NULL), (x'', x'', x'')");
      },
      (r) => {
        for (const col of ['u', 'b', 's']) {
          const rows = query(
            r.hydratedPath,
            `SELECT typeof(${col}) AS t, hex(${col}) AS h FROM t ORDER BY id`,
          );
          assert.deepEqual(
            rows.map((row) => [row.t, row.h]),
            [
              ...blobs.map((b) => ['blob', b.toString('hex').toUpperCase()]),
              ['text', ''],
              ['null', ''],
              ['blob', ''],
            ],
          );
        }
      },
    );
  });

  it('keeps NULL and mixed storage classes in one column', async () => {
    await assertRoundTrip(
      (db) => {
        db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, u, n NUMERIC, s TEXT, i INTEGER, r REAL, b BLOB)');
        const ins = db.prepare('INSERT INTO t (u, n, s, i, r, b) VALUES (?, ?, ?, ?, ?, ?)');
        for (const v of [null, 1n, 1.5, 1.0, 'text', '12', Buffer.from([1, 2]), INT64_MAX, -0]) {
          ins.run(v, v, v, v, v, v);
        }
      },
      (r) => {
        assert.deepEqual(
          typed(r.hydratedPath, 't', 'u').map(([t]) => t),
          ['null', 'integer', 'real', 'real', 'text', 'text', 'blob', 'integer', 'real'],
        );
        assert.deepEqual(
          typed(r.hydratedPath, 't', 'n').map(([t]) => t),
          ['null', 'integer', 'real', 'integer', 'text', 'integer', 'blob', 'integer', 'integer'],
        );
      },
    );
  });

  it('decodes by value, never by column name: __proto__, $blob, $int, rowid, constructor, the empty name', async () => {
    const names = [
      '__proto__',
      '$blob',
      '$int',
      '$real',
      '$text',
      'rowid',
      'constructor',
      'toString',
      'hasOwnProperty',
      'prototype',
      '',
    ];
    await assertRoundTrip(
      (db) => {
        db.exec(`CREATE TABLE t (${names.map(q).join(', ')})`);
        db.exec(`CREATE TABLE "$blob" ("$blob", oid)`);
        const ins = db.prepare(`INSERT INTO t VALUES (${names.map(() => '?').join(', ')})`);
        ins.run(...names.map((_, i) => (i % 2 === 0 ? `v${i}` : BigInt(i))));
        ins.run(...names.map(() => Buffer.from('AAAA', 'base64')));
        ins.run(...names.map(() => '{"$blob":"AAAA"}'));
        ins.run(...names.map(() => null));
        db.exec(`INSERT INTO "$blob" VALUES ('AAAA', 1), (x'00', 2)`);
      },
      (r) => {
        const rows = query(r.hydratedPath, `SELECT ${names.map((n) => `typeof(${q(n)})`).join(', ')} FROM t`);
        assert.equal(rows.length, 4);
        assert.deepEqual(
          query(r.hydratedPath, 'SELECT typeof("$blob") AS t FROM "$blob"').map((x) => x.t),
          ['text', 'blob'],
        );
        const first = query(r.hydratedPath, 'SELECT "__proto__" AS p, "constructor" AS c FROM t LIMIT 1')[0];
        assert.deepEqual(first, { p: 'v0', c: 'v6' });
      },
    );
  });
});

describe('exactness: schema', () => {
  it('keeps the SQL text of tables verbatim (comments, odd spacing, case)', async () => {
    const sql = [
      "CREATE TABLE  t1 ( a  INTEGER   -- a comment\n , b text /* block */ DEFAULT ('x' || 'y'), c  )",
      'create table T2(x)',
      'CREATE TABLE IF NOT EXISTS t3 (id integer primary key, v REAL CHECK (v >= 0))',
      'CREATE TABLE "t4" (a DEFAULT 3.5, b NOT NULL DEFAULT x\'00\', UNIQUE (a, b) ON CONFLICT IGNORE)',
    ];
    await assertRoundTrip(
      (db) => {
        for (const s of sql) db.exec(s);
        db.exec('INSERT INTO t4 (a) VALUES (1), (2)');
      },
      (r) => {
        const stored = query(
          r.hydratedPath,
          "SELECT sql FROM sqlite_schema WHERE type = 'table' ORDER BY name",
        ).map((x) => x.sql);
        const original = query(
          r.sourcePath,
          "SELECT sql FROM sqlite_schema WHERE type = 'table' ORDER BY name",
        ).map((x) => x.sql);
        assert.deepEqual(stored, original);
        assert.ok(stored.some((s) => String(s).includes('-- a comment')));
      },
    );
  });

  it('keeps WITHOUT ROWID tables with composite, descending and collated keys', async () => {
    await assertRoundTrip(
      (db) => {
        db.exec(`
          CREATE TABLE w (a TEXT COLLATE NOCASE, b INTEGER, c, PRIMARY KEY (a, b DESC)) WITHOUT ROWID;
          CREATE TABLE w2 (k BLOB PRIMARY KEY, v REAL) WITHOUT ROWID;
          INSERT INTO w VALUES ('B', 2, 1.0), ('a', 1, 'x'), ('A', 3, NULL), ('b', 1, x'00');
          INSERT INTO w2 VALUES (x'', 1.0), (x'00', -0.0), (x'ff', 2.5);
        `);
      },
      (r) => {
        assert.deepEqual(
          query(r.hydratedPath, 'SELECT a, b FROM w').map((x) => `${String(x.a)}${String(x.b)}`),
          ['A3', 'a1', 'B2', 'b1'],
        );
        assert.equal(query(r.hydratedPath, "SELECT wr FROM pragma_table_list WHERE name = 'w'")[0]?.wr, 1n);
        assert.deepEqual(typed(r.hydratedPath, 'w2', 'v', 'k'), typed(r.sourcePath, 'w2', 'v', 'k'));
        assert.deepEqual(
          typed(r.hydratedPath, 'w2', 'v', 'k').map(([t]) => t),
          ['real', 'real', 'real'],
        );
      },
    );
  });

  it('keeps STRICT tables, ANY columns with mixed classes included', async () => {
    await assertRoundTrip(
      (db) => {
        db.exec(`
          CREATE TABLE s (id INT PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, a ANY) STRICT;
          CREATE TABLE s2 (k TEXT PRIMARY KEY, a ANY NOT NULL) STRICT, WITHOUT ROWID;
        `);
        const ins = db.prepare('INSERT INTO s VALUES (?, ?, ?, ?, ?, ?)');
        ins.run(1n, INT64_MAX, 1.0, 'x', Buffer.from([1]), 1.0);
        ins.run(2n, INT64_MIN, -0, '', Buffer.alloc(0), 1n);
        ins.run(3n, null, Infinity, 'a\u0000', null, '1');
        ins.run(4n, 0n, 5e-324, null, Buffer.from('x'), Buffer.from('1'));
        const ins2 = db.prepare('INSERT INTO s2 VALUES (?, ?)');
        ins2.run('a', 1.0);
        ins2.run('b', '2');
        ins2.run('c', INT64_MIN);
      },
      (r) => {
        assert.deepEqual(
          typed(r.hydratedPath, 's', 'a').map(([t]) => t),
          ['real', 'integer', 'text', 'blob'],
        );
        assert.deepEqual(
          typed(r.hydratedPath, 's2', 'a', 'k').map(([t]) => t),
          ['real', 'text', 'integer'],
        );
        assert.equal(
          query(r.hydratedPath, "SELECT strict FROM pragma_table_list WHERE name = 's'")[0]?.strict,
          1n,
        );
      },
    );
  });

  it('keeps generated columns, virtual and stored, without inserting into them', async () => {
    await assertRoundTrip(
      (db) => {
        db.exec(`
          CREATE TABLE g (
            id INTEGER PRIMARY KEY,
            a INTEGER,
            v GENERATED ALWAYS AS (a * 2) VIRTUAL,
            s TEXT AS ('n' || a) STORED,
            b
          );
          INSERT INTO g (a, b) VALUES (1, 'x'), (NULL, 2.0), (-5, NULL);
        `);
      },
      (r) => {
        assert.deepEqual(
          query(r.hydratedPath, 'SELECT v, s FROM g ORDER BY id').map((x) => [x.v, x.s]),
          [
            [2n, 'n1'],
            [null, null],
            [-10n, 'n-5'],
          ],
        );
        assert.doesNotMatch(r.archive, /"v":/, 'virtual generated columns are not in the archive');
        assert.doesNotMatch(r.archive, /"s":/, 'stored generated columns are not in the archive');
      },
    );
  });

  it('keeps AUTOINCREMENT counters removed by hand (sqlite_sequence emptied, or one row deleted) removed', async () => {
    for (const forget of ['DELETE FROM sqlite_sequence', "DELETE FROM sqlite_sequence WHERE name = 'a'"]) {
      await assertRoundTrip(
        (db) => {
          db.exec(`
            CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, v);
            CREATE TABLE b (id INTEGER PRIMARY KEY AUTOINCREMENT, v);
            INSERT INTO a (v) VALUES (1), (2);
            INSERT INTO b (v) VALUES (1);
            ${forget};
          `);
        },
        (r) => {
          assert.deepEqual(
            query(r.hydratedPath, 'SELECT name FROM sqlite_sequence ORDER BY name').map((x) => x.name),
            query(r.sourcePath, 'SELECT name FROM sqlite_sequence ORDER BY name').map((x) => x.name),
            forget,
          );
        },
        { ignoreSequenceRowids: true },
      );
    }
  });

  it('refuses to dehydrate a sqlite_sequence edited into rows SQLite never writes, naming the fix', async () => {
    const { dir, cleanup } = tempDir();
    try {
      for (const [i, stray] of [
        'INSERT INTO sqlite_sequence VALUES (NULL, 5)',
        'INSERT INTO sqlite_sequence VALUES (7, 5)',
        "INSERT INTO sqlite_sequence VALUES ('a', 50)",
      ].entries()) {
        const data = join(dir, `data-${i}`);
        mkdirSync(data);
        makeDatabase(join(data, 'app.db'), (db) => {
          db.exec('CREATE TABLE a (id INTEGER PRIMARY KEY AUTOINCREMENT, v); INSERT INTO a (v) VALUES (1);');
          db.exec(stray);
        });
        const r = await new DBHydrationManager({ dataDir: data }).dehydrateAll();
        assert.equal(r.errorDetails.length, 1, stray);
        assert.match(
          r.errors[0] ?? '',
          /sqlite_sequence holds (two rows for "a"|a row whose name is not text)/,
          stray,
        );
        assert.match(r.errorDetails[0]?.hint ?? '', /delete the stray row/);
        assert.equal(existsSync(join(data, 'json_archives', 'app.json')), false);
      }
    } finally {
      cleanup();
    }
  });

  it('keeps AUTOINCREMENT counters, also when sqlite_sequence is ahead of max(id)', async () => {
    await assertRoundTrip(
      (db) => {
        db.exec(`
          CREATE TABLE zz (id INTEGER PRIMARY KEY AUTOINCREMENT, v);
          CREATE TABLE aa (id INTEGER PRIMARY KEY AUTOINCREMENT, v);
          CREATE TABLE empty (id INTEGER PRIMARY KEY AUTOINCREMENT, v);
          INSERT INTO zz (v) VALUES (1), (2), (3);
          DELETE FROM zz WHERE id = 3;
          INSERT INTO aa (v) VALUES ('a');
          INSERT INTO empty (v) VALUES (1);
          DELETE FROM empty;
          UPDATE sqlite_sequence SET seq = 9223372036854775000 WHERE name = 'aa';
        `);
      },
      (r) => {
        assert.deepEqual(
          query(r.hydratedPath, 'SELECT name, seq FROM sqlite_sequence ORDER BY name').map((x) => [
            x.name,
            x.seq,
          ]),
          [
            ['aa', 9223372036854775000n],
            ['empty', 1n],
            ['zz', 3n],
          ],
        );
        const db = new Database(r.hydratedPath);
        try {
          db.defaultSafeIntegers(true);
          assert.equal(db.prepare('INSERT INTO zz (v) VALUES (4)').run().lastInsertRowid, 4n);
        } finally {
          db.close();
        }
      },
      // Known difference: sqlite_sequence's own rowids follow table-name order after hydration.
      { ignoreSequenceRowids: true },
    );
  });

  it('keeps implicit rowids with gaps, also when a column is named rowid or the key is not an alias', async () => {
    await assertRoundTrip(
      (db) => {
        db.exec(`
          CREATE TABLE plain (a, b);
          CREATE TABLE shadowed (rowid TEXT, x);
          CREATE TABLE textpk (k TEXT PRIMARY KEY, v);
          CREATE TABLE descpk (id INTEGER PRIMARY KEY DESC, v);
          CREATE TABLE intpk (id INT PRIMARY KEY, v);
          INSERT INTO plain (rowid, a, b) VALUES (-9223372036854775808, 1, 2), (5, 'x', NULL), (1000000, NULL, NULL),
            (9223372036854775807, 0, 0);
          INSERT INTO shadowed (_rowid_, rowid, x) VALUES (10, 'r10', 1), (3, 'r3', 2);
          INSERT INTO textpk (rowid, k, v) VALUES (7, 'b', 1), (2, 'a', 2), (40, 'c', 3);
          INSERT INTO descpk (id, v) VALUES (3, 1), (1, 2), (100, 3);
          INSERT INTO intpk (rowid, id, v) VALUES (50, 1, 'a'), (20, 2, 'b');
        `);
      },
      (r) => {
        assert.deepEqual(
          query(r.hydratedPath, 'SELECT rowid AS r FROM plain ORDER BY rowid').map((x) => x.r),
          [INT64_MIN, 5n, 1000000n, INT64_MAX],
        );
        assert.deepEqual(
          query(r.hydratedPath, 'SELECT _rowid_ AS r, rowid AS c FROM shadowed ORDER BY 1').map((x) => [
            x.r,
            x.c,
          ]),
          [
            [3n, 'r3'],
            [10n, 'r10'],
          ],
        );
        assert.deepEqual(
          query(r.hydratedPath, 'SELECT rowid AS r, k FROM textpk ORDER BY rowid').map((x) => [x.r, x.k]),
          [
            [2n, 'a'],
            [7n, 'b'],
            [40n, 'c'],
          ],
        );
        assert.deepEqual(
          query(r.hydratedPath, 'SELECT rowid AS r, id FROM intpk ORDER BY rowid').map((x) => [x.r, x.id]),
          [
            [20n, 2n],
            [50n, 1n],
          ],
        );
      },
    );
  });

  it('keeps the scan order of a table whose rowid cannot be read (columns rowid, _rowid_ and oid)', async () => {
    const r = await roundTrip((db) => {
      db.exec(`
        CREATE TABLE t (rowid, _rowid_, oid, v);
        CREATE INDEX t_v ON t (v);
        INSERT INTO t VALUES ('z', 1, NULL, 3), (NULL, 9, 'a', 1), ('z', 1, NULL, 3), (2.5, x'00', 'b', 2);
        INSERT INTO t VALUES (-1, -1, -1, -1), ('a', 'a', 'a', 'a');
        DELETE FROM t WHERE v = 2;
        INSERT INTO t VALUES (0, 0, 0, 0);
      `);
    });
    try {
      assert.deepEqual(r.after, r.before);
      const rows = (path: string, sql: string): unknown[] => query(path, sql).map((x) => Object.values(x));
      for (const sql of ['SELECT * FROM t', 'SELECT * FROM t NOT INDEXED', 'SELECT v FROM t NOT INDEXED']) {
        assert.deepEqual(rows(r.hydratedPath, sql), rows(r.sourcePath, sql), sql);
      }
      assert.deepEqual(
        rows(r.hydratedPath, 'SELECT v FROM t NOT INDEXED'),
        [[3n], [1n], [3n], [-1n], ['a'], [0n]],
        'insertion order',
      );
      // The archive is still a function of the content: the hydrated copy dehydrates to the same lines.
      const again = join(r.dir, 'again');
      mkdirSync(again);
      execFileSync('cp', [r.hydratedPath, join(again, 'db.db')]);
      assert.deepEqual((await new DBHydrationManager({ dataDir: again }).dehydrateAll()).errors, []);
      const lines = (text: string): string[] =>
        text.split('\n').filter((l) => !l.startsWith('"exported_at"'));
      assert.deepEqual(
        lines(readFileSync(join(again, 'json_archives', 'db.json'), 'utf8')),
        lines(r.archive),
      );
    } finally {
      r.cleanup();
    }
  });

  it("keeps the source's order of tables, indexes, views and triggers: .schema and .dump list them the same", async () => {
    const sqlite3 = (path: string, command: string): string =>
      execFileSync('sqlite3', [path, command], { encoding: 'utf8' });
    const schemaRows = (path: string): unknown[] =>
      query(path, 'SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY rowid').map((r) =>
        Object.values(r),
      );
    for (const vacuum of [false, true]) {
      const r = await roundTrip((db) => {
        db.exec(`
          CREATE TABLE zeta (x UNIQUE, y);
          CREATE INDEX zeta_y ON zeta (y);
          CREATE TABLE alpha (id INTEGER PRIMARY KEY AUTOINCREMENT, v);
          CREATE TRIGGER zeta_log AFTER INSERT ON zeta BEGIN INSERT INTO alpha (v) VALUES (new.x); END;
          CREATE VIEW mid AS SELECT * FROM alpha;
          CREATE VIRTUAL TABLE docs USING fts5(body);
          CREATE TABLE beta (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
          CREATE INDEX alpha_v ON alpha (v);
          CREATE VIEW aaa AS SELECT 1;
          INSERT INTO zeta VALUES (1, 2), (3, 4);
          INSERT INTO docs VALUES ('hello world');
          ANALYZE;
          CREATE TABLE last (a);
          DROP TABLE beta;
          CREATE TABLE beta (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
        `);
        // VACUUM rewrites sqlite_schema in another order (tables, then indexes, then the rest; a virtual table after
        // its shadow tables).
        if (vacuum) db.exec('VACUUM');
      });
      try {
        assert.deepEqual(r.after, r.before);
        assert.deepEqual(schemaRows(r.hydratedPath), schemaRows(r.sourcePath), `vacuum: ${vacuum}`);
        assert.equal(sqlite3(r.hydratedPath, '.schema'), sqlite3(r.sourcePath, '.schema'));
        assert.equal(sqlite3(r.hydratedPath, '.dump'), sqlite3(r.sourcePath, '.dump'));
        assert.equal(sqlite3(r.hydratedPath, 'PRAGMA integrity_check'), 'ok\n');
        // The order is in the archive, deterministically: an unchanged database keeps its archive byte for byte.
        const bytes = readFileSync(r.archivePath);
        const again = await new DBHydrationManager({
          dataDir: r.dataDir,
          archiveDir: r.archiveDir,
        }).dehydrateAll();
        assert.equal(again.databases['db.db']?.changed, false);
        assert.ok(readFileSync(r.archivePath).equals(bytes));
        // An archive written before schema_order existed still hydrates, to the same content (in its own order).
        const old = join(r.dir, 'old');
        mkdirSync(old);
        writeFileSync(
          join(old, 'db.json'),
          r.archive.replace(/\],\n"schema_order": \[\n[^\]]*\]\n\}\n$/, ']\n}\n'),
        );
        assert.doesNotMatch(readFileSync(join(old, 'db.json'), 'utf8'), /schema_order/);
        const plain = await new DBHydrationManager({
          dataDir: join(r.dir, 'from-old'),
          archiveDir: old,
        }).hydrateAll();
        assert.deepEqual(plain.errors, []);
        assert.deepEqual(snapshot(join(r.dir, 'from-old', 'db.db')), r.before);
      } finally {
        r.cleanup();
      }
    }
  });

  it('keeps indexes: partial, expression, collation, unique, descending', async () => {
    await assertRoundTrip(
      (db) => {
        db.exec(`
          CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, price REAL, tags);
          CREATE INDEX t_partial ON t (price) WHERE price > 0 AND name IS NOT NULL;
          CREATE INDEX t_expr ON t (lower(name), price * 2);
          CREATE INDEX "t coll" ON t (name COLLATE NOCASE DESC, tags COLLATE RTRIM);
          CREATE UNIQUE INDEX t_unique ON t (name, tags);
          INSERT INTO t (name, price, tags) VALUES ('A', 1, 'x'), ('b', -1, 'y '), ('C', NULL, NULL), (NULL, 2, NULL);
        `);
      },
      (r) => {
        assert.equal(
          query(r.hydratedPath, "SELECT count(*) AS n FROM sqlite_schema WHERE type = 'index'")[0]?.n,
          4n,
        );
        assert.equal(query(r.hydratedPath, 'PRAGMA integrity_check')[0]?.integrity_check, 'ok');
        const plan = query(r.hydratedPath, 'EXPLAIN QUERY PLAN SELECT * FROM t WHERE lower(name) = ?', 'a');
        assert.ok(plan.some((p) => String(p.detail).includes('t_expr')));
      },
    );
  });

  it('keeps views, including ones that reference missing tables or other views', async () => {
    await assertRoundTrip(
      (db) => {
        db.exec(`
          CREATE TABLE t (a, b);
          INSERT INTO t VALUES (1, 2);
          CREATE VIEW "a view" AS SELECT a + b AS s FROM t;
          CREATE VIEW zz_on_view AS SELECT s * 2 AS d FROM "a view";
          CREATE VIEW broken AS SELECT * FROM gone;
          CREATE TABLE gone (x);
          CREATE VIEW aa_uses_later (c) AS SELECT x FROM gone;
          DROP TABLE gone;
        `);
      },
      (r) => {
        assert.deepEqual(query(r.hydratedPath, 'SELECT d FROM zz_on_view'), [{ d: 6n }]);
        assert.equal(
          query(r.hydratedPath, "SELECT count(*) AS n FROM sqlite_schema WHERE type = 'view'")[0]?.n,
          4n,
        );
      },
    );
  });

  it('creates triggers after the data: triggers that would change or refuse rows never fire during the load', async () => {
    await assertRoundTrip(
      (db) => {
        db.exec(`
          CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER);
          CREATE TABLE log (msg);
          INSERT INTO t (v) VALUES (1), (2), (3);
          INSERT INTO log VALUES ('before triggers');
          CREATE TRIGGER t_bump AFTER INSERT ON t BEGIN UPDATE t SET v = v + 100 WHERE id = new.id; INSERT INTO log VALUES ('fired'); END;
          CREATE TRIGGER t_refuse BEFORE INSERT ON log WHEN new.msg <> 'fired' BEGIN SELECT RAISE(ABORT, 'no'); END;
          CREATE VIEW v AS SELECT v FROM t;
          CREATE TRIGGER v_ins INSTEAD OF INSERT ON v BEGIN INSERT INTO t (v) VALUES (new.v); END;
        `);
      },
      (r) => {
        assert.deepEqual(
          query(r.hydratedPath, 'SELECT v FROM t ORDER BY id').map((x) => x.v),
          [1n, 2n, 3n],
        );
        assert.deepEqual(query(r.hydratedPath, 'SELECT msg FROM log'), [{ msg: 'before triggers' }]);
        assert.equal(
          query(r.hydratedPath, "SELECT count(*) AS n FROM sqlite_schema WHERE type = 'trigger'")[0]?.n,
          3n,
        );
        // The triggers are live afterwards.
        const db = new Database(r.hydratedPath);
        try {
          db.exec('INSERT INTO t (v) VALUES (4)');
          assert.equal(db.prepare('SELECT v FROM t WHERE id = 4').pluck().get(), 104);
        } finally {
          db.close();
        }
      },
    );
  });

  it('keeps foreign keys, reproducing existing violations instead of repairing them', async () => {
    await assertRoundTrip(
      (db) => {
        db.pragma('foreign_keys = OFF');
        db.exec(`
          CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE);
          CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);
          INSERT INTO parent VALUES (1, 'p1');
          INSERT INTO child VALUES (1, 1), (2, 99), (3, NULL);
        `);
      },
      (r) => {
        const violations = query(r.hydratedPath, 'PRAGMA foreign_key_check');
        assert.equal(violations.length, 1);
        assert.equal(violations[0]?.table, 'child');
        assert.equal(violations[0].rowid, 2n);
        assert.equal(query(r.hydratedPath, 'SELECT count(*) AS n FROM child')[0]?.n, 3n);
      },
    );
  });
});

/** Runs MATCH queries on a database and returns their results. */
function matches(path: string, queries: readonly string[]): unknown[][] {
  return queries.map((sql) => query(path, sql));
}

describe('exactness: planner statistics', () => {
  it('keeps sqlite_stat1 and sqlite_stat4 written by ANALYZE, and a database that has only sqlite_stat1', async () => {
    const setup = (dropStat4: boolean) => (db: Database.Database) => {
      db.exec(`
        CREATE TABLE t (id INTEGER PRIMARY KEY, a, b TEXT);
        CREATE INDEX t_a ON t (a);
        CREATE INDEX t_ab ON t (a, b);
      `);
      const ins = db.prepare('INSERT INTO t (a, b) VALUES (?, ?)');
      for (let i = 0; i < 300; i++) ins.run(BigInt(i % 7), `b${i % 13}`);
      db.exec('ANALYZE');
      // Hand-tuned statistics, as some applications write them.
      db.exec("UPDATE sqlite_stat1 SET stat = '1000000 5 1' WHERE idx = 't_ab'");
      if (dropStat4) db.exec('DROP TABLE sqlite_stat4');
    };
    for (const dropStat4 of [false, true]) {
      await assertRoundTrip(setup(dropStat4), (r) => {
        assert.deepEqual(query(r.hydratedPath, "SELECT stat FROM sqlite_stat1 WHERE idx = 't_ab'"), [
          { stat: '1000000 5 1' },
        ]);
        assert.equal(
          query(r.hydratedPath, "SELECT count(*) AS n FROM sqlite_schema WHERE name = 'sqlite_stat4'")[0]?.n,
          dropStat4 ? 0n : 1n,
        );
        assert.ok((r.after.tables.sqlite_stat1?.length ?? 0) >= 2);
      });
    }
  });
});

describe('exactness: existing CHECK violations', () => {
  it('reproduces rows that violate a CHECK constraint (written with ignore_check_constraints) instead of dropping them', async () => {
    await assertRoundTrip(
      (db) => {
        db.pragma('ignore_check_constraints = ON');
        db.exec(`
          CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER CHECK (a > 0), b TEXT, CHECK (length(b) < 3));
          INSERT INTO t (a, b) VALUES (5, 'ok'), (-1, 'ok'), (1, 'too long');
        `);
      },
      (r) => {
        assert.equal(query(r.hydratedPath, 'SELECT count(*) AS n FROM t')[0]?.n, 3n);
        // The constraint still holds for new rows.
        const db = new Database(r.hydratedPath);
        try {
          assert.throws(() => db.exec('INSERT INTO t (a, b) VALUES (-5, NULL)'), /CHECK constraint failed/);
        } finally {
          db.close();
        }
      },
    );
  });
});

describe('exactness: schemas written with double-quoted strings', () => {
  it('round-trips CHECK, DEFAULT, generated-column and partial-index text with "x" meaning the string x, as most tools write', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const src = join(dir, 'src');
      const out = join(dir, 'out');
      mkdirSync(src);
      // Python's sqlite3 (like the sqlite3 shell) accepts double-quoted strings; better-sqlite3 refuses them in new
      // statements, but reads them in a stored schema.
      const python = (script: string, ...args: string[]): string =>
        execFileSync('python3', ['-c', script, ...args], { encoding: 'utf8' });
      python(
        `import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.executescript('''
CREATE TABLE "orders" (id INTEGER PRIMARY KEY, "status" TEXT CHECK ("status" IN ("new", "paid", "it's")),
  note TEXT DEFAULT "none", tag AS ("t-" || "status") STORED);
CREATE INDEX "paid_orders" ON "orders" ("status") WHERE "status" = "paid";
CREATE INDEX expr_idx ON orders (coalesce(note, "x""y"));
CREATE TRIGGER trg AFTER INSERT ON orders BEGIN UPDATE orders SET note = "trig" WHERE id = new.id AND note = "none"; END;
INSERT INTO orders (status) VALUES ('new'), ('paid'), ('it''s');
''')
c.commit()`,
        join(src, 'app.db'),
      );
      assert.deepEqual((await new DBHydrationManager({ dataDir: src }).dehydrateAll()).errors, []);
      const hydrated = await new DBHydrationManager({
        dataDir: out,
        archiveDir: join(src, 'json_archives'),
      }).hydrateAll();
      assert.deepEqual(hydrated.errors, []);
      assert.deepEqual(snapshot(join(out, 'app.db')), snapshot(join(src, 'app.db')));
      // It behaves the same: the CHECK holds, the default and the trigger apply, the partial index is used.
      const behaviour = `import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("INSERT INTO orders (status) VALUES ('paid')")
try:
    c.execute("INSERT INTO orders (status) VALUES ('lost')")
    print('no check')
except sqlite3.IntegrityError as e:
    print(e)
print(c.execute("SELECT group_concat(id || note || tag, ',') FROM orders").fetchone()[0])
print(c.execute("SELECT count(*) FROM orders INDEXED BY paid_orders WHERE status = 'paid'").fetchone()[0])
print(c.execute('PRAGMA integrity_check').fetchone()[0])`;
      const expected = python(behaviour, join(src, 'app.db'));
      assert.match(
        expected,
        /^CHECK constraint failed: status\n1trigt-new,2trigt-paid,3trigt-it's,4trigt-paid\n2\nok\n$/,
      );
      assert.equal(python(behaviour, join(out, 'app.db')), expected);
    } finally {
      cleanup();
    }
  });
});

describe('exactness: virtual tables', () => {
  it('keeps FTS3 and FTS4 tables with their index (MATCH gives the same results)', async () => {
    const queries = [
      "SELECT rowid, body FROM f3 WHERE f3 MATCH 'quick' ORDER BY rowid",
      "SELECT rowid, body FROM f4 WHERE f4 MATCH 'dog OR cat' ORDER BY rowid",
      "SELECT rowid, snippet(f4) AS s FROM f4 WHERE f4 MATCH 'lazy' ORDER BY rowid",
      "SELECT rowid FROM f4c WHERE f4c MATCH 'hidden' ORDER BY rowid",
      "SELECT rowid, body FROM f4x WHERE f4x MATCH 'external' ORDER BY rowid",
      "SELECT rowid FROM f4v WHERE f4v MATCH 'external' ORDER BY rowid",
    ];
    let before: unknown[][] = [];
    await assertRoundTrip(
      (db) => {
        db.exec(`
          CREATE VIRTUAL TABLE f3 USING fts3(body);
          CREATE VIRTUAL TABLE f4 USING fts4(title, body, tokenize=porter);
          CREATE VIRTUAL TABLE f4c USING fts4(content="", body);
          CREATE TABLE src (body);
          CREATE VIRTUAL TABLE f4x USING fts4(content="src", body);
          INSERT INTO src (rowid, body) VALUES (1, 'external text'), (2, 'more external');
          INSERT INTO f4x (docid, body) SELECT rowid, body FROM src;
          CREATE VIEW src_view AS SELECT rowid AS docid, body FROM src;
          CREATE VIRTUAL TABLE f4v USING fts4(content=[src_view], body);
          INSERT INTO f4v (docid, body) SELECT rowid, body FROM src;
          INSERT INTO f3 (rowid, body) VALUES (5, 'the quick brown fox'), (9, 'quick quick');
          INSERT INTO f4 (rowid, title, body) VALUES (1, 'a', 'lazy dog'), (3, 'b', 'cats and dogs'), (4, 'c', 'lazy cat');
          DELETE FROM f4 WHERE rowid = 1;
          INSERT INTO f4c (docid, body) VALUES (7, 'hidden words'), (8, 'more hidden');
        `);
      },
      (r) => {
        before = matches(r.sourcePath, queries);
        assert.deepEqual(matches(r.hydratedPath, queries), before);
        assert.equal(before[0]?.length, 2);
        assert.equal(before[3]?.length, 2);
        assert.equal(before[4]?.length, 2);
        assert.equal(before[5]?.length, 2);
        assert.match(r.archive, /"f4_segdir": \{"schema"/);
        // SQLite's quick_check cannot validate a contentless FTS4 index, nor one whose content is a view; that must
        // not count as damage anywhere.
        assert.equal(checkDatabase(r.sourcePath).status, 'valid');
        assert.equal(checkDatabase(r.hydratedPath).status, 'valid');
      },
    );
  });

  it('keeps FTS5 tables, external-content and contentless ones whose text lives only in the index', async () => {
    const queries = [
      "SELECT rowid, body FROM plain5 WHERE plain5 MATCH 'alpha' ORDER BY rowid",
      "SELECT rowid, body FROM ext WHERE ext MATCH 'beta' ORDER BY rowid",
      // The external content no longer holds this word: only the index does.
      "SELECT rowid FROM ext WHERE ext MATCH 'ghost' ORDER BY rowid",
      "SELECT rowid FROM cl WHERE cl MATCH 'gamma' ORDER BY rowid",
      "SELECT rowid FROM cl WHERE cl MATCH 'delta NOT gamma' ORDER BY rowid",
      "SELECT rowid, highlight(plain5, 0, '[', ']') AS h FROM plain5 WHERE plain5 MATCH 'alp*' ORDER BY rank",
      'SELECT term, doc, cnt FROM v5 ORDER BY term',
    ];
    await assertRoundTrip(
      (db) => {
        db.exec(`
          CREATE VIRTUAL TABLE plain5 USING fts5(body, tokenize='porter unicode61');
          CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT);
          CREATE VIRTUAL TABLE ext USING fts5(body, content='docs', content_rowid='id');
          CREATE VIRTUAL TABLE cl USING fts5(body, content='');
          CREATE VIRTUAL TABLE v5 USING fts5vocab(plain5, row);
          INSERT INTO plain5 (rowid, body) VALUES (1, 'alpha beta'), (2, 'alphabet soup'), (10, 'alpha alpha');
          INSERT INTO docs VALUES (1, 'beta one'), (2, 'beta two ghost');
          INSERT INTO ext (rowid, body) SELECT id, body FROM docs;
          UPDATE docs SET body = 'beta two' WHERE id = 2;
          INSERT INTO cl (rowid, body) VALUES (3, 'gamma delta'), (4, 'delta only'), (5, 'gamma');
          INSERT INTO plain5 (plain5) VALUES ('optimize');
        `);
      },
      (r) => {
        const before = matches(r.sourcePath, queries);
        assert.deepEqual(matches(r.hydratedPath, queries), before);
        assert.deepEqual(before[2], [{ rowid: 2n }], 'the source index holds the ghost word');
        assert.deepEqual(before[3], [{ rowid: 3n }, { rowid: 5n }]);
        const db = new Database(r.hydratedPath);
        try {
          db.exec("INSERT INTO plain5 (plain5) VALUES ('integrity-check')");
          db.exec("INSERT INTO cl (cl) VALUES ('integrity-check')");
        } finally {
          db.close();
        }
      },
    );
  });

  it('keeps R*Tree tables and their node structure', async () => {
    await assertRoundTrip(
      (db) => {
        db.exec(`
          CREATE VIRTUAL TABLE rt USING rtree(id, minX, maxX, minY, maxY, +label);
          CREATE VIRTUAL TABLE rti USING rtree_i32(id, a, b);
        `);
        const ins = db.prepare('INSERT INTO rt VALUES (?, ?, ?, ?, ?, ?)');
        for (let i = 1; i <= 200; i++) ins.run(BigInt(i), i, i + 0.5, -i, -i + 2.25, `box ${i}`);
        db.exec('DELETE FROM rt WHERE id % 7 = 0; INSERT INTO rti VALUES (1, -5, 5), (2, 0, 100)');
      },
      (r) => {
        const sql = 'SELECT id, label FROM rt WHERE minX >= 10 AND maxX <= 40.5 AND minY >= -30 ORDER BY id';
        assert.deepEqual(query(r.hydratedPath, sql), query(r.sourcePath, sql));
        assert.equal(query(r.hydratedPath, sql).length, 18);
        assert.deepEqual(query(r.hydratedPath, "SELECT rtreecheck('rt') AS c, rtreecheck('rti') AS d"), [
          { c: 'ok', d: 'ok' },
        ]);
      },
    );
  });
});

describe('exactness: pragmas and file settings', () => {
  it('keeps negative user_version and application_id', async () => {
    await assertRoundTrip(
      (db) => {
        db.pragma('user_version = -2147483648');
        db.pragma('application_id = -1');
        db.exec('CREATE TABLE t (a)');
      },
      (r) => {
        assert.equal(r.after.pragmas.user_version, -2147483648);
        assert.equal(r.after.pragmas.application_id, -1);
      },
    );
  });

  for (const encoding of ['UTF-16le', 'UTF-16be'] as const) {
    it(`keeps ${encoding} databases, with their text byte for byte`, async () => {
      // The last two: U+FFFE and U+FFFF, valid UTF-16 that SQLite's UTF-8 to UTF-16 conversion would make U+FFFD.
      const units =
        encoding === 'UTF-16le'
          ? ['00d8', '00d84100', '00dc4100', 'feff', '4100ffff']
          : ['d800', 'd8000041', 'dc000041', 'fffe', '0041ffff'];
      await assertRoundTrip(
        (db) => {
          db.pragma(`encoding = '${encoding}'`);
          db.exec('CREATE TABLE "tëxt 🎉" (id INTEGER PRIMARY KEY, s TEXT, u)');
          const ins = db.prepare('INSERT INTO "tëxt 🎉" (s, u) VALUES (?, ?)');
          for (const s of ['', 'a\u0000b', 'emoji 🎉', 'e\u0301', '\uFFFD']) ins.run(s, s);
          ins.run(1.0, Buffer.from([1, 2, 3]));
          // A lone high surrogate at the end, one followed by 'A' (SQLite's UTF-16 to UTF-8 conversion silently joins
          // those two into one astral character), and a lone low surrogate.
          for (const hex of units) {
            db.exec(`INSERT INTO "tëxt 🎉" (s, u) VALUES (CAST(x'${hex}' AS TEXT), CAST(x'${hex}' AS TEXT))`);
          }
        },
        (r) => {
          assert.equal(r.after.pragmas.encoding, encoding);
          const hex = (path: string): unknown[] =>
            query(path, 'SELECT hex(s) AS s, hex(u) AS u FROM "tëxt 🎉" ORDER BY id').map(
              (x) => `${String(x.s)} ${String(x.u)}`,
            );
          assert.deepEqual(hex(r.hydratedPath), hex(r.sourcePath));
          assert.deepEqual(
            hex(r.hydratedPath).slice(-units.length),
            units.map((u) => `${u.toUpperCase()} ${u.toUpperCase()}`),
          );
        },
      );
    });
  }

  for (const pageSize of [1024, 8192, 65536]) {
    it(`keeps page_size ${pageSize}`, async () => {
      await assertRoundTrip(
        (db) => {
          db.pragma(`page_size = ${pageSize}`);
          db.exec("CREATE TABLE t (a); INSERT INTO t VALUES (randomblob(3000)), ('x')");
        },
        (r) => {
          assert.equal(r.after.pragmas.page_size, pageSize);
        },
      );
    });
  }

  for (const [mode, value] of [
    ['full', 1],
    ['incremental', 2],
  ] as const) {
    it(`keeps auto_vacuum = ${mode}`, async () => {
      await assertRoundTrip(
        (db) => {
          db.pragma(`auto_vacuum = ${mode}`);
          db.exec("CREATE TABLE t (a); INSERT INTO t VALUES ('x')");
        },
        (r) => {
          assert.equal(r.after.pragmas.auto_vacuum, value);
        },
      );
    });
  }

  it('keeps journal_mode WAL', async () => {
    await assertRoundTrip(
      (db) => {
        db.pragma('journal_mode = WAL');
        db.exec("CREATE TABLE t (a); INSERT INTO t VALUES ('x')");
      },
      (r) => {
        assert.equal(r.after.pragmas.journal_mode, 'wal');
        assert.equal(readFileSync(r.hydratedPath)[18], 2, 'the file header says WAL');
      },
    );
  });

  it('reads a WAL database whose latest commits are only in its -wal file, and leaves the files as they were', async () => {
    const { dir, cleanup } = tempDir();
    const writer = new Database(join(dir, 'data.db'));
    try {
      const dataDir = dir;
      const dbPath = join(dir, 'data.db');
      writer.pragma('journal_mode = WAL');
      writer.pragma('wal_autocheckpoint = 0');
      writer.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v)');
      writer.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      writer.exec("INSERT INTO t (v) VALUES ('only in the wal'), (x'00'), (2.0)");
      writer.exec('CREATE TABLE later (x); INSERT INTO later VALUES (1)');
      const walPath = `${dbPath}-wal`;
      assert.ok(existsSync(walPath) && statSync(walPath).size > 0, 'the -wal file holds commits');
      const mainBytes = readFileSync(dbPath);
      utimesSync(dbPath, new Date('2020-01-01T00:00:00Z'), new Date('2020-01-01T00:00:00Z'));
      const mtime = statSync(dbPath).mtimeMs;
      // A fresh connection sees the WAL content; the main file alone does not.
      const before = snapshot(dbPath);
      assert.equal(before.tables.t?.length, 3);

      const archiveDir = join(dir, 'archives');
      const otherDir = join(dir, 'other');
      await dehydrateAndHydrate(dataDir, otherDir, archiveDir);
      assert.deepEqual(snapshot(join(otherDir, 'data.db')), before);
      assert.ok(existsSync(walPath), 'the -wal file is still there');
      assert.ok(readFileSync(dbPath).equals(mainBytes), 'the main file is byte-identical');
      assert.equal(statSync(dbPath).mtimeMs, mtime, 'the main file was not touched');
      // The writer still works on its database.
      writer.exec("INSERT INTO t (v) VALUES ('after')");
      assert.equal(writer.prepare('SELECT count(*) FROM t').pluck().get(), 4);
    } finally {
      writer.close();
      cleanup();
    }
  });
});

describe('exactness: shapes and names', () => {
  it('keeps a database with no tables', async () => {
    await assertRoundTrip(
      (db) => {
        db.pragma('user_version = 3');
      },
      (r) => {
        assert.deepEqual(r.after.schema, []);
        assert.equal(r.after.pragmas.user_version, 3);
      },
    );
  });

  it('keeps empty tables (rowid, WITHOUT ROWID, STRICT, AUTOINCREMENT)', async () => {
    await assertRoundTrip(
      (db) => {
        db.exec(`
          CREATE TABLE a (x);
          CREATE TABLE b (k PRIMARY KEY, v) WITHOUT ROWID;
          CREATE TABLE c (x INT) STRICT;
          CREATE TABLE d (id INTEGER PRIMARY KEY AUTOINCREMENT);
        `);
      },
      (r) => {
        assert.deepEqual(Object.keys(r.after.tables).sort(), ['a', 'b', 'c', 'd', 'sqlite_sequence']);
        assert.ok(Object.values(r.after.tables).every((rows) => rows.length === 0));
      },
    );
  });

  it('keeps 300 tables', async () => {
    await assertRoundTrip(
      (db) => {
        for (let i = 0; i < 300; i++) {
          db.exec(
            `CREATE TABLE "t${i}" (id INTEGER PRIMARY KEY, v); INSERT INTO "t${i}" (v) VALUES (${i}), ('${i}')`,
          );
        }
      },
      (r) => {
        assert.equal(Object.keys(r.after.tables).length, 300);
      },
    );
  });

  it('keeps a 1000-column table', async () => {
    const cols = Array.from({ length: 1000 }, (_, i) => `c${i}`);
    await assertRoundTrip(
      (db) => {
        db.exec(
          `CREATE TABLE wide (${cols.map((c, i) => `${c} ${['', 'INTEGER', 'REAL', 'TEXT', 'BLOB'][i % 5] ?? ''}`).join(', ')})`,
        );
        const ins = db.prepare(`INSERT INTO wide VALUES (${cols.map(() => '?').join(', ')})`);
        for (let row = 0; row < 5; row++) {
          ins.run(
            ...cols.map(
              (_, i) => [null, BigInt(i * row), i + 0.5, `s${i}`, Buffer.from([i & 255])][(i + row) % 5],
            ),
          );
        }
      },
      (r) => {
        assert.equal(
          query(r.hydratedPath, 'SELECT count(*) AS n FROM pragma_table_info(?)', 'wide')[0]?.n,
          1000n,
        );
        // Compared column by column here: one SELECT of 3 × 1000 expressions is beyond SQLite's column limit.
        const cells = (path: string): unknown[] => {
          const db = new Database(path, { readonly: true });
          try {
            return cols.flatMap((c) =>
              db.prepare(`SELECT typeof(${c}) AS t, quote(${c}) AS v FROM wide ORDER BY rowid`).all(),
            );
          } finally {
            db.close();
          }
        };
        const after = cells(r.hydratedPath);
        assert.equal(after.length, 5000);
        assert.deepEqual(after, cells(r.sourcePath));
      },
    );
  });

  it('keeps identifiers with spaces, quotes, brackets, backticks, dots, slashes, keywords, unicode, newlines, and the empty name', async () => {
    const names = [
      'with space',
      'double"quote',
      "single'quote",
      '[brackets]',
      '`backticks`',
      'dot.ted',
      'slash/ed\\back',
      'select',
      'TABLE',
      'order',
      'ünïcödé 名前 🎉',
      ' leading and trailing ',
      'semi;colon--',
      'new\nline\ttab\r\u2028',
      '',
    ];
    await assertRoundTrip(
      (db) => {
        for (const [i, t] of names.entries()) {
          const cols = names.map((c) => `${q(c)} ${i % 2 === 0 ? '' : 'TEXT'}`).join(', ');
          db.exec(`CREATE TABLE ${q(t)} (${cols})`);
          db.prepare(`INSERT INTO ${q(t)} VALUES (${names.map(() => '?').join(', ')})`).run(...names);
          db.exec(`CREATE INDEX ${q(`${t} idx`)} ON ${q(t)} (${q(names[(i + 1) % names.length] ?? '')})`);
          db.exec(`CREATE VIEW ${q(`${t} view`)} AS SELECT ${q(names[i] ?? '')} FROM ${q(t)}`);
          db.exec(`CREATE TRIGGER ${q(`${t} trg`)} AFTER DELETE ON ${q(t)} BEGIN SELECT 1; END`);
        }
      },
      (r) => {
        assert.equal(Object.keys(r.after.tables).length, names.length);
        assert.equal(r.after.schema.length, names.length * 4);
      },
    );
  });
});

describe('exactness: the source is never changed', () => {
  it('leaves the bytes and mtime of the database file as they were', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const dbPath = join(dir, 'x.db');
      makeDatabase(dbPath, (db) => {
        db.exec("CREATE TABLE t (a); INSERT INTO t VALUES (1), ('x'); CREATE VIRTUAL TABLE f USING fts5(b)");
        db.exec("INSERT INTO f VALUES ('word')");
      });
      const old = new Date('2020-01-01T00:00:00Z');
      utimesSync(dbPath, old, old);
      const bytes = readFileSync(dbPath);
      const result = await new DBHydrationManager({ dataDir: dir }).dehydrateAll();
      assert.deepEqual(result.errors, []);
      assert.ok(readFileSync(dbPath).equals(bytes));
      assert.equal(statSync(dbPath).mtimeMs, old.getTime());
      assert.ok(!existsSync(`${dbPath}-journal`));
    } finally {
      cleanup();
    }
  });
});

describe('exactness: one consistent snapshot', () => {
  it('reads the whole database inside one read transaction, even while another connection commits', async () => {
    const { dir, cleanup } = tempDir();
    const dbPath = join(dir, 'live.db');
    makeDatabase(dbPath, (db) => {
      db.pragma('journal_mode = WAL');
      db.exec(`
        CREATE TABLE a_first (id INTEGER PRIMARY KEY, v);
        CREATE TABLE b_second (id INTEGER PRIMARY KEY, v);
        INSERT INTO a_first (v) VALUES ('a1'), ('a2');
        INSERT INTO b_second (v) VALUES ('b1');
      `);
    });
    const before = snapshot(dbPath);
    const writer = new Database(dbPath);
    let commits = 0;
    try {
      const manager = new DBHydrationManager({
        dataDir: dir,
        archiveDir: join(dir, 'archives'),
        onProgress: (event) => {
          // While table a_first is being read, another connection changes both tables and commits.
          if (event.phase === 'dehydrate' && event.table === 'a_first' && event.rowsDone === 0) {
            writer.exec("INSERT INTO b_second (v) VALUES ('b2'); DELETE FROM a_first WHERE id = 1");
            commits++;
          }
        },
      });
      const result = await manager.dehydrateAll();
      assert.deepEqual(result.errors, []);
      assert.equal(commits, 1, 'the concurrent commit happened during the export');
      assert.equal(writer.prepare('SELECT count(*) FROM b_second').pluck().get(), 2);
    } finally {
      writer.close();
    }
    try {
      const other = join(dir, 'other');
      const back = await new DBHydrationManager({
        dataDir: other,
        archiveDir: join(dir, 'archives'),
      }).hydrateAll();
      assert.deepEqual(back.errors, []);
      // The archive is the database as it was when the read began: neither commit shows.
      assert.deepEqual(snapshot(join(other, 'live.db')), before);
    } finally {
      cleanup();
    }
  });
});

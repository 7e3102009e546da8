/**
 * Git-friendliness of archives: one row per line, deterministic order, keys in column order, no rewrite of an
 * unchanged archive, stable bytes across machines, one changed cell = one changed row line.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DBHydrationManager } from '../src/index.js';
import { makeDatabase, tempDir } from './helpers/fixtures.js';

const OLD = new Date('2020-01-01T00:00:00Z');

/** The archive without its `exported_at` line. */
const withoutExportedAt = (text: string): string => text.replace(/^"exported_at": .*\n/m, '');

async function dehydrate(
  dataDir: string,
  archiveDir: string,
  force = false,
): Promise<Awaited<ReturnType<DBHydrationManager['dehydrateAll']>>> {
  const result = await new DBHydrationManager({ dataDir, archiveDir }).dehydrateAll({ force });
  assert.deepEqual(result.errors, []);
  return result;
}

/** A database with several kinds of tables, rows inserted out of key order, and schema objects. */
function buildShop(db: Database.Database, reversed: boolean): void {
  const tables = [
    'CREATE TABLE trades (id INTEGER PRIMARY KEY AUTOINCREMENT, symbol TEXT NOT NULL, price REAL, note)',
    'CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID',
    'CREATE TABLE "z log" (msg, at)',
    'CREATE VIRTUAL TABLE docs USING fts5(body)',
  ];
  const objects = [
    'CREATE INDEX trades_symbol ON trades (symbol)',
    'CREATE INDEX a_kv_v ON kv (v)',
    'CREATE VIEW v_trades AS SELECT * FROM trades',
    'CREATE VIEW a_view AS SELECT 1',
    'CREATE TRIGGER t_log AFTER INSERT ON trades BEGIN SELECT 1; END',
  ];
  for (const s of reversed ? [...tables].reverse() : tables) db.exec(s);
  for (const s of reversed ? [...objects].reverse() : objects) db.exec(s);
  const trades: [bigint, string, number | null, unknown][] = [
    [3n, 'SOL', 1.5, 1n],
    [1n, 'BTC', 2.0, 'x'],
    [2n, 'ETH', null, Buffer.from([1])],
    [10n, 'ADA', -0.25, null],
  ];
  const kv: [string, unknown][] = [
    ['b', 1n],
    ['a', 'one'],
    ['c', 1.0],
  ];
  const log: [bigint, string, bigint][] = [
    [7n, 'seventh', 1n],
    [2n, 'second', 2n],
  ];
  for (const row of reversed ? [...trades].reverse() : trades)
    db.prepare('INSERT INTO trades VALUES (?, ?, ?, ?)').run(...row);
  for (const row of reversed ? [...kv].reverse() : kv) db.prepare('INSERT INTO kv VALUES (?, ?)').run(...row);
  for (const row of reversed ? [...log].reverse() : log)
    db.prepare('INSERT INTO "z log" (rowid, msg, at) VALUES (?, ?, ?)').run(...row);
  db.exec("INSERT INTO docs (rowid, body) VALUES (2, 'two words'), (1, 'one')");
}

describe('git-friendly archives', () => {
  it('writes one row per line, keys in column order, rows in key order, tables and objects sorted', async () => {
    const { dir, cleanup } = tempDir();
    try {
      makeDatabase(join(dir, 'shop.db'), (db) => {
        buildShop(db, false);
      });
      await dehydrate(dir, join(dir, 'a'));
      const text = readFileSync(join(dir, 'a', 'shop.json'), 'utf8');
      const doc = JSON.parse(text) as {
        tables: Record<string, { rows: Record<string, unknown>[]; row_count: number }>;
        objects: { type: string; name: string }[];
      };
      const lines = text.split('\n');
      // Every row is exactly one line holding one JSON object, and no row spans lines.
      let rowLines = 0;
      for (const [name, table] of Object.entries(doc.tables)) {
        for (const row of table.rows) {
          const line = JSON.stringify(row);
          const found = lines.filter((l) => l === line || l === `${line},`);
          assert.equal(found.length, 1, `row ${line} of ${name} is one line`);
          rowLines++;
        }
      }
      assert.equal(lines.filter((l) => l.startsWith('{"') && !l.startsWith('{"type":')).length, rowLines);
      assert.deepEqual(Object.keys(doc.tables), [...Object.keys(doc.tables)].sort());
      assert.deepEqual(Object.keys(doc.tables).slice(0, 3), ['docs', 'docs_config', 'docs_content']);
      assert.deepEqual(
        doc.objects.map((o) => `${o.type}:${o.name}`),
        ['index:a_kv_v', 'index:trades_symbol', 'view:a_view', 'view:v_trades', 'trigger:t_log'],
      );
      assert.deepEqual(
        doc.tables.trades?.rows.map((r) => Object.keys(r)),
        Array.from({ length: 4 }, () => ['id', 'symbol', 'price', 'note']),
      );
      assert.deepEqual(
        doc.tables.trades.rows.map((r) => r.id),
        [1, 2, 3, 10],
      );
      assert.deepEqual(
        doc.tables.kv?.rows.map((r) => r.k),
        ['a', 'b', 'c'],
      );
      assert.deepEqual(
        doc.tables['z log']?.rows.map((r) => [Object.keys(r), r.rowid]),
        [
          [['rowid', 'msg', 'at'], 2],
          [['rowid', 'msg', 'at'], 7],
        ],
      );
    } finally {
      cleanup();
    }
  });

  it('writes the same bytes for the same content, whatever order it was created in, but for schema_order', async () => {
    const { dir, cleanup } = tempDir();
    try {
      mkdirSync(join(dir, 'one'));
      mkdirSync(join(dir, 'two'));
      makeDatabase(join(dir, 'one', 'shop.db'), (db) => {
        buildShop(db, false);
      });
      makeDatabase(join(dir, 'two', 'shop.db'), (db) => {
        buildShop(db, true);
      });
      await dehydrate(join(dir, 'one'), join(dir, 'a1'));
      await dehydrate(join(dir, 'two'), join(dir, 'a2'));
      const one = readFileSync(join(dir, 'a1', 'shop.json'), 'utf8');
      const two = readFileSync(join(dir, 'a2', 'shop.json'), 'utf8');
      // The creation order is content too (`.schema` and `.dump` show it): it is recorded, and nothing else differs.
      const order = /"schema_order": \[\n[^\]]*\]\n/;
      assert.equal(withoutExportedAt(two).replace(order, ''), withoutExportedAt(one).replace(order, ''));
      const orderOf = (text: string): string[] =>
        (JSON.parse(text) as { schema_order: { type: string; name: string }[] }).schema_order.map(
          (e) => `${e.type}:${e.name}`,
        );
      const created = [
        'table:trades',
        'table:sqlite_sequence',
        'table:kv',
        'table:z log',
        'table:docs',
        'table:docs_data',
        'table:docs_idx',
        'table:docs_content',
        'table:docs_docsize',
        'table:docs_config',
        'index:trades_symbol',
        'index:a_kv_v',
        'view:v_trades',
        'view:a_view',
        'trigger:t_log',
      ];
      assert.deepEqual(orderOf(one), created);
      assert.deepEqual(orderOf(two), [
        ...created.slice(4, 10),
        'table:z log',
        'table:kv',
        'table:trades',
        'table:sqlite_sequence',
        ...created.slice(10).reverse(),
      ]);
    } finally {
      cleanup();
    }
  });

  it('leaves the archive and the manifest untouched when the database did not change', async () => {
    const { dir, cleanup } = tempDir();
    try {
      makeDatabase(join(dir, 'shop.db'), (db) => {
        buildShop(db, false);
      });
      const archiveDir = join(dir, 'a');
      const first = await dehydrate(dir, archiveDir);
      assert.equal(first.databases['shop.db']?.changed, true);
      const archive = join(archiveDir, 'shop.json');
      const manifest = join(archiveDir, 'manifest.json');
      utimesSync(archive, OLD, OLD);
      utimesSync(manifest, OLD, OLD);
      const bytes = readFileSync(archive);
      const manifestBytes = readFileSync(manifest);

      const second = await dehydrate(dir, archiveDir);
      assert.equal(second.databases['shop.db']?.changed, false);
      assert.equal(second.manifestChanged, false);
      assert.ok(readFileSync(archive).equals(bytes), 'archive bytes unchanged');
      assert.equal(statSync(archive).mtimeMs, OLD.getTime(), 'archive not rewritten');
      assert.ok(readFileSync(manifest).equals(manifestBytes), 'manifest bytes unchanged');
      assert.equal(statSync(manifest).mtimeMs, OLD.getTime(), 'manifest not rewritten');
      assert.notEqual(second.timestamp, '');
    } finally {
      cleanup();
    }
  });

  it('changes exported_at (and rewrites archive and manifest) only when the content changed', async () => {
    const { dir, cleanup } = tempDir();
    try {
      makeDatabase(join(dir, 'shop.db'), (db) => {
        buildShop(db, false);
      });
      const archiveDir = join(dir, 'a');
      await dehydrate(dir, archiveDir);
      const archive = join(archiveDir, 'shop.json');
      const exportedAt = (): unknown =>
        (JSON.parse(readFileSync(archive, 'utf8')) as { exported_at: unknown }).exported_at;
      const at1 = exportedAt();
      await new Promise((resolve) => setTimeout(resolve, 5));
      await dehydrate(dir, archiveDir);
      assert.equal(exportedAt(), at1, 'unchanged content keeps exported_at');

      makeDatabase(join(dir, 'shop.db'), (db) => {
        db.exec("UPDATE kv SET v = 2 WHERE k = 'b'");
      });
      const third = await dehydrate(dir, archiveDir);
      assert.equal(third.databases['shop.db']?.changed, true);
      assert.equal(third.manifestChanged, true);
      const at3 = exportedAt();
      assert.notEqual(at3, at1);
      assert.ok(typeof at3 === 'string' && typeof at1 === 'string' && at3 > at1);
    } finally {
      cleanup();
    }
  });

  it('rewrites an archive that differs from the database in any byte: edited, cut short, grown, or larger than 1 MiB', async () => {
    const { dir, cleanup } = tempDir();
    try {
      makeDatabase(join(dir, 'shop.db'), (db) => {
        buildShop(db, false);
        // Rows enough for an archive of several 1 MiB chunks, so the comparison crosses chunk boundaries.
        db.exec('CREATE TABLE big (id INTEGER PRIMARY KEY, t TEXT)');
        const insert = db.prepare('INSERT INTO big (t) VALUES (?)');
        db.transaction(() => {
          for (let i = 0; i < 45_000; i++) insert.run(`row ${i} ${'y'.repeat(i % 97)}`);
        })();
      });
      const archiveDir = join(dir, 'a');
      await dehydrate(dir, archiveDir);
      const archive = join(archiveDir, 'shop.json');
      const good = readFileSync(archive);
      assert.ok(good.length > 3 << 20, `the archive spans several chunks (${good.length} bytes)`);
      const edits: [string, (b: Buffer) => Buffer][] = [
        [
          'a byte changed in the last chunk',
          (b) => Buffer.concat([b.subarray(0, -40), Buffer.from('X'), b.subarray(-39)]),
        ],
        [
          'a byte changed at a chunk boundary',
          (b) => Buffer.concat([b.subarray(0, 1 << 20), Buffer.from('Z'), b.subarray((1 << 20) + 1)]),
        ],
        ['cut short by one byte', (b) => b.subarray(0, -1)],
        ['one byte added at the end', (b) => Buffer.concat([b, Buffer.from('\n')])],
        [
          'exported_at line removed',
          (b) => Buffer.from(b.toString('utf8').replace(/^"exported_at": .*\n/m, '')),
        ],
      ];
      for (const [what, edit] of edits) {
        writeFileSync(archive, edit(good));
        // The archive changed since the database last matched it: plain dehydrate refuses (it could be a
        // teammate's change); `force` writes the database over it.
        const refused = await new DBHydrationManager({ dataDir: dir, archiveDir }).dehydrateAll();
        // (Without its exported_at line the archive's content is the same: nothing to protect, it is rewritten.)
        const content = what === 'exported_at line removed';
        assert.deepEqual(
          refused.errorDetails.map((e) => e.code),
          content ? [] : ['ARCHIVE_CHANGED'],
          what,
        );
        if (!content) assert.ok(readFileSync(archive).equals(edit(good)), `${what}: left as it was`);
        else writeFileSync(archive, edit(good));
        const result = await dehydrate(dir, archiveDir, true);
        assert.equal(result.databases['shop.db']?.changed, true, what);
        assert.equal(
          withoutExportedAt(readFileSync(archive, 'utf8')),
          withoutExportedAt(good.toString('utf8')),
          what,
        );
      }
      // Only the exported_at line differs (a longer value): the content is the same, so the archive is kept.
      const kept = Buffer.from(
        good.toString('utf8').replace(/^("exported_at": ")[^"]*/m, '$1an older export, longer'),
      );
      writeFileSync(archive, kept);
      assert.equal((await dehydrate(dir, archiveDir)).databases['shop.db']?.changed, false);
      assert.ok(readFileSync(archive).equals(kept));
    } finally {
      cleanup();
    }
  });

  it('gives the same bytes after dehydrate, hydrate elsewhere, dehydrate (exported_at aside)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const data = join(dir, 'data');
      mkdirSync(data);
      makeDatabase(join(data, 'shop.db'), (db) => {
        buildShop(db, false);
        db.pragma('user_version = -5');
        db.exec(`
          CREATE TABLE odd (a, b REAL, c BLOB, d TEXT);
          INSERT INTO odd (rowid, a, b, c, d) VALUES (9, 9223372036854775807, -0.0, x'', CAST(x'ff' AS TEXT)), (4, 1.0, 1.0, NULL, 'e\u0301');
          CREATE VIRTUAL TABLE rt USING rtree(id, x0, x1);
          INSERT INTO rt VALUES (1, 0, 1), (2, 5, 6);
        `);
      });
      await dehydrate(data, join(dir, 'a1'));
      const back = await new DBHydrationManager({
        dataDir: join(dir, 'machine2'),
        archiveDir: join(dir, 'a1'),
      }).hydrateAll();
      assert.deepEqual(back.errors, []);
      await dehydrate(join(dir, 'machine2'), join(dir, 'a2'));
      const one = readFileSync(join(dir, 'a1', 'shop.json'), 'utf8');
      const two = readFileSync(join(dir, 'a2', 'shop.json'), 'utf8');
      // Everything, the creation order of the schema included (schema_order), comes back the same.
      assert.equal(withoutExportedAt(two), withoutExportedAt(one));
      assert.notEqual(withoutExportedAt(one), one, 'the exported_at line was there to remove');
    } finally {
      cleanup();
    }
  });

  it('changes exactly one row line (and exported_at) when one cell of one row changes, also in git diff', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const data = join(dir, 'data');
      const repo = join(dir, 'repo');
      mkdirSync(data);
      mkdirSync(repo);
      makeDatabase(join(data, 'big.db'), (db) => {
        db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER, price REAL)');
        db.exec('CREATE TABLE u (a, b)');
        const ins = db.prepare('INSERT INTO t (name, qty, price) VALUES (?, ?, ?)');
        for (let i = 0; i < 500; i++) ins.run(`item ${i}`, BigInt(i), i / 3);
        db.exec("INSERT INTO u VALUES (1, 'x'), (2, 'y')");
      });
      const git = (...args: string[]): string =>
        execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
          cwd: repo,
          encoding: 'utf8',
        });
      git('init', '-q');
      await dehydrate(data, repo);
      const before = readFileSync(join(repo, 'big.json'), 'utf8').split('\n');
      git('add', 'big.json');
      git('commit', '-q', '-m', 'first');

      makeDatabase(join(data, 'big.db'), (db) => {
        db.exec('UPDATE t SET qty = 1000 WHERE id = 250');
      });
      await dehydrate(data, repo);
      const after = readFileSync(join(repo, 'big.json'), 'utf8').split('\n');
      assert.equal(after.length, before.length);
      const changed = before.flatMap((line, i) => (line === after[i] ? [] : [i]));
      assert.equal(changed.length, 2);
      const rowLine = changed.find((i) => !(before[i] ?? '').startsWith('"exported_at"'));
      assert.ok(rowLine !== undefined);
      assert.ok(changed.some((i) => (before[i] ?? '').startsWith('"exported_at"')));
      assert.equal(before[rowLine], '{"id":250,"name":"item 249","qty":249,"price":83},');
      assert.equal(after[rowLine], '{"id":250,"name":"item 249","qty":1000,"price":83},');
      assert.equal(git('diff', '--numstat', '--', 'big.json').trim(), '2\t2\tbig.json');
      const diff = git('diff', '-U0', '--', 'big.json');
      assert.deepEqual(
        diff.split('\n').filter((l) => /^[-+][^-+]/.test(l)),
        changed.flatMap((i) => [`-${before[i] ?? ''}`, `+${after[i] ?? ''}`]),
      );
    } finally {
      cleanup();
    }
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { DBHydrationManager } from '../src/index.js';
import { makeDatabase, tempDir } from './helpers/fixtures.js';
import { snapshot } from './helpers/snapshot.js';

describe('smoke', () => {
  it('round-trips a database with many features', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const data = join(dir, 'data');
      const other = join(dir, 'other');
      makeDatabase(join(dir, 'x.db'), () => undefined);
      const { mkdirSync } = await import('node:fs');
      mkdirSync(data);
      makeDatabase(join(data, 'shop.db'), (db) => {
        db.pragma('user_version = -7');
        db.pragma('application_id = 123456');
        db.exec(`
          CREATE TABLE trades (id INTEGER PRIMARY KEY AUTOINCREMENT, symbol TEXT NOT NULL, price REAL, note);
          CREATE TABLE "we ird ""name""" (a, b TEXT, c BLOB);
          CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
          CREATE INDEX trades_symbol ON trades(symbol) WHERE price > 0;
          CREATE VIEW v AS SELECT * FROM trades;
          CREATE TRIGGER t AFTER INSERT ON trades BEGIN INSERT INTO kv VALUES (new.symbol, 1); END;
          CREATE VIRTUAL TABLE docs USING fts5(body);
          INSERT INTO docs VALUES ('hello world'), ('second doc');
        `);
        const ins = db.prepare('INSERT INTO "we ird ""name""" (rowid, a, b, c) VALUES (?, ?, ?, ?)');
        ins.run(5n, 9223372036854775807n, 'a\u0000b', Buffer.from([]));
        ins.run(9n, 1.0, '', null);
        ins.run(12n, -0.0, 'émoji 🎉', Buffer.from('aGVsbG8=', 'utf8'));
        ins.run(13n, Infinity, null, Buffer.from([0, 255]));
        db.exec('INSERT INTO "we ird ""name""" (rowid, a, b) VALUES (20, 5e-324, CAST(x\'61ff62\' AS TEXT))');
        db.exec("INSERT INTO trades (symbol, price, note) VALUES ('SOL', 1.0, 1), ('BTC', 2.5, 1.0)");
        db.exec("UPDATE sqlite_sequence SET seq = 100 WHERE name = 'trades'");
      });
      const m = new DBHydrationManager({ dataDir: data });
      const r1 = await m.dehydrateAll();
      assert.deepEqual(r1.errors, []);
      const archive = readFileSync(join(data, 'json_archives', 'shop.json'), 'utf8');
      console.log(archive);
      const m2 = new DBHydrationManager({ dataDir: other, archiveDir: join(data, 'json_archives') });
      const r2 = await m2.hydrateAll();
      assert.deepEqual(r2.errors, []);
      assert.deepEqual(snapshot(join(other, 'shop.db')), snapshot(join(data, 'shop.db')));
      const r3 = await new DBHydrationManager({ dataDir: other }).dehydrateAll();
      assert.deepEqual(r3.errors, []);
      const again = readFileSync(join(other, 'json_archives', 'shop.json'), 'utf8');
      assert.equal(again.replace(/"exported_at".*\n/, ''), archive.replace(/"exported_at".*\n/, ''));
      console.log(JSON.stringify(await m.getArchiveStats()));
    } finally {
      cleanup();
    }
  });
});

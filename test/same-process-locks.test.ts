/**
 * POSIX drops every lock a process holds on a file when the process closes any descriptor of it
 * (https://sqlite.org/howtocorrupt.html, section 2.2). The library runs inside applications that keep their own
 * connections open, so checking, dehydrating or replacing a database must never open the file behind SQLite's back.
 * Each test holds a lock through a connection of this process and checks with a second process that it still holds.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DBHydrationManager, checkDatabase } from '../src/index.js';
import { makeDatabase, tempDir } from './helpers/fixtures.js';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Tries a write from another process with no busy wait; returns whether it went through. */
function otherProcessCanWrite(path: string): boolean {
  const child = spawnSync(
    process.execPath,
    [
      '-e',
      `const D = require(${JSON.stringify(require.resolve('better-sqlite3'))});
       const db = new D(process.argv[1], { timeout: 0 });
       try { db.exec('INSERT INTO t VALUES (99)'); process.exit(0); } catch (e) { console.error(e.code); process.exit(3); }`,
      path,
    ],
    { encoding: 'utf8' },
  );
  if (child.status !== 0 && child.status !== 3) throw new Error(`writer failed: ${child.stderr}`);
  return child.status === 0;
}

describe('locks held by this process survive the library', () => {
  it('checkDatabase and dehydrateAll leave an open read transaction of this process locked (rollback journal)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'app.db');
      makeDatabase(path, (db) => db.exec('CREATE TABLE t (a); INSERT INTO t VALUES (1), (2)'));
      const app = new Database(path);
      try {
        app.exec('BEGIN');
        app.prepare('SELECT count(*) FROM t').get();
        assert.equal(otherProcessCanWrite(path), false, 'the read transaction locks out writers');
        assert.equal(checkDatabase(path).status, 'valid');
        assert.equal(otherProcessCanWrite(path), false, 'still locked after checkDatabase');
        const result = await new DBHydrationManager({ dataDir: dir }).dehydrateAll();
        assert.deepEqual(result.errors, []);
        assert.equal(otherProcessCanWrite(path), false, 'still locked after dehydrateAll');
        app.exec('COMMIT');
        assert.equal(otherProcessCanWrite(path), true, 'writable once the transaction ends');
      } finally {
        app.close();
      }
    } finally {
      cleanup();
    }
  });

  it('a dehydrate that copies tables (reading their pages in this process) leaves the lock held', async () => {
    const { dir, cleanup } = tempDir();
    const before = process.env.DB_HYDRATION_TABLE_PAGES;
    process.env.DB_HYDRATION_TABLE_PAGES = 'force';
    try {
      const path = join(dir, 'app.db');
      makeDatabase(path, (db) =>
        db.exec('CREATE TABLE t (a); CREATE TABLE u (b); INSERT INTO t VALUES (1), (2)'),
      );
      const manager = new DBHydrationManager({ dataDir: dir });
      assert.deepEqual((await manager.dehydrateAll()).errors, []);
      const app = new Database(path);
      try {
        app.exec('INSERT INTO u VALUES (3)');
        app.exec('BEGIN');
        app.prepare('SELECT count(*) FROM t').get();
        assert.equal(otherProcessCanWrite(path), false, 'the read transaction locks out writers');
        // Twice: the second reads the pages through the descriptor the first one opened.
        for (let run = 0; run < 2; run++) {
          const result = await manager.dehydrateAll();
          assert.deepEqual(result.errors, []);
          const own = result.databases['app.db'];
          // The first copies t (u changed); the second both (or, past the racy window, reads nothing at all).
          if (run === 0) assert.equal(own?.tablesCopied, 1, 'table t was copied, its pages read here');
          else assert.ok(own?.tablesCopied === 2 || own?.notRead === true, JSON.stringify(own));
          assert.equal(
            otherProcessCanWrite(path),
            false,
            'still locked after a dehydrate that copied tables',
          );
        }
        app.exec('COMMIT');
        assert.equal(otherProcessCanWrite(path), true, 'writable once the transaction ends');
      } finally {
        app.close();
      }
    } finally {
      if (before === undefined) delete process.env.DB_HYDRATION_TABLE_PAGES;
      else process.env.DB_HYDRATION_TABLE_PAGES = before;
      cleanup();
    }
  });

  it('hydrate --force reports a WAL database this process has open as in use and leaves it alone', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'app.db');
      makeDatabase(path, (db) => {
        db.pragma('journal_mode = WAL');
        db.exec('CREATE TABLE t (a); INSERT INTO t VALUES (1)');
      });
      const manager = new DBHydrationManager({ dataDir: dir, busyTimeoutMs: 100 });
      assert.deepEqual((await manager.dehydrateAll()).errors, []);
      const app = new Database(path);
      try {
        app.exec('INSERT INTO t VALUES (2)');
        const result = await manager.hydrateAll({ force: true });
        assert.equal(result.errorDetails[0]?.code, 'DATABASE_LOCKED', JSON.stringify(result.errors));
        assert.equal(app.prepare('SELECT count(*) FROM t').pluck().get(), 2);
      } finally {
        app.close();
      }
    } finally {
      cleanup();
    }
  });
  it('hydrate --force does not replace a WAL database this process opened while the backup ran', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'app.db');
      makeDatabase(path, (db) => {
        db.pragma('journal_mode = WAL');
        db.exec('CREATE TABLE t (a TEXT)');
        const insert = db.prepare('INSERT INTO t VALUES (?)');
        for (let i = 0; i < 5000; i++) insert.run('x'.repeat(200));
      });
      const manager = new DBHydrationManager({ dataDir: dir, busyTimeoutMs: 100 });
      assert.deepEqual((await manager.dehydrateAll()).errors, []);
      // The backup is asynchronous: application code of this process runs while it copies, and opens the database.
      let app: Database.Database | undefined;
      setImmediate(() => {
        app = new Database(path);
        app.exec("INSERT INTO t VALUES ('written during the backup')");
      });
      const result = await manager.hydrateAll({ force: true });
      try {
        assert.ok(app !== undefined, 'the application opened the database during hydrate');
        assert.equal(result.errorDetails[0]?.code, 'DATABASE_LOCKED', JSON.stringify(result.errors));
        // Its connection still works on the file at the path, which holds its row.
        app.exec("INSERT INTO t VALUES ('written after')");
        const check = new Database(path, { readonly: true });
        try {
          assert.equal(check.prepare("SELECT count(*) FROM t WHERE a LIKE 'written%'").pluck().get(), 2);
        } finally {
          check.close();
        }
      } finally {
        app?.close();
      }
    } finally {
      cleanup();
    }
  });
});

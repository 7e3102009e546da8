// Application integration: openDatabase / checkAndHydrate at start-up, dehydrateOnExit at shutdown (in real child
// processes receiving real signals), getStatus / verifyArchives, and an import without side effects.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import Database from 'better-sqlite3';
import {
  DBHydrationManager,
  checkAndHydrate,
  getStatus,
  openDatabase,
  verifyArchives,
} from '../src/index.js';
import { ROOT } from './helpers/cli.js';
import { makeDatabase, tempDir } from './helpers/fixtures.js';
import { snapshot } from './helpers/snapshot.js';

const DIST_INDEX = join(ROOT, 'dist', 'index.js');

function makeShop(path: string): void {
  makeDatabase(path, (db) => {
    db.pragma('journal_mode = WAL');
    db.exec(`
      CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, big INTEGER);
      CREATE INDEX items_name ON items (name);
      INSERT INTO items VALUES (1, 'one', 9223372036854775807), (2, 'two', NULL);
    `);
  });
}

describe('application integration', () => {
  let root: string;
  let cleanup: () => void;
  let n = 0;
  before(() => {
    ({ dir: root, cleanup } = tempDir('dh-integration-'));
  });
  after(() => {
    cleanup();
  });
  /** A data dir with shop.db dehydrated into data/json_archives. Returns the data dir and shop.db's snapshot. */
  const dehydrated = async (): Promise<{
    data: string;
    db: string;
    original: ReturnType<typeof snapshot>;
  }> => {
    const data = join(root, `d${++n}`);
    mkdirSync(data);
    const db = join(data, 'shop.db');
    makeShop(db);
    const r = await new DBHydrationManager({ dataDir: data }).dehydrateAll();
    assert.deepEqual(r.errors, []);
    return { data, db, original: snapshot(db) };
  };

  describe('openDatabase', () => {
    it('hydrates a missing database from its archive, then opens it', async () => {
      const { db, original } = await dehydrated();
      rmSync(db);
      rmSync(`${db}-wal`, { force: true });
      rmSync(`${db}-shm`, { force: true });
      const seen: string[] = [];
      const conn = await openDatabase(db, { onCheck: (r) => seen.push(r.action) });
      try {
        assert.equal(conn.prepare('SELECT name FROM items WHERE id = 1').pluck().get(), 'one');
      } finally {
        conn.close();
      }
      assert.deepEqual(seen, ['restored']);
      assert.deepEqual(snapshot(db), original);
    });

    it('quarantines a damaged database, hydrates it from its archive, then opens it', async () => {
      const { data, db, original } = await dehydrated();
      writeFileSync(db, Buffer.alloc(4096, 0x5a));
      let quarantined: readonly string[] = [];
      const conn = await openDatabase(db, { onCheck: (r) => (quarantined = r.detail?.quarantined ?? []) });
      conn.close();
      assert.deepEqual(snapshot(db), original);
      assert.equal(quarantined.length >= 1, true);
      const kept = quarantined[0] ?? '';
      assert.ok(existsSync(kept));
      assert.deepEqual(readFileSync(kept), Buffer.alloc(4096, 0x5a));
      assert.ok(readdirSync(data).every((f) => !f.endsWith('.db') || f === 'shop.db'));
    });

    it('leaves a valid database untouched and opens it', async () => {
      const { db } = await dehydrated();
      const before = statSync(db);
      const bytes = readFileSync(db);
      const r = await checkAndHydrate(db);
      assert.equal(r.action, 'none');
      assert.equal(r.detail?.check.status, 'valid');
      const conn = await openDatabase(db, { database: { readonly: true } });
      conn.close();
      assert.equal(statSync(db).mtimeMs, before.mtimeMs);
      assert.deepEqual(readFileSync(db), bytes);
    });

    it('creates a missing database that has no archive as an empty database', async () => {
      const data = join(root, `d${++n}`);
      mkdirSync(data);
      const r = await checkAndHydrate(join(data, 'new.db'));
      assert.equal(r.action, 'created');
      const conn = await openDatabase(join(data, 'new.db'));
      assert.equal(conn.prepare('SELECT count(*) FROM sqlite_schema').pluck().get(), 0);
      conn.close();
    });
  });

  describe('getStatus and verifyArchives', () => {
    it('see a schema change (a new index) as a change of no particular table, and a row change by its table', async () => {
      const { data, db } = await dehydrated();
      const manager = new DBHydrationManager({ dataDir: data });
      assert.equal((await getStatus(manager)).clean, true);
      assert.equal((await verifyArchives(manager)).ok, true);
      makeDatabase(db, (d) => d.exec('CREATE INDEX items_big ON items (big)'));
      const status = await getStatus(manager);
      const entry = status.databases.at(0);
      assert.equal(entry?.state, 'changed');
      assert.equal(entry.changedTable, undefined);
      const verified = await verifyArchives(manager);
      assert.equal(verified.ok, false);
      assert.equal(verified.databases[0]?.status, 'different');
      await manager.dehydrateAll();
      makeDatabase(db, (d) => d.exec('UPDATE items SET big = big - 1 WHERE id = 1'));
      const after = await getStatus(manager);
      assert.equal(after.databases[0]?.changedTable, 'items');
      assert.equal(after.counts.changed, 1);
    });
  });

  it('getStatus reports a database locked by another connection as locked, within the busy timeout', async () => {
    const data = join(root, `d${++n}`);
    mkdirSync(data);
    const db = join(data, 'shop.db');
    makeDatabase(db, (d) => d.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1);'));
    const manager = new DBHydrationManager({ dataDir: data });
    await manager.dehydrateAll();
    const { default: Database } = await import('better-sqlite3');
    const holder = new Database(db);
    try {
      holder.exec('BEGIN EXCLUSIVE; INSERT INTO t VALUES (2);');
      const t0 = Date.now();
      const status = await getStatus(manager, { busyTimeoutMs: 100 });
      assert.equal(status.databases.at(0)?.state, 'locked');
      assert.ok(Date.now() - t0 < 5000);
      holder.exec('ROLLBACK');
    } finally {
      holder.close();
    }
    assert.equal((await getStatus(manager)).databases.at(0)?.state, 'in-sync');
  });

  describe('dehydrateOnExit (real processes, real signals)', () => {
    /** A child that owns data/shop.db, installs the hook, writes a row, says "ready" and waits. */
    const script = (body: string): string => `
      import Database from 'better-sqlite3';
      import { DBHydrationManager, dehydrateOnExit } from ${JSON.stringify(DIST_INDEX)};
      const dataDir = process.argv[1];
      const manager = new DBHydrationManager({ dataDir });
      const db = new Database(dataDir + '/shop.db');
      db.prepare("INSERT INTO items (name) VALUES ('written by the child')").run();
      ${body}
      console.log('ready');
    `;
    const start = (data: string, body: string) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script(body), data], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
      const ready = new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (out.includes('ready')) {
            clearInterval(t);
            resolve();
          }
        }, 10);
        child.once('exit', () => {
          clearInterval(t);
          if (!out.includes('ready')) reject(new Error(`child ended early: ${out}`));
        });
      });
      const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      return { child, ready, exited, output: () => out };
    };
    const archiveHasChildRow = (data: string): boolean =>
      readFileSync(join(data, 'json_archives', 'shop.json'), 'utf8').includes('"written by the child"');

    it('dehydrates once on SIGTERM, closes what the app opened, then dies of SIGTERM', async () => {
      const { data } = await dehydrated();
      const c = start(
        data,
        `const keep = setInterval(() => {}, 1000);
         dehydrateOnExit(manager, {
           beforeDehydrate: () => { clearInterval(keep); db.close(); console.log('closed'); },
           onResult: (r, e) => console.log('result', r ? r.totalRows : String(e)),
         });`,
      );
      await c.ready;
      c.child.kill('SIGTERM');
      const [code, signal] = await c.exited;
      assert.equal(signal, 'SIGTERM', c.output());
      assert.equal(code, null);
      assert.equal(c.output().match(/^result 3$/gm)?.length, 1, c.output());
      assert.match(c.output(), /closed\nresult 3/);
      assert.ok(archiveHasChildRow(data));
    });

    it('leaves no -wal or -shm behind once the app closed its WAL connections, but never takes them from another connection', async () => {
      const sidecars = (data: string): string[] =>
        readdirSync(data)
          .filter((f) => f.startsWith('shop.db-'))
          .sort();
      const body = `const keep = setInterval(() => {}, 1000);
         dehydrateOnExit(manager, {
           // An empty -wal at the close: the export's read-only connection is the one that would leave the files.
           beforeDehydrate: () => { clearInterval(keep); db.pragma('wal_checkpoint(TRUNCATE)'); db.close(); },
         });`;
      // The app's connection was the only one: after the dehydration nothing is left beside shop.db.
      const alone = await dehydrated();
      const a = start(alone.data, body);
      await a.ready;
      assert.deepEqual(sidecars(alone.data), ['shop.db-shm', 'shop.db-wal']);
      a.child.kill('SIGTERM');
      assert.equal((await a.exited)[1], 'SIGTERM', a.output());
      assert.deepEqual(sidecars(alone.data), []);
      assert.ok(archiveHasChildRow(alone.data));
      // Another process still has the database open: its -wal and -shm stay, and it goes on reading and writing.
      const shared = await dehydrated();
      const other = new Database(join(shared.data, 'shop.db'));
      try {
        assert.equal(other.prepare('SELECT count(*) FROM items').pluck().get(), 2);
        const b = start(shared.data, body);
        await b.ready;
        b.child.kill('SIGTERM');
        assert.equal((await b.exited)[1], 'SIGTERM', b.output());
        assert.ok(archiveHasChildRow(shared.data));
        assert.deepEqual(sidecars(shared.data), ['shop.db-shm', 'shop.db-wal']);
        other.prepare("INSERT INTO items (name) VALUES ('written by the other process')").run();
        assert.equal(other.prepare('SELECT count(*) FROM items').pluck().get(), 4);
      } finally {
        other.close();
      }
      // Its close was the last: SQLite checkpointed and removed them.
      assert.deepEqual(sidecars(shared.data), []);
    });

    it('dehydrates once when SIGINT and SIGTERM arrive together, and dies of the first', async () => {
      const { data } = await dehydrated();
      const c = start(
        data,
        `const keep = setInterval(() => {}, 1000);
         dehydrateOnExit(manager, {
           beforeDehydrate: async () => { clearInterval(keep); await new Promise((r) => setTimeout(r, 200)); },
           onResult: () => console.log('dehydrated'),
         });`,
      );
      await c.ready;
      c.child.kill('SIGINT');
      setTimeout(() => c.child.kill('SIGTERM'), 50);
      const [, signal] = await c.exited;
      assert.equal(signal, 'SIGINT', c.output());
      assert.equal(c.output().match(/dehydrated/g)?.length, 1, c.output());
      assert.ok(archiveHasChildRow(data));
    });

    it('dehydrates when the process ends normally, and when it calls process.exit(3)', async () => {
      const normal = await dehydrated();
      const a = start(normal.data, `dehydrateOnExit(manager, { beforeDehydrate: () => db.close() });`);
      const [codeA] = await a.exited;
      assert.equal(codeA, 0, a.output());
      assert.ok(archiveHasChildRow(normal.data));

      const exiting = await dehydrated();
      const b = start(
        exiting.data,
        `dehydrateOnExit(manager, { onResult: (r) => console.log('result', r?.totalRows) });
         setTimeout(() => process.exit(3), 20);`,
      );
      const [codeB] = await b.exited;
      assert.equal(codeB, 3, b.output());
      assert.ok(archiveHasChildRow(exiting.data));
      // An exit handler cannot wait: the result is reported synchronously.
      assert.match(b.output(), /^result 3$/m);
    });

    it('stops waiting for beforeDehydrate after the timeout, dehydrates anyway and ends with the signal', async () => {
      const { data } = await dehydrated();
      const c = start(
        data,
        `setInterval(() => {}, 1000);
         dehydrateOnExit(manager, {
           timeoutMs: 300,
           beforeDehydrate: () => new Promise(() => {}),
           onResult: (r, e) => console.log('result', r ? r.totalRows : '-', e ? e.message : ''),
         });`,
      );
      await c.ready;
      const t0 = Date.now();
      c.child.kill('SIGTERM');
      const [, signal] = await c.exited;
      assert.equal(signal, 'SIGTERM');
      assert.ok(Date.now() - t0 < 5000);
      assert.match(c.output(), /^result 3 beforeDehydrate did not finish within 300 ms$/m);
      assert.ok(archiveHasChildRow(data));
    });

    it('dehydrates when beforeDehydrate throws, and reports the error', async () => {
      const { data } = await dehydrated();
      const c = start(
        data,
        `setInterval(() => {}, 1000);
         dehydrateOnExit(manager, {
           beforeDehydrate: () => { throw new Error('server already closed'); },
           onResult: (r, e) => console.log('result', r ? r.totalRows : '-', e ? e.message : ''),
         });`,
      );
      await c.ready;
      c.child.kill('SIGTERM');
      const [, signal] = await c.exited;
      assert.equal(signal, 'SIGTERM', c.output());
      assert.match(c.output(), /^result 3 server already closed$/m);
      assert.ok(archiveHasChildRow(data));
    });

    it("dehydrates when the app's own signal handler calls process.exit() while beforeDehydrate still runs", async () => {
      const { data } = await dehydrated();
      const c = start(
        data,
        `setInterval(() => {}, 1000);
         dehydrateOnExit(manager, {
           beforeDehydrate: () => new Promise((r) => setTimeout(r, 500)),
           onResult: (r, e) => console.log('result', r ? r.totalRows : '-', e ? e.message : ''),
         });
         process.on('SIGINT', () => process.exit(7));`,
      );
      await c.ready;
      c.child.kill('SIGINT');
      const [code] = await c.exited;
      assert.equal(code, 7, c.output());
      assert.equal(c.output().match(/^result 3 $/gm)?.length, 1, c.output());
      assert.ok(archiveHasChildRow(data));
    });

    it('removes its hooks when the returned function is called', async () => {
      const { data } = await dehydrated();
      const c = start(
        data,
        `setInterval(() => {}, 1000);
         const counts = () => ['SIGINT', 'SIGTERM', 'beforeExit', 'exit'].map((e) => process.listenerCount(e)).join(',');
         const base = counts();
         const unhook = dehydrateOnExit(manager, { onResult: () => console.log('dehydrated') });
         const hooked = counts();
         unhook();
         console.log('listeners', base, hooked, counts());`,
      );
      await c.ready;
      c.child.kill('SIGTERM');
      const [, signal] = await c.exited;
      assert.equal(signal, 'SIGTERM');
      const m = /listeners (\S+) (\S+) (\S+)/.exec(c.output());
      const [base, hooked, unhooked] = [m?.[1], m?.[2], m?.[3]].map((x) => (x ?? '').split(',').map(Number));
      assert.deepEqual(
        hooked,
        base?.map((v) => v + 1),
      );
      assert.deepEqual(unhooked, base);
      assert.doesNotMatch(c.output(), /dehydrated/);
      assert.equal(archiveHasChildRow(data), false);
    });
  });

  it('importing the package has no side effects: no output, no listeners, no files', () => {
    const dir = join(root, `empty${++n}`);
    mkdirSync(dir);
    const r = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const counts = () => ['SIGINT', 'SIGTERM', 'beforeExit', 'exit', 'uncaughtException'].map((e) => process.listenerCount(e)).join(',');
         const before = counts();
         await import(${JSON.stringify(DIST_INDEX)});
         process.stdout.write(before + ' ' + counts());`,
      ],
      { cwd: dir, encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const [before, afterImport] = r.stdout.split(' ');
    assert.match(before ?? '', /^\d+(,\d+){4}$/);
    assert.equal(afterImport, before);
    assert.equal(r.stderr, '');
    assert.deepEqual(readdirSync(dir), []);
  });
});

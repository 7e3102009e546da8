/**
 * fixCorruptedDbs(): restore from the archive (damaged file kept under a quarantine name), salvage without an archive,
 * create a missing database without an archive; healthy databases and all archives stay byte for byte.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { DBHydrationManager, checkDatabase } from '../src/index.js';
import { scanDatabases } from '../src/dehydrate/scan-databases.js';
import { tempDir } from './helpers/fixtures.js';
import { snapshot } from './helpers/snapshot.js';
import { LFS_POINTER, MERGE_CONFLICT, leafPagesOf, makeShop, overwritePages } from './helpers/damage.js';

/** A data dir with shop.db and healthy.db dehydrated; returns paths and the original snapshot of shop.db. */
async function setup(dir: string, rows = 1500) {
  const data = join(dir, 'data');
  mkdirSync(data);
  const shop = join(data, 'shop.db');
  const healthy = join(data, 'healthy.db');
  makeShop(shop, rows);
  makeShop(healthy, 50);
  const manager = new DBHydrationManager({ dataDir: data });
  const r = await manager.dehydrateAll();
  assert.deepEqual(r.errors, []);
  const archives = join(data, 'json_archives');
  return { data, shop, healthy, manager, archives, original: snapshot(shop) };
}

function filesOf(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isFile()) out.set(name, readFileSync(p).toString('base64'));
  }
  return out;
}

describe('fixCorruptedDbs', () => {
  const damages: [string, (path: string) => void][] = [
    [
      'damaged pages',
      (p) => {
        overwritePages(p, leafPagesOf(p, 'items').slice(2, 4));
      },
    ],
    [
      'zero bytes',
      (p) => {
        writeFileSync(p, '');
      },
    ],
    [
      'random bytes',
      (p) => {
        writeFileSync(p, Buffer.alloc(5000, 0x5a));
      },
    ],
    [
      'a Git LFS pointer',
      (p) => {
        writeFileSync(p, LFS_POINTER);
      },
    ],
    [
      'merge-conflict markers',
      (p) => {
        writeFileSync(p, MERGE_CONFLICT);
      },
    ],
  ];
  for (const [kind, damage] of damages) {
    it(`restores a database with ${kind} from its archive and keeps the damaged file in quarantine`, async () => {
      const { dir, cleanup } = tempDir();
      try {
        const { data, shop, healthy, manager, archives, original } = await setup(dir);
        damage(shop);
        const damagedBytes = readFileSync(shop);
        const archivesBefore = filesOf(archives);
        const healthyBefore = readFileSync(healthy);
        const healthyMtime = statSync(healthy).mtimeMs;

        const result = await manager.fixCorruptedDbs();
        assert.deepEqual(result.errors, []);
        assert.deepEqual([...result.checked].sort(), ['healthy.db', 'shop.db']);
        assert.deepEqual(result.corrupted, ['shop.db']);
        assert.deepEqual(result.fixed, ['shop.db']);
        const detail = result.details['shop.db'];
        assert.equal(detail?.action, 'restored');
        assert.equal(detail.integrity, 'ok');
        assert.deepEqual(snapshot(shop), original);
        // The damaged file is kept, byte for byte, under a name no scan takes for a database.
        assert.equal(detail.quarantined.length, 1);
        const q = detail.quarantined[0] ?? '';
        assert.deepEqual(readFileSync(q), damagedBytes);
        assert.doesNotMatch(q, /\.(db|sqlite|sqlite3)$/i);
        assert.deepEqual(scanDatabases(data), ['healthy.db', 'shop.db']);
        // Healthy databases and archives are untouched.
        assert.deepEqual(readFileSync(healthy), healthyBefore);
        assert.equal(statSync(healthy).mtimeMs, healthyMtime);
        assert.deepEqual(filesOf(archives), archivesBefore);
        assert.equal(result.details['healthy.db']?.action, 'none');
        // A second run finds nothing to do.
        const again = await manager.fixCorruptedDbs();
        assert.deepEqual(again.corrupted, []);
        assert.deepEqual(again.errors, []);
      } finally {
        cleanup();
      }
    });
  }

  it('moves the -wal, -shm and -journal of a damaged database into quarantine with it', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const { shop, manager, original } = await setup(dir, 200);
      writeFileSync(shop, 'garbage'.repeat(100));
      writeFileSync(`${shop}-wal`, 'old wal');
      writeFileSync(`${shop}-shm`, 'old shm');
      writeFileSync(`${shop}-journal`, 'old journal');
      const result = await manager.fixCorruptedDbs();
      assert.deepEqual(result.fixed, ['shop.db']);
      const q = result.details['shop.db']?.quarantined ?? [];
      assert.equal(q.length, 4);
      assert.equal(readFileSync(`${q[0] ?? ''}-wal`, 'utf8'), 'old wal');
      assert.equal(readFileSync(`${q[0] ?? ''}-journal`, 'utf8'), 'old journal');
      for (const s of ['-wal', '-shm', '-journal']) assert.equal(existsSync(shop + s), false, s);
      assert.deepEqual(snapshot(shop), original);
    } finally {
      cleanup();
    }
  });

  it('hydrateAll without force leaves a damaged database in place but reports it and points at fix', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const { shop, healthy, manager } = await setup(dir, 100);
      writeFileSync(shop, MERGE_CONFLICT);
      const healthyBytes = readFileSync(healthy);
      const result = await manager.hydrateAll();
      assert.equal(result.databases['shop.db']?.status, 'skipped');
      assert.equal(result.databases['healthy.db']?.status, 'skipped');
      assert.equal(result.errorDetails.length, 1, JSON.stringify(result.errors));
      const detail = result.errorDetails[0];
      assert.ok(detail !== undefined);
      assert.equal(detail.file, shop);
      assert.match(
        detail.message,
        /exists but is not a usable database \(it contains git merge-conflict markers/,
      );
      assert.match(detail.hint ?? '', /db-hydration fix/);
      assert.equal(readFileSync(shop, 'utf8'), MERGE_CONFLICT, 'the damaged file is not touched');
      assert.deepEqual(readFileSync(healthy), healthyBytes);
    } finally {
      cleanup();
    }
  });

  it('leaves a directory standing where the database should be where it is, and says what to do', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const { data, shop, manager } = await setup(dir, 100);
      rmSync(shop);
      mkdirSync(shop);
      writeFileSync(join(shop, 'inside.txt'), 'keep me');
      const before = readdirSync(data).sort();
      const result = await manager.fixCorruptedDbs();
      assert.deepEqual(result.fixed, []);
      assert.deepEqual(result.corrupted, []);
      assert.equal(result.details['shop.db']?.action, 'skipped');
      assert.deepEqual(result.details['shop.db'].quarantined, []);
      assert.equal(result.errorDetails.length, 1);
      const error = result.errorDetails[0];
      assert.equal(error?.code, 'PATH');
      assert.equal(error.file, shop);
      assert.match(
        error.message,
        /shop\.db: it is a directory, not a database file; it was left where it is/,
      );
      assert.match(
        error.hint ?? '',
        /move or rename the directory yourself, then run `db-hydration hydrate`/,
      );
      // Nothing moved, nothing created: the directory and its content are exactly where they were.
      assert.deepEqual(readdirSync(data).sort(), before);
      assert.ok(statSync(shop).isDirectory());
      assert.deepEqual(readdirSync(shop), ['inside.txt']);
      assert.equal(readFileSync(join(shop, 'inside.txt'), 'utf8'), 'keep me');
    } finally {
      cleanup();
    }
  });

  it('recreates a missing database from its archive', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const { shop, manager, original } = await setup(dir, 100);
      const { rmSync } = await import('node:fs');
      rmSync(shop);
      const result = await manager.fixCorruptedDbs();
      assert.deepEqual(result.corrupted, ['shop.db']);
      assert.deepEqual(result.fixed, ['shop.db']);
      assert.equal(result.details['shop.db']?.check.status, 'missing');
      assert.deepEqual(result.details['shop.db'].quarantined, []);
      assert.deepEqual(snapshot(shop), original);
    } finally {
      cleanup();
    }
  });

  it('creates a missing database without an archive fresh and empty', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const data = join(dir, 'data');
      // The data directory must exist: fix does not create one (a typo in its path would pass as a repair).
      await assert.rejects(
        new DBHydrationManager({ dataDir: data, databases: ['new.db'] }).fixCorruptedDbs(),
        {
          code: 'PATH',
          message: `${data}: the data directory does not exist`,
        },
      );
      assert.equal(existsSync(data), false);
      mkdirSync(data);
      const manager = new DBHydrationManager({ dataDir: data, databases: ['new.db'] });
      const result = await manager.fixCorruptedDbs();
      assert.deepEqual(result.fixed, ['new.db']);
      assert.equal(result.details['new.db']?.action, 'created');
      assert.equal(checkDatabase(join(data, 'new.db')).status, 'valid');
      assert.deepEqual(snapshot(join(data, 'new.db')).schema, []);
    } finally {
      cleanup();
    }
  });

  it('keeps a -wal left without its database aside before creating the database, so it is not applied to it', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const data = join(dir, 'data');
      mkdirSync(data);
      // A -wal holding a commit of another (deleted) database file, left behind under app.db's name.
      const other = new Database(join(data, 'other.db'));
      other.pragma('journal_mode = WAL');
      other.exec(
        'CREATE TABLE t (v TEXT); WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 2000) INSERT INTO t SELECT hex(randomblob(50)) FROM s',
      );
      other.pragma('wal_checkpoint(TRUNCATE)');
      other.pragma('wal_autocheckpoint = 0');
      other.exec('CREATE TABLE u (x)');
      copyFileSync(join(data, 'other.db-wal'), join(data, 'app.db-wal'));
      const wal = readFileSync(join(data, 'app.db-wal'));
      other.close();
      for (const name of readdirSync(data)) if (name.startsWith('other.db')) rmSync(join(data, name));
      const result = await new DBHydrationManager({ dataDir: data, databases: ['app.db'] }).fixCorruptedDbs();
      assert.deepEqual(result.errors, []);
      const detail = result.details['app.db'];
      assert.ok(detail !== undefined);
      assert.equal(detail.action, 'created');
      assert.equal(detail.integrity, 'ok');
      assert.equal(checkDatabase(join(data, 'app.db')).status, 'valid');
      assert.deepEqual(snapshot(join(data, 'app.db')).schema, []);
      const kept = detail.quarantined;
      assert.equal(kept.length, 1);
      assert.match(kept[0] ?? '', /app\.db\.corrupt-.*-wal$/);
      assert.deepEqual(readFileSync(kept[0] ?? ''), wal);
    } finally {
      cleanup();
    }
  });

  it('salvages the readable rows of a damaged database without an archive, reporting per table', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const data = join(dir, 'data');
      mkdirSync(data);
      const shop = join(data, 'shop.db');
      makeShop(shop, 20000);
      const db = new Database(shop, { readonly: true });
      db.defaultSafeIntegers(true);
      const originalRows = new Map(
        (db.prepare('SELECT id, name, price, hex(note) FROM items').raw(true).all() as unknown[][]).map(
          (r) => [
            String(r[0]),
            JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
          ],
        ),
      );
      db.close();
      const leaves = leafPagesOf(shop, 'items');
      overwritePages(shop, [leaves[10] ?? 0, leaves[11] ?? 0, leaves[40] ?? 0]);
      const damagedBytes = readFileSync(shop);

      const result = await new DBHydrationManager({ dataDir: data }).fixCorruptedDbs();
      assert.deepEqual(result.corrupted, ['shop.db']);
      assert.deepEqual(result.fixed, ['shop.db']);
      const detail = result.details['shop.db'];
      assert.equal(detail?.action, 'salvaged');
      assert.equal(detail.integrity, 'ok');
      assert.deepEqual(readFileSync(detail.quarantined[0] ?? ''), damagedBytes, 'the damaged file is kept');
      const items = detail.salvage?.tables.find((t) => t.table === 'items');
      assert.ok(items !== undefined);
      assert.equal(items.complete, false);
      assert.equal(items.expected, 20000);
      assert.ok(items.recovered >= 19000 && items.recovered < 20000, `recovered ${items.recovered}`);
      assert.equal(items.lost, 20000 - items.recovered);
      assert.equal(detail.salvage?.tables.find((t) => t.table === 'kv')?.recovered, 3);
      // Every recovered row is an original row, exactly.
      const rebuilt = new Database(shop, { readonly: true });
      rebuilt.defaultSafeIntegers(true);
      const rows = rebuilt
        .prepare('SELECT id, name, price, hex(note) FROM items')
        .raw(true)
        .all() as unknown[][];
      const objects = rebuilt
        .prepare("SELECT name FROM sqlite_schema WHERE type != 'table' ORDER BY name")
        .pluck()
        .all();
      rebuilt.close();
      assert.equal(rows.length, items.recovered);
      for (const r of rows) {
        assert.equal(
          JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
          originalRows.get(String(r[0])),
        );
      }
      assert.deepEqual(objects, ['cheap', 'items_name', 'items_tag']);
      // The loss is reported as an error naming the table and the file.
      const lossError = result.errorDetails.find((e) => e.table === 'items');
      assert.ok(lossError !== undefined);
      assert.match(lossError.message, /could not be read/);
      assert.equal(lossError.file, shop);
    } finally {
      cleanup();
    }
  });

  it('leaves a Git LFS pointer without an archive alone and says why', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const data = join(dir, 'data');
      mkdirSync(data);
      writeFileSync(join(data, 'big.db'), LFS_POINTER);
      const result = await new DBHydrationManager({ dataDir: data }).fixCorruptedDbs();
      assert.deepEqual(result.corrupted, ['big.db']);
      assert.deepEqual(result.fixed, []);
      assert.equal(result.errors.length, 1);
      assert.match(result.errors[0] ?? '', /Git LFS pointer/);
      assert.match(result.errors[0] ?? '', /big\.db/);
      assert.equal(readFileSync(join(data, 'big.db'), 'utf8'), LFS_POINTER);
    } finally {
      cleanup();
    }
  });

  it('keeps a zero-byte database whose archive has no tables, and reports no error', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const data = join(dir, 'data');
      mkdirSync(data);
      new Database(join(data, 'blank.db')).close();
      const m = new DBHydrationManager({ dataDir: data });
      await m.dehydrateAll().catch(() => undefined);
      writeFileSync(join(data, 'blank.db'), '');
      const result = await m.fixCorruptedDbs();
      assert.deepEqual(result.corrupted, []);
      assert.equal(result.details['blank.db']?.check.status, 'empty');
      assert.equal(statSync(join(data, 'blank.db')).size, 0);
    } finally {
      cleanup();
    }
  });
});

describe('databases only their application can check', () => {
  it('a database with a collation or function only its application defines is unreadable, not damaged, and fix leaves it alone', async () => {
    const { dir, cleanup } = tempDir();
    try {
      // Python's sqlite3 can define both, as an application would.
      execFileSync('python3', [
        '-c',
        `import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.create_collation('rev', lambda a, b: (a < b) - (a > b))
c.execute('CREATE TABLE t (a TEXT COLLATE rev)')
c.execute('CREATE INDEX t_a ON t (a)')
c.executemany('INSERT INTO t VALUES (?)', [(str(i),) for i in range(500)])
c.commit()
c = sqlite3.connect(sys.argv[2])
c.create_function('f', 1, lambda x: x * 2, deterministic=True)
c.execute('CREATE TABLE t (a INTEGER)')
c.execute('CREATE INDEX t_f ON t (f(a))')
c.executemany('INSERT INTO t VALUES (?)', [(i,) for i in range(500)])
c.commit()`,
        join(dir, 'coll.db'),
        join(dir, 'func.db'),
      ]);
      const coll = checkDatabase(join(dir, 'coll.db'));
      assert.equal(coll.status, 'unreadable', coll.reason);
      assert.match(coll.reason, /no such collation sequence: rev/);
      assert.match(coll.hint ?? '', /only its application defines/);
      assert.equal(checkDatabase(join(dir, 'func.db')).status, 'valid');
      assert.equal(checkDatabase(join(dir, 'func.db'), { check: 'full' }).status, 'unreadable');
      // An archive to restore from is there (an older copy): fix must still not replace the file.
      const archives = join(dir, 'json_archives');
      mkdirSync(archives);
      writeFileSync(
        join(archives, 'coll.json'),
        '{"database": "coll", "exported_at": "", "tables": {"t": {"schema": "CREATE TABLE t (a TEXT)", "rows": []}}}',
      );
      const before = readFileSync(join(dir, 'coll.db'));
      const fix = await new DBHydrationManager({ dataDir: dir }).fixCorruptedDbs();
      assert.deepEqual(fix.fixed, []);
      assert.deepEqual(readFileSync(join(dir, 'coll.db')), before);
      assert.deepEqual(
        readdirSync(dir).filter((n) => n.includes('corrupt')),
        [],
      );
      assert.match(fix.errors.join('\n'), /coll\.db.*no such collation sequence/);
    } finally {
      cleanup();
    }
  });
});

describe('hydrate and existing databases', () => {
  it('prunes backups oldest first, counting a second backup of the same millisecond (-1) as the newer', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'shop.db');
      makeShop(path, 3);
      const stamp = '2020-01-01T00-00-00-000Z';
      for (const name of [`shop.db.${stamp}.bak`, `shop.db.${stamp}-1.bak`, `shop.db.${stamp}-2.bak`]) {
        writeFileSync(join(dir, name), name);
      }
      const made = await new DBHydrationManager({ dataDir: dir, backupsKept: 3 }).backup(path);
      const left = readdirSync(dir)
        .filter((n) => n.endsWith('.bak'))
        .sort();
      assert.deepEqual(
        left,
        [`shop.db.${stamp}-1.bak`, `shop.db.${stamp}-2.bak`, made.slice(dir.length + 1)].sort(),
      );
    } finally {
      cleanup();
    }
  });

  it('without force, an existing valid database is skipped, reported and not touched', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const { data, shop, manager } = await setup(dir, 100);
      const db = new Database(shop);
      db.exec("UPDATE items SET name = 'local edit' WHERE id = 1");
      db.close();
      const before = readFileSync(shop);
      const mtime = statSync(shop).mtimeMs;
      const r = await manager.hydrateAll();
      assert.equal(r.databases['shop.db']?.status, 'skipped');
      assert.deepEqual(readFileSync(shop), before);
      assert.equal(statSync(shop).mtimeMs, mtime);
      assert.deepEqual(
        readdirSync(data).filter((n) => n.endsWith('.bak')),
        [],
      );
    } finally {
      cleanup();
    }
  });

  it('with force, a stale -wal of the replaced database is kept only in the backup, never mixed into the new file', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const { data, shop, manager, original } = await setup(dir, 100);
      // A WAL database whose latest commit lives only in its -wal file.
      const scratch = join(dir, 'scratch.db');
      const writer = new Database(scratch);
      writer.pragma('journal_mode = WAL');
      writer.pragma('wal_autocheckpoint = 0');
      writer.exec(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO items VALUES (1, 'only in the wal')",
      );
      const { copyFileSync } = await import('node:fs');
      copyFileSync(scratch, shop);
      copyFileSync(`${scratch}-wal`, `${shop}-wal`);
      writer.close();
      const local = snapshot(shop);
      assert.deepEqual(local.tables.items, ['i:1|i:1|t:6F6E6C7920696E207468652077616C']);
      const r = await manager.hydrateAll({ force: true });
      assert.deepEqual(r.errors, []);
      assert.equal(existsSync(`${shop}-wal`), false);
      assert.deepEqual(snapshot(shop), original);
      assert.deepEqual(
        snapshot(r.databases['shop.db']?.backupPath ?? ''),
        local,
        'the backup has the WAL content',
      );
      assert.doesNotMatch(r.databases['shop.db']?.backupPath ?? '', /\.(db|sqlite|sqlite3)$/);
      assert.deepEqual(scanDatabases(data), ['healthy.db', 'shop.db']);
    } finally {
      cleanup();
    }
  });
});

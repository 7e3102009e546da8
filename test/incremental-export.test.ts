// Incremental export (issue 14, section 2): a dehydrate with nothing changed since the last export reads no row,
// known from the database file's stamp (inode, size, modification and change times; no -wal
// frames, no -journal) recorded in the never-committed sync state. Every kind of change committed between two
// dehydrates must still reach the archive: missing one is data loss. Real SQLite files, real writes.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DBHydrationManager, getStatus } from '../src/index.js';
import { archiveContentHash } from '../src/archive/content-comparison.js';
import { dehydrateDatabase } from '../src/dehydrate/dehydrate-database.js';
import { readSyncRecord, syncStatePaths } from '../src/sync/sync-state.js';
import { RACY_WINDOW_MS } from '../src/sqlite/file-stamp.js';
import { cli } from './helpers/cli.js';
import { makeDatabase, tempDir, withDatabase as write } from './helpers/fixtures.js';

const root = tempDir('dh-incremental-');
after(root.cleanup);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** 50 rows of same-length text, in rollback-journal mode unless `wal`. */
function makeItems(path: string, wal = false): void {
  makeDatabase(path, (db) => {
    if (wal) db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)');
    const insert = db.prepare('INSERT INTO items VALUES (?, ?)');
    for (let i = 1; i <= 50; i++) insert.run(i, `name-${String(i).padStart(3, '0')}`);
  });
}

/** The content hash of a full, fresh export of the database (no sync state involved). */
function freshContentHash(dbPath: string, dir: string, name: string): string {
  const archivePath = join(dir, `${name}.fresh.json`);
  dehydrateDatabase({ dbPath, archivePath, database: name, fileName: `${name}.db`, busyTimeoutMs: 5000 });
  return archiveContentHash(archivePath);
}

describe('incremental export', () => {
  it('reads no row when nothing changed, and every kind of committed change still reaches the archive', async () => {
    const dir = join(root.dir, 'kinds');
    const data = join(dir, 'data');
    const scratch = join(dir, 'scratch');
    mkdirSync(data, { recursive: true });
    mkdirSync(scratch, { recursive: true });
    // One database per kind of change, so that one dehydrate run checks them all.
    const changes: Record<string, (path: string) => Database.Database | undefined> = {
      insert: (p) => (write(p, (db) => db.exec("INSERT INTO items VALUES (51, 'name-051')")), undefined),
      delete: (p) => (write(p, (db) => db.exec('DELETE FROM items WHERE id = 7')), undefined),
      // Same byte size, same page: only the times show it.
      'same-size-update': (p) => (
        write(p, (db) => db.exec("UPDATE items SET name = 'name-xyz' WHERE id = 3")),
        undefined
      ),
      // A tool that puts the old modification time back: the change time and the counter still show it.
      'update-mtime-restored': (p) => {
        const before = statSync(p);
        write(p, (db) => db.exec("UPDATE items SET name = 'name-abc' WHERE id = 4"));
        utimesSync(p, before.atime, before.mtime);
        return undefined;
      },
      'schema-change': (p) => (
        write(p, (db) => db.exec('CREATE INDEX items_name ON items(name)')),
        undefined
      ),
      'user-version': (p) => (write(p, (db) => db.pragma('user_version = 7')), undefined),
      // Another file of the same size copied over it, its modification time put back.
      'replaced-same-size': (p) => {
        const before = statSync(p);
        const other = join(scratch, 'other.db');
        makeItems(other);
        write(other, (db) => db.exec("UPDATE items SET name = 'name-zzz' WHERE id = 9"));
        assert.equal(statSync(other).size, before.size);
        copyFileSync(other, p);
        utimesSync(p, before.atime, before.mtime);
        return undefined;
      },
      // The commit lives only in the -wal: the writer stays open and never checkpoints.
      'wal-only': (p) => {
        const db = new Database(p);
        db.pragma('wal_autocheckpoint = 0');
        db.exec("UPDATE items SET name = 'name-wal' WHERE id = 5");
        assert.ok(statSync(`${p}-wal`).size > 0);
        return db;
      },
    };
    for (const kind of Object.keys(changes)) makeItems(join(data, `${kind}.db`), kind === 'wal-only');
    const manager = new DBHydrationManager({ dataDir: data });

    assert.deepEqual(manager.dehydrateAllSync().errors, []);
    // Files written less than RACY_WINDOW_MS before an export get no stamp; by now they are old enough.
    await sleep(RACY_WINDOW_MS + 200);
    manager.dehydrateAllSync();
    for (const kind of Object.keys(changes))
      assert.ok(readSyncRecord(data, `${kind}.db`)?.exported !== undefined, `${kind} has a stamp`);
    const third = manager.dehydrateAllSync();
    for (const [fileName, result] of Object.entries(third.databases)) {
      assert.equal(result.notRead, true, `${fileName}: unchanged, not read`);
      assert.equal(result.changed, false);
    }
    const archiveBytes = Object.fromEntries(
      Object.keys(changes).map((k) => [k, readFileSync(manager.archivePathFor(`${k}.db`))]),
    );

    const open: Database.Database[] = [];
    for (const [kind, change] of Object.entries(changes)) {
      const db = change(join(data, `${kind}.db`));
      if (db !== undefined) open.push(db);
    }
    try {
      const fourth = manager.dehydrateAllSync();
      assert.deepEqual(fourth.errors, []);
      for (const kind of Object.keys(changes)) {
        const fileName = `${kind}.db`;
        const result = fourth.databases[fileName];
        assert.ok(result !== undefined);
        assert.equal(result.notRead, undefined, `${kind}: the change must make dehydrate read the database`);
        assert.equal(result.changed, true, `${kind}: the change must reach the archive`);
        const archivePath = manager.archivePathFor(fileName);
        assert.notDeepEqual(readFileSync(archivePath), archiveBytes[kind]);
        assert.equal(
          archiveContentHash(archivePath),
          freshContentHash(join(data, fileName), scratch, kind),
          `${kind}: the archive is what a full export gives`,
        );
      }
    } finally {
      for (const db of open) db.close();
    }
  });

  it('does not trust a stamp while a -journal exists, after another writer revision, or through the CLI', async () => {
    const dir = join(root.dir, 'distrust');
    const data = join(dir, 'data');
    mkdirSync(data, { recursive: true });
    const dbPath = join(data, 'shop.db');
    makeItems(dbPath);
    const manager = new DBHydrationManager({ dataDir: data });
    // Just written: a write right after the stamp could keep the file's modification time, so there is no stamp.
    manager.dehydrateAllSync();
    assert.equal(readSyncRecord(data, 'shop.db')?.exported, undefined);
    await sleep(RACY_WINDOW_MS + 200);
    assert.equal(manager.dehydrateAllSync().databases['shop.db']?.notRead, undefined);
    assert.equal(manager.dehydrateAllSync().databases['shop.db']?.notRead, true);

    // The CLI reports it too (--json), and keeps the archive's bytes and mtime.
    const archivePath = manager.archivePathFor('shop.db');
    const mtime = statSync(archivePath).mtimeMs;
    const run = cli(['dehydrate', '--data-dir', data, '--json'], dir);
    assert.equal(run.code, 0, run.stderr);
    const json = JSON.parse(run.stdout) as {
      databases: Record<string, { notRead?: boolean; changed: boolean }>;
    };
    assert.deepEqual(
      { notRead: json.databases['shop.db']?.notRead, changed: json.databases['shop.db']?.changed },
      { notRead: true, changed: false },
    );
    assert.equal(statSync(archivePath).mtimeMs, mtime);

    // A -journal beside the file (a transaction under way, or a hot journal): read in full.
    writeFileSync(`${dbPath}-journal`, '');
    assert.equal(manager.dehydrateAllSync().databases['shop.db']?.notRead, undefined);
    rmSync(`${dbPath}-journal`);
    // The export made while it existed recorded no stamp: one full read records one again.
    assert.equal(manager.dehydrateAllSync().databases['shop.db']?.notRead, undefined);
    assert.equal(manager.dehydrateAllSync().databases['shop.db']?.notRead, true);

    // A record written by another writer revision: read in full (the new writer may write other bytes).
    const statePath = syncStatePaths(data, 'shop.db').state;
    const record = JSON.parse(readFileSync(statePath, 'utf8')) as { exported: { writerRevision: number } };
    record.exported.writerRevision = 0;
    writeFileSync(statePath, JSON.stringify(record));
    assert.equal(manager.dehydrateAllSync().databases['shop.db']?.notRead, undefined);
    assert.equal(manager.dehydrateAllSync().databases['shop.db']?.notRead, true);

    // The archive touched by someone else (same bytes written again): read in full.
    writeFileSync(archivePath, readFileSync(archivePath));
    assert.equal(manager.dehydrateAllSync().databases['shop.db']?.notRead, undefined);
  });

  it('status, hydrate and the dehydrate guard decide the same with a stamp as by reading the database', async () => {
    const dir = join(root.dir, 'decisions');
    const data = join(dir, 'data');
    mkdirSync(data, { recursive: true });
    const dbPath = join(data, 'shop.db');
    makeItems(dbPath);
    const manager = new DBHydrationManager({ dataDir: data });
    manager.dehydrateAllSync();
    await sleep(RACY_WINDOW_MS + 200);
    manager.dehydrateAllSync();
    assert.ok(readSyncRecord(data, 'shop.db')?.exported !== undefined);
    const state = async (): Promise<string | undefined> => (await getStatus(manager)).databases[0]?.state;
    assert.equal(await state(), 'in-sync');

    // A teammate's archive arrives (as a pull would bring it): the database is unchanged, so hydrate brings it in
    // and dehydrate refuses to write the old rows back.
    const archivePath = manager.archivePathFor('shop.db');
    const mine = readFileSync(archivePath);
    const teammate = join(dir, 'teammate');
    mkdirSync(teammate);
    const theirs = join(teammate, 'shop.db');
    copyFileSync(dbPath, theirs);
    write(theirs, (db) => db.exec("INSERT INTO items VALUES (99, 'theirs')"));
    dehydrateDatabase({
      dbPath: theirs,
      archivePath,
      database: 'shop',
      fileName: 'shop.db',
      busyTimeoutMs: 5000,
    });
    assert.equal(await state(), 'archive-updated');
    const refused = manager.dehydrateAllSync();
    assert.equal(refused.errorDetails[0]?.code, 'ARCHIVE_CHANGED');
    const hydrated = await manager.hydrateAll();
    assert.equal(hydrated.databases['shop.db']?.sync, 'archive-updated');
    const row = new Database(dbPath, { readonly: true });
    try {
      assert.deepEqual(row.prepare('SELECT name FROM items WHERE id = 99').pluck().get(), 'theirs');
    } finally {
      row.close();
    }

    // Both sides change: diverged, whatever the stamps say.
    await sleep(RACY_WINDOW_MS + 200);
    manager.dehydrateAllSync();
    manager.dehydrateAllSync();
    assert.ok(readSyncRecord(data, 'shop.db')?.exported !== undefined);
    writeFileSync(archivePath, mine);
    write(dbPath, (db) => db.exec("INSERT INTO items VALUES (100, 'mine')"));
    assert.equal(await state(), 'diverged');
  });
});

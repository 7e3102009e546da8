// Sync state (issue 12, item 0): each database remembers the archive content it last matched, so status tells a
// local edit from a pulled archive, hydrate brings pulled changes in, dehydrate never writes old rows back over them,
// and sync merges a database and an archive that both changed. Real files, the built CLI as child processes, real
// git with a bare repository and two clones.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { DBHydrationManager, getStatus } from '../src/index.js';
import { archiveContentHash } from '../src/archive/content-comparison.js';
import { mergeArchives } from '../src/merge/merge-archives.js';
import {
  readSyncRecord,
  recordPendingMerge,
  SYNC_STATE_DIR,
  syncStatePaths,
} from '../src/sync/sync-state.js';
import { cli, type CliRun } from './helpers/cli.js';
import { makeDatabase, tempDir } from './helpers/fixtures.js';

const root = tempDir('dh-sync-');
after(root.cleanup);
let n = 0;

/** The shop database: items 1..3. */
function makeShop(path: string): void {
  makeDatabase(path, (db) =>
    db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);
             INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three');`),
  );
}

function rows(dbPath: string): [number, string][] {
  const db = new Database(dbPath, { readonly: true });
  try {
    return db
      .prepare('SELECT id, name FROM items ORDER BY id')
      .raw()
      .all()
      .map((r) => r as [number, string]);
  } finally {
    db.close();
  }
}

function setName(dbPath: string, id: number, name: string): void {
  makeDatabase(dbPath, (db) => db.prepare('UPDATE items SET name = ? WHERE id = ?').run(name, id));
}

function statusOf(cwd: string): { state: string; hint?: string; reason: string; tracked?: boolean } {
  const r = cli(['status', '--json'], cwd);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const parsed = JSON.parse(r.stdout) as {
    databases: { state: string; hint?: string; reason: string; tracked?: boolean }[];
  };
  const entry = parsed.databases[0];
  assert.ok(entry, r.stdout);
  return entry;
}

function ok(r: CliRun, what: string): CliRun {
  assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
  return r;
}

/** A bare repository `origin` and clones of it, with data/shop.db's archive committed by a first clone. */
function gitWorld(): { clone: (name: string) => string; git: (cwd: string, ...args: string[]) => string } {
  const dir = join(root.dir, `git${++n}`);
  mkdirSync(dir);
  const git = (cwd: string, ...args: string[]): string =>
    execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  git(dir, 'init', '-q', '--bare', 'origin.git');
  const origin = join(dir, 'origin.git');
  git(dir, 'clone', '-q', origin, 'first');
  const first = join(dir, 'first');
  mkdirSync(join(first, 'data'));
  makeShop(join(first, 'data', 'shop.db'));
  ok(cli(['dehydrate', '-q'], first), 'first dehydrate');
  writeFileSync(join(first, '.gitignore'), '*.db\n*.bak\n');
  git(first, 'add', '-A');
  git(first, 'commit', '-q', '-m', 'archives');
  git(first, 'push', '-q', 'origin', 'HEAD');
  return {
    clone: (name) => {
      git(dir, 'clone', '-q', origin, name);
      const path = join(dir, name);
      ok(cli(['hydrate', '-q'], path), `${name} hydrate`);
      return path;
    },
    git,
  };
}

const ARCHIVE = join('data', 'json_archives', 'shop.json');
const DB = join('data', 'shop.db');

describe('sync state', () => {
  it('is kept in <dataDir>/.db-hydration, which ignores itself, and never shows up in git status', () => {
    const world = gitWorld();
    const a = world.clone('a');
    assert.equal(readFileSync(join(a, 'data', SYNC_STATE_DIR, '.gitignore'), 'utf8').includes('*\n'), true);
    const record = readSyncRecord(join(a, 'data'), 'shop.db');
    assert.equal(record?.matchedBy, 'hydrate');
    assert.equal(record.contentHash, archiveContentHash(join(a, ARCHIVE)));
    assert.ok(existsSync(join(a, 'data', SYNC_STATE_DIR, 'shop.db.base.json')));
    assert.equal(world.git(a, 'status', '--porcelain'), '');
    assert.equal(statusOf(a).state, 'in-sync');
  });

  it('after a pull: status says the archive was updated, hydrate brings the row in, a later dehydrate keeps it', () => {
    const world = gitWorld();
    const a = world.clone('a');
    const b = world.clone('b');
    setName(join(b, DB), 3, 'three by B');
    ok(cli(['dehydrate', '-q'], b), 'B dehydrate');
    world.git(b, 'commit', '-q', '-am', 'B: row 3');
    world.git(b, 'push', '-q', 'origin', 'HEAD');
    world.git(a, 'pull', '-q', '--no-rebase');

    const status = statusOf(a);
    assert.equal(status.state, 'archive-updated');
    assert.match(status.hint ?? '', /db-hydration hydrate/);
    assert.match(cli(['status'], a).stdout, /^shop\.db +archive updated .*db-hydration hydrate/m);

    const hydrated = ok(cli(['hydrate'], a), 'A hydrate');
    assert.match(hydrated.stdout, /^hydrated {2}shop\.db <- .*old file backed up to/m);
    assert.deepEqual(rows(join(a, DB)), [
      [1, 'one'],
      [2, 'two'],
      [3, 'three by B'],
    ]);
    assert.equal(statusOf(a).state, 'in-sync');

    setName(join(a, DB), 2, 'two by A');
    assert.equal(statusOf(a).state, 'changed');
    ok(cli(['dehydrate', '-q'], a), 'A dehydrate');
    const archive = readFileSync(join(a, ARCHIVE), 'utf8');
    assert.match(archive, /"three by B"/);
    assert.match(archive, /"two by A"/);
    assert.equal(statusOf(a).state, 'in-sync');
  });

  it('diverged: status says sync, dehydrate refuses naming sync, --force says what it overwrites, sync merges both', () => {
    const world = gitWorld();
    const a = world.clone('a');
    const b = world.clone('b');
    setName(join(b, DB), 3, 'three by B');
    ok(cli(['dehydrate', '-q'], b), 'B dehydrate');
    world.git(b, 'commit', '-q', '-am', 'B: row 3');
    world.git(b, 'push', '-q', 'origin', 'HEAD');
    setName(join(a, DB), 1, 'one by A');
    world.git(a, 'pull', '-q', '--no-rebase');

    const status = statusOf(a);
    assert.equal(status.state, 'diverged');
    assert.match(status.hint ?? '', /db-hydration sync/);
    assert.doesNotMatch(status.hint ?? '', /dehydrate/);

    // plain hydrate keeps the local change and names sync
    const hydrate = ok(cli(['hydrate'], a), 'A hydrate');
    assert.match(hydrate.stdout, /skipped {3}shop\.db .*db-hydration sync/);
    assert.deepEqual(rows(join(a, DB))[0], [1, 'one by A']);

    const pulled = readFileSync(join(a, ARCHIVE));
    const refused = cli(['dehydrate'], a);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /error: .*shop\.db.*changed since shop\.db last matched it/);
    assert.match(refused.stderr, /hint: .*db-hydration sync/);
    assert.deepEqual(readFileSync(join(a, ARCHIVE)), pulled, 'the pulled archive is untouched');

    // --force in a copy of the clone: it overwrites, and says so
    const copy = join(a, '..', 'a-copy');
    cpSync(a, copy, { recursive: true });
    const forced = ok(cli(['dehydrate', '--force'], copy), 'dehydrate --force');
    assert.match(
      forced.stdout,
      /warning: overwrote .*shop\.json, which changed since shop\.db last matched it .*table "items".*no longer in the archive/,
    );
    assert.doesNotMatch(readFileSync(join(copy, ARCHIVE), 'utf8'), /three by B/);

    // sync: the three-way merge (src/merge/merge-archives.ts) brings both changes together
    const synced = cli(['sync'], a);
    assert.equal(synced.code, 0, synced.stdout + synced.stderr);
    assert.match(synced.stdout, /shop\.db: merged/);
    assert.deepEqual(rows(join(a, DB)), [
      [1, 'one by A'],
      [2, 'two'],
      [3, 'three by B'],
    ]);
    const archive = readFileSync(join(a, ARCHIVE), 'utf8');
    assert.match(archive, /"one by A"/);
    assert.match(archive, /"three by B"/);
    assert.equal(statusOf(a).state, 'in-sync');
    assert.equal(cli(['dehydrate', '-q'], a).code, 0);
  });

  it('a sync conflict resolved to theirs with git resolve is recognised as the resolution (hydrate rebuilds)', () => {
    const world = gitWorld();
    const a = world.clone('a');
    const b = world.clone('b');
    setName(join(b, DB), 3, 'three by B');
    ok(cli(['dehydrate', '-q'], b), 'B dehydrate');
    world.git(b, 'commit', '-q', '-am', 'B: row 3');
    world.git(b, 'push', '-q', 'origin', 'HEAD');
    setName(join(a, DB), 3, 'three by A');
    world.git(a, 'pull', '-q', '--no-rebase');
    const theirs = readFileSync(join(a, ARCHIVE), 'utf8');
    assert.equal(cli(['sync'], a).code, 1);
    // Every local change conflicted, and theirs is kept: the archive is exactly the pulled one again.
    ok(cli(['git', 'resolve', '--theirs'], a), 'resolve --theirs');
    assert.equal(
      readFileSync(join(a, ARCHIVE), 'utf8').replace(/^"exported_at".*\n/m, ''),
      theirs.replace(/^"exported_at".*\n/m, ''),
    );
    assert.equal(statusOf(a).state, 'archive-updated');
    ok(cli(['hydrate'], a), 'hydrate');
    assert.deepEqual(rows(join(a, DB))[2], [3, 'three by B']);
    assert.equal(statusOf(a).state, 'in-sync');
  });

  it('sync on a conflict writes the markers, leaves the database, exits 1; once resolved, sync rebuilds it', () => {
    const world = gitWorld();
    const a = world.clone('a');
    const b = world.clone('b');
    setName(join(b, DB), 3, 'three by B');
    ok(cli(['dehydrate', '-q'], b), 'B dehydrate');
    world.git(b, 'commit', '-q', '-am', 'B: row 3');
    world.git(b, 'push', '-q', 'origin', 'HEAD');
    setName(join(a, DB), 3, 'three by A');
    world.git(a, 'pull', '-q', '--no-rebase');
    const before = readFileSync(join(a, DB));

    // the three-way merge (src/merge/merge-archives.ts) finds the same cell changed on both sides
    const synced = cli(['sync'], a);
    assert.equal(synced.code, 1, synced.stdout + synced.stderr);
    assert.match(synced.stderr, /conflict \(cell\): shop, table "items", key id=3, column "name"/);
    assert.match(synced.stderr, /ours: .*three by A/);
    assert.match(synced.stderr, /theirs: .*three by B/);
    const marked = readFileSync(join(a, ARCHIVE), 'utf8');
    assert.match(marked, /^<{7}/m);
    assert.match(marked, /^>{7}/m);
    assert.deepEqual(readFileSync(join(a, DB)), before, 'the database is left as it was');
    assert.equal(statusOf(a).state, 'conflict');
    assert.ok(readSyncRecord(join(a, 'data'), 'shop.db')?.pendingMerge);

    // resolved by hand in an editor: one row between the markers, the marker lines deleted
    const resolved = marked
      .replace(/^<{7}[^\n]*\n[\s\S]*?^={7}\n([\s\S]*?)^>{7}[^\n]*\n/m, '$1')
      .replace('three by B', 'three by A and B');
    writeFileSync(join(a, ARCHIVE), resolved);
    assert.equal(statusOf(a).state, 'archive-updated');
    const again = ok(cli(['sync'], a), 'sync after resolving');
    assert.match(again.stdout, /shop\.db: hydrated/);
    assert.deepEqual(rows(join(a, DB))[2], [3, 'three by A and B']);
    assert.equal(statusOf(a).state, 'in-sync');
  });

  it('sync where only one side changed dehydrates or hydrates, without a merge', () => {
    const world = gitWorld();
    const a = world.clone('a');
    setName(join(a, DB), 2, 'two by A');
    const local = ok(cli(['sync'], a), 'sync (local change)');
    assert.match(local.stdout, /shop\.db: dehydrated/);
    assert.match(readFileSync(join(a, ARCHIVE), 'utf8'), /"two by A"/);
    world.git(a, 'commit', '-q', '-am', 'A: row 2');
    world.git(a, 'push', '-q', 'origin', 'HEAD');

    const b = world.clone('b');
    setName(join(b, DB), 1, 'one by B');
    ok(cli(['dehydrate', '-q'], b), 'B dehydrate');
    world.git(b, 'commit', '-q', '-am', 'B: row 1');
    world.git(b, 'push', '-q', 'origin', 'HEAD');
    world.git(a, 'pull', '-q', '--no-rebase');
    const pulled = ok(cli(['sync'], a), 'sync (pulled change)');
    assert.match(pulled.stdout, /shop\.db: hydrated .*backed up/);
    assert.deepEqual(rows(join(a, DB)).slice(0, 2), [
      [1, 'one by B'],
      [2, 'two by A'],
    ]);
    assert.equal(statusOf(a).state, 'in-sync');
  });

  it('without sync state: status and hydrate say they cannot tell, and behave as before', () => {
    const p = join(root.dir, `p${++n}`);
    mkdirSync(join(p, 'data'), { recursive: true });
    makeShop(join(p, DB));
    ok(cli(['dehydrate', '-q'], p), 'dehydrate');
    rmSync(join(p, 'data', SYNC_STATE_DIR), { recursive: true });
    assert.equal(statusOf(p).state, 'in-sync');
    setName(join(p, DB), 1, 'edited');
    const status = statusOf(p);
    assert.equal(status.state, 'changed');
    assert.equal(status.tracked, false);
    assert.match(status.reason, /cannot tell whether the database or the archive changed/);
    assert.match(
      cli(['status'], p).stdout,
      /changed since archive \(table "items"\), cannot tell which side/,
    );
    const hydrate = ok(cli(['hydrate'], p), 'hydrate');
    assert.match(hydrate.stdout, /skipped {3}shop\.db .*cannot tell/);
    assert.deepEqual(rows(join(p, DB))[0], [1, 'edited']);
    const sync = cli(['sync'], p);
    assert.equal(sync.code, 1);
    assert.match(sync.stderr, /cannot tell which of them changed/);
    ok(cli(['dehydrate', '-q'], p), 'dehydrate as before');
    assert.match(readFileSync(join(p, ARCHIVE), 'utf8'), /"edited"/);
    assert.equal(statusOf(p).state, 'in-sync');
  });

  it('an archive with conflict markers is `conflict` (not "no archive yet"), and nothing is dehydrated over it', () => {
    const p = join(root.dir, `p${++n}`);
    mkdirSync(join(p, 'data'), { recursive: true });
    makeShop(join(p, DB));
    ok(cli(['dehydrate', '-q'], p), 'dehydrate');
    const archivePath = join(p, ARCHIVE);
    const text = readFileSync(archivePath, 'utf8');
    const conflicted = text.replace(
      '{"id":3,"name":"three"}\n',
      '<<<<<<< ours\n{"id":3,"name":"three A"}\n=======\n{"id":3,"name":"three B"}\n>>>>>>> theirs\n',
    );
    for (const [what, content] of [
      ['rows', conflicted],
      [
        'header',
        conflicted.replace(/"exported_at": "[^"]*",\n/, '<<<<<<< ours\n$&=======\n$&>>>>>>> theirs\n'),
      ],
    ] as const) {
      writeFileSync(archivePath, content);
      const status = statusOf(p);
      assert.equal(status.state, 'conflict', what);
      assert.doesNotMatch(status.hint ?? '', /dehydrate/, what);
      assert.match(status.hint ?? '', /git resolve/, what);
      assert.match(cli(['status'], p).stdout, /^shop\.db +unresolved conflicts \(line \d+\)/m, what);
      const refused = cli(['dehydrate'], p);
      assert.equal(refused.code, 1, what);
      assert.match(refused.stderr, /unresolved merge conflicts/, what);
      assert.equal(readFileSync(archivePath, 'utf8'), content, what);
      const sync = cli(['sync'], p);
      assert.equal(sync.code, 1, what);
      assert.match(sync.stderr, /unresolved merge conflicts.*not synced/, what);
    }
  });

  it('a merge that stopped on conflicts, once resolved, rebuilds the database instead of merging again', async () => {
    const p = join(root.dir, `p${++n}`);
    const data = join(p, 'data');
    mkdirSync(data, { recursive: true });
    makeShop(join(p, DB));
    const manager = new DBHydrationManager({ dataDir: data });
    await manager.dehydrateAll();
    // The other side: row 3 changed in the archive.
    const other = join(p, 'other');
    mkdirSync(other);
    makeShop(join(other, 'shop.db'));
    setName(join(other, 'shop.db'), 3, 'three by B');
    await new DBHydrationManager({ dataDir: other, archiveDir: join(p, 'theirs') }).dehydrateAll();
    const theirs = readFileSync(join(p, 'theirs', 'shop.json'));
    writeFileSync(join(p, ARCHIVE), theirs);
    setName(join(p, DB), 1, 'one by A');
    assert.equal((await getStatus(manager)).databases[0]?.state, 'diverged');
    // What `sync` records when the merge stops on conflicts: the two sides' content hashes.
    const ours = join(p, 'ours');
    mkdirSync(ours);
    cpSync(join(p, DB), join(ours, 'shop.db'));
    await new DBHydrationManager({ dataDir: ours }).dehydrateAll();
    const record = readSyncRecord(data, 'shop.db');
    assert.ok(record);
    recordPendingMerge(data, record, {
      oursContentHash: archiveContentHash(join(ours, 'json_archives', 'shop.json')),
      theirsContentHash: archiveContentHash(join(p, ARCHIVE)),
      startedAt: new Date().toISOString(),
    });
    // Unresolved (the archive is still theirs, e.g. after `git checkout -- archive`): still diverged, never rebuilt.
    assert.equal((await getStatus(manager)).databases[0]?.state, 'diverged');
    // Resolved: both rows, as a resolution would leave them.
    setName(join(other, 'shop.db'), 1, 'one resolved');
    await new DBHydrationManager({ dataDir: other, archiveDir: join(p, 'theirs') }).dehydrateAll();
    writeFileSync(join(p, ARCHIVE), readFileSync(join(p, 'theirs', 'shop.json')));
    const status = (await getStatus(manager)).databases[0];
    assert.equal(status?.state, 'archive-updated');
    assert.match(status.reason, /resolved merge/);
    const hydrated = await manager.hydrateAll();
    assert.equal(hydrated.databases['shop.db']?.status, 'hydrated');
    assert.deepEqual(rows(join(p, DB)), [
      [1, 'one resolved'],
      [2, 'two'],
      [3, 'three by B'],
    ]);
    assert.equal(readSyncRecord(data, 'shop.db')?.pendingMerge, undefined);
    assert.equal((await getStatus(manager)).databases[0]?.state, 'in-sync');
  });

  it('manager.syncAll merges a diverged database with the injected merge (mergeArchives)', async () => {
    const p = join(root.dir, `p${++n}`);
    const data = join(p, 'data');
    mkdirSync(data, { recursive: true });
    makeShop(join(p, DB));
    const manager = new DBHydrationManager({ dataDir: data });
    await manager.dehydrateAll();
    const other = join(p, 'other');
    mkdirSync(other);
    cpSync(join(p, DB), join(other, 'shop.db'));
    setName(join(other, 'shop.db'), 3, 'three by B');
    await new DBHydrationManager({ dataDir: other, archiveDir: join(data, 'json_archives') }).dehydrateAll({
      force: true,
    });
    setName(join(p, DB), 1, 'one by A');
    const calls: string[] = [];
    const result = await manager.syncAll({
      merge: (options) => {
        calls.push(options.theirs);
        return mergeArchives(options);
      },
    });
    assert.deepEqual(result.errors, []);
    assert.equal(result.clean, true);
    assert.deepEqual(calls, [join(p, ARCHIVE)]);
    const synced = result.databases['shop.db'];
    assert.equal(synced?.before, 'diverged');
    assert.equal(synced.action, 'merged');
    assert.ok(synced.backupPath !== undefined && existsSync(synced.backupPath));
    assert.deepEqual(rows(join(p, DB)), [
      [1, 'one by A'],
      [2, 'two'],
      [3, 'three by B'],
    ]);
    assert.equal(readSyncRecord(data, 'shop.db')?.matchedBy, 'sync');
    assert.equal((await getStatus(manager)).databases[0]?.state, 'in-sync');
  });

  it('the base copy is a hard link to the matched archive; an archive edited in place is never used as a merge base', async () => {
    const p = join(root.dir, `p${++n}`);
    const data = join(p, 'data');
    mkdirSync(data, { recursive: true });
    makeShop(join(p, DB));
    const manager = new DBHydrationManager({ dataDir: data });
    await manager.dehydrateAll();
    const base = syncStatePaths(data, 'shop.db', join(p, ARCHIVE)).base;
    assert.equal(statSync(base).ino, statSync(join(p, ARCHIVE)).ino, 'linked, not copied');
    // An editor writing the archive in place (same inode) changes the base copy too: sync must not trust it.
    const text = readFileSync(join(p, ARCHIVE), 'utf8');
    writeFileSync(join(p, ARCHIVE), text.replace('"two"', '"two edited in place"'));
    setName(join(p, DB), 1, 'one by A');
    const result = await manager.syncAll({ merge: (options) => mergeArchives(options) });
    assert.equal(result.clean, false);
    assert.match(result.errors.join('\n'), /cannot tell/);
    assert.deepEqual(rows(join(p, DB))[0], [1, 'one by A'], 'the database is left as it was');
  });

  it('hydrate records the hashes it computed while reading: the same as reading the archive again', async () => {
    const p = join(root.dir, `p${++n}`);
    const data = join(p, 'data');
    mkdirSync(data, { recursive: true });
    makeShop(join(p, DB));
    await new DBHydrationManager({ dataDir: data }).dehydrateAll();
    const other = join(p, 'other');
    const hydrated = await new DBHydrationManager({
      dataDir: other,
      archiveDir: join(data, 'json_archives'),
    }).hydrateAll();
    assert.equal(hydrated.databases['shop.db']?.status, 'hydrated');
    const record = readSyncRecord(other, 'shop.db', join(p, ARCHIVE));
    assert.equal(record?.contentHash, archiveContentHash(join(p, ARCHIVE)));
    assert.equal(
      record.archiveSha256,
      createHash('sha256')
        .update(readFileSync(join(p, ARCHIVE)))
        .digest('hex'),
    );
  });

  it('fix records a restore from the archive as a match', async () => {
    const p = join(root.dir, `p${++n}`);
    const data = join(p, 'data');
    mkdirSync(data, { recursive: true });
    makeShop(join(p, DB));
    const manager = new DBHydrationManager({ dataDir: data });
    await manager.dehydrateAll();
    rmSync(join(data, SYNC_STATE_DIR), { recursive: true });
    writeFileSync(join(p, DB), 'not a database at all, just text that is long enough to be looked at');
    const fixed = await manager.fixCorruptedDbs();
    assert.deepEqual(fixed.fixed, ['shop.db']);
    assert.equal(readSyncRecord(data, 'shop.db')?.matchedBy, 'fix');
  });

  // Feature: database-hydration, Property 14: Sync State Classification
  it('status classifies like the model (local changed? archive changed?) over random operation sequences', async () => {
    const ws = join(root.dir, `prop${++n}`);
    mkdirSync(ws);
    // Every archive version: items 1 and 2, each named 'a', 'b' or 'c'.
    const NAMES = ['a', 'b', 'c'] as const;
    const versions = new Map<string, Buffer>();
    for (const x of NAMES)
      for (const y of NAMES) {
        const dir = join(ws, `v-${x}${y}`);
        mkdirSync(dir);
        makeDatabase(join(dir, 'shop.db'), (db) =>
          db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);
                   INSERT INTO items VALUES (1, '${x}'), (2, '${y}');`),
        );
        await new DBHydrationManager({ dataDir: dir }).dehydrateAll();
        versions.set(x + y, readFileSync(join(dir, 'json_archives', 'shop.json')));
      }
    const name = fc.constantFrom(...NAMES);
    const op = fc.oneof(
      fc.record({ kind: fc.constant('edit' as const), id: fc.constantFrom(0, 1), name }),
      fc.record({ kind: fc.constant('replace' as const), version: fc.tuple(name, name) }),
      fc.record({ kind: fc.constant('hydrate' as const) }),
      fc.record({ kind: fc.constant('dehydrate' as const) }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.tuple(name, name),
        fc.array(op, { minLength: 1, maxLength: 4 }),
        async (start, ops) => {
          const data = join(ws, `r${++run}`);
          const archives = join(data, 'json_archives');
          mkdirSync(archives, { recursive: true });
          const startVersion = start.join('');
          writeFileSync(join(archives, 'shop.json'), versions.get(startVersion) ?? '');
          const manager = new DBHydrationManager({ dataDir: data });
          await manager.hydrateAll();
          const model = { db: startVersion, archive: startVersion, base: startVersion };
          for (const o of ops) {
            if (o.kind === 'edit') {
              setName(join(data, 'shop.db'), o.id + 1, o.name);
              model.db = o.id === 0 ? o.name + model.db.slice(1) : model.db.slice(0, 1) + o.name;
            } else if (o.kind === 'replace') {
              model.archive = o.version.join('');
              writeFileSync(join(archives, 'shop.json'), versions.get(model.archive) ?? '');
            } else if (o.kind === 'hydrate') {
              const r = await manager.hydrateAll();
              assert.deepEqual(r.errors, []);
              if (model.db !== model.archive && model.db === model.base)
                model.db = model.base = model.archive;
            } else {
              const r = manager.dehydrateAllSync();
              const refuse = model.archive !== model.base && model.db !== model.archive;
              assert.deepEqual(
                r.errorDetails.map((e) => e.code),
                refuse ? ['ARCHIVE_CHANGED'] : [],
              );
              if (!refuse) model.archive = model.base = model.db;
            }
            const expected =
              model.db === model.archive
                ? 'in-sync'
                : model.archive === model.base
                  ? 'changed'
                  : model.db === model.base
                    ? 'archive-updated'
                    : 'diverged';
            const entry = (await getStatus(manager)).databases[0];
            assert.equal(entry?.state, expected, JSON.stringify({ start, ops, model }));
            assert.deepEqual(
              rows(join(data, 'shop.db')).map((r) => r[1]),
              [model.db.slice(0, 1), model.db.slice(1)],
            );
          }
          rmSync(data, { recursive: true, force: true });
        },
      ),
      { numRuns: 100 },
    );
  });
});

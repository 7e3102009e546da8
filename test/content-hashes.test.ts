/**
 * Content hashes in the manifest (issue 14 §1): `content_sha256` and per-table `{rows, content_sha256}` are the same
 * for the same data on any machine, at any time, in any codec, and a change to one table changes that table's hash
 * only (Property 24). Also: `stats` reports both sizes of a compressed archive, and `status` warns about an archive
 * over 50 MB with the next step.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { DBHydrationManager, getStatus } from '../src/index.js';
import type { Manifest, ManifestTableEntry } from '../src/manifest/manifest.js';
import { buildDatabase, databaseSpec, quote, type DatabaseSpec } from './helpers/generators.js';
import { cli } from './helpers/cli.js';
import { tempDir } from './helpers/fixtures.js';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 100);

function manifestOf(archiveDir: string): Manifest {
  return JSON.parse(readFileSync(join(archiveDir, 'manifest.json'), 'utf8')) as Manifest;
}

/** Dehydrates `<dir>/data/shop.db` into `<dir>/archives` (gzip when asked) and returns the manifest. */
async function exportShop(dir: string, compress: 'gzip' | 'none'): Promise<Manifest> {
  const archives = join(dir, 'archives');
  const result = await new DBHydrationManager({
    dataDir: join(dir, 'data'),
    archiveDir: archives,
    compress,
  }).dehydrateAll();
  assert.deepEqual(result.errors, []);
  return manifestOf(archives);
}

/** Copies `<from>/data/shop.db` to `<to>/data/shop.db`. */
function copyShop(from: string, to: string): void {
  mkdirSync(join(to, 'data'), { recursive: true });
  copyFileSync(join(from, 'data', 'shop.db'), join(to, 'data', 'shop.db'));
}

/** Row counts of every table of a database file, counted by SQLite (the generator skips rows that break constraints). */
function rowCounts(dbPath: string, spec: DatabaseSpec): Map<string, number> {
  const db = new Database(dbPath, { readonly: true });
  try {
    return new Map(
      spec.tables.map((t) => [
        t.name,
        Number(
          db
            .prepare(`SELECT count(*) AS n FROM ${quote(t.name)}`)
            .pluck()
            .get(),
        ),
      ]),
    );
  } finally {
    db.close();
  }
}

/**
 * Deletes one row of the first rowid table that has rows, through a rowid name no column shadows.
 * @returns the table's name, or undefined when no table could be edited so
 */
function deleteOneRow(dbPath: string, spec: DatabaseSpec, counts: Map<string, number>): string | undefined {
  for (const t of spec.tables) {
    if (t.withoutRowid || (counts.get(t.name) ?? 0) === 0) continue;
    const taken = new Set(t.columns.map((c) => c.name.toLowerCase()));
    const rowid = ['rowid', '_rowid_', 'oid'].find((n) => !taken.has(n));
    if (rowid === undefined) continue;
    const db = new Database(dbPath);
    try {
      db.exec(
        `DELETE FROM ${quote(t.name)} WHERE ${rowid} IN (SELECT ${rowid} FROM ${quote(t.name)} ORDER BY ${rowid} LIMIT 1)`,
      );
    } finally {
      db.close();
    }
    return t.name;
  }
  return undefined;
}

describe('content hashes', () => {
  // Feature: database-hydration, Property 24: Content hashes are codec- and time-independent and per table
  it('Property 24: the same data has the same content hashes in any directory, at any time, plain or gzip; one changed table changes only its own hash', async () => {
    const root = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'dh-p24-'));
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(databaseSpec({ maxRows: 12 }), async (spec) => {
          const run = join(root, String(n++));
          // Built once (a NULL key after the largest rowid gets a random one), copied for the other exports.
          mkdirSync(join(run, 'a', 'data'), { recursive: true });
          buildDatabase(join(run, 'a', 'data', 'shop.db'), spec);
          copyShop(join(run, 'a'), join(run, 'elsewhere', 'b'));
          copyShop(join(run, 'a'), join(run, 'c'));
          const plain = (await exportShop(join(run, 'a'), 'none')).databases['shop.db'];
          // Another directory, a later export time, the other codec.
          await new Promise((r) => setTimeout(r, 2));
          const gz = (await exportShop(join(run, 'elsewhere', 'b'), 'gzip')).databases['shop.db'];
          assert.ok(plain !== undefined && gz !== undefined);
          assert.equal(plain.codec, 'identity');
          assert.equal(gz.codec, 'gzip');
          assert.notEqual(plain.sha256, gz.sha256, 'the file checksums differ with the codec');
          assert.notEqual(plain.content_sha256, undefined);
          assert.equal(gz.content_sha256, plain.content_sha256);
          assert.deepEqual(gz.tables, plain.tables);
          const tables = plain.tables ?? {};
          assert.deepEqual(Object.keys(tables).sort(), spec.tables.map((t) => t.name).sort());
          const counts = rowCounts(join(run, 'a', 'data', 'shop.db'), spec);
          for (const t of spec.tables) assert.equal(tables[t.name]?.rows, counts.get(t.name), t.name);

          const changed = deleteOneRow(join(run, 'c', 'data', 'shop.db'), spec, counts);
          if (changed === undefined) return;
          const after = (await exportShop(join(run, 'c'), 'none')).databases['shop.db'];
          assert.ok(after?.tables !== undefined);
          assert.notEqual(after.content_sha256, plain.content_sha256);
          for (const t of spec.tables) {
            const was = tables[t.name];
            const now: ManifestTableEntry | undefined = after.tables[t.name];
            if (t.name === changed) {
              assert.notEqual(now?.content_sha256, was?.content_sha256, `${t.name} changed`);
              assert.equal(now?.rows, (counts.get(t.name) ?? 0) - 1);
            } else {
              assert.deepEqual(now, was, `${t.name} did not change`);
            }
          }
          rmSync(run, { recursive: true, force: true });
        }),
        { numRuns: RUNS },
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('stats and status on large and compressed archives', () => {
  it('stats shows the size as stored and the plain size; status warns about an archive over 50 MB with what to do', () => {
    const { dir, cleanup } = tempDir('dh-large-');
    try {
      const data = join(dir, 'data');
      mkdirSync(data);
      const db = new Database(join(data, 'big.db'));
      // Random bytes do not compress: the gzip archive stays over 50 MB too.
      db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB)');
      const insert = db.prepare('INSERT INTO blobs (b) VALUES (randomblob(1000000))');
      for (let i = 0; i < 70; i++) insert.run();
      db.close();
      const small = new Database(join(data, 'small.db'));
      small.exec("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('a'), ('b')");
      small.close();

      assert.equal(cli(['dehydrate', '--compress', 'gzip', '--db', 'small'], dir).code, 0);
      assert.equal(cli(['dehydrate'], dir).code, 0);
      const smallGz = join(data, 'json_archives', 'small.json.gz');
      const bigJson = join(data, 'json_archives', 'big.json');
      const stats = JSON.parse(cli(['stats', '--json'], dir).stdout) as {
        archives: { fileName: string; bytes: number; plainBytes: number; codec: string }[];
        totalBytes: number;
        totalPlainBytes: number;
      };
      const s = stats.archives.find((a) => a.fileName === 'small.db');
      assert.equal(s?.codec, 'gzip');
      assert.equal(s.bytes, statSync(smallGz).size);
      assert.equal(s.plainBytes, execFileSync('gzip', ['-dc', smallGz]).length);
      const b = stats.archives.find((a) => a.fileName === 'big.db');
      assert.equal(b?.codec, 'identity');
      assert.equal(b.plainBytes, statSync(bigJson).size);
      assert.equal(stats.totalPlainBytes, s.plainBytes + b.plainBytes);
      const table = cli(['stats'], dir);
      assert.match(table.stdout, /plain size/);
      assert.match(table.stdout, /\(gzip\)/);

      const status = cli(['status'], dir);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stderr, /warning: .*big\.json is \d+\.\d MB, over 50 MB/);
      assert.match(
        status.stderr,
        /hint: compress it \(`db-hydration dehydrate --compress gzip --db big\.db`/,
      );
      assert.doesNotMatch(status.stderr, /small/);
      const json = JSON.parse(cli(['status', '--json'], dir).stdout) as {
        clean: boolean;
        warnings: { fileName: string; bytes: number }[];
      };
      assert.equal(json.clean, true, 'a warning does not make the status unclean');
      assert.deepEqual(
        json.warnings.map((w) => [w.fileName, w.bytes]),
        [['big.db', statSync(bigJson).size]],
      );
      assert.equal(cli(['status', '--quiet'], dir).stderr, '');

      // Compressed and still too large: the next step is remote storage.
      assert.equal(cli(['dehydrate', '--compress', 'gzip', '--db', 'big'], dir).code, 0);
      const again = cli(['status'], dir);
      assert.match(again.stderr, /warning: .*big\.json\.gz is \d+\.\d MB/);
      assert.match(again.stderr, /hint: keep it in remote storage/);
    } finally {
      cleanup();
    }
  });

  it('the library reports the same warning', async () => {
    const { dir, cleanup } = tempDir('dh-large-lib-');
    try {
      const data = join(dir, 'data');
      mkdirSync(data);
      const db = new Database(join(data, 'big.db'));
      db.exec(
        'CREATE TABLE blobs (b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) INSERT INTO blobs SELECT randomblob(1000000) FROM n',
      );
      db.close();
      const manager = new DBHydrationManager({ dataDir: data });
      await manager.dehydrateAll();
      const status = await getStatus(manager);
      assert.equal(status.warnings.length, 1);
      assert.ok((status.warnings[0]?.bytes ?? 0) > 50_000_000);
      assert.match(status.warnings[0]?.message ?? '', /big\.json is \d+\.\d MB/);
    } finally {
      cleanup();
    }
  });
});

/**
 * Encrypted archives when things go wrong: the age worker thread dies mid-request (the operation fails at once with a
 * clear error, nothing written), and `fix` and `git resolve` meet a tampered `.age` archive (refused with
 * ARCHIVE_ENCRYPTION naming the file; no database written; every existing file byte for byte as it was).
 *
 * The worker is made to die for real: `node:worker_threads`' Worker is subclassed (before the library starts its
 * worker) so that the worker's script gets one more message listener, which ends the thread when a marker file exists
 * (removing it, so one request dies): by process.exit (its exit handlers run), silently (exit handlers removed first, as
 * when it runs out of memory and no JavaScript runs), or by an uncaught exception.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DBHydrationManager } from '../src/index.js';
import { cli } from './helpers/cli.js';
import { ageKeygen, fileHashes, makeDatabase, tempDir } from './helpers/fixtures.js';
import { leafPagesOf, overwritePages } from './helpers/damage.js';

const require = createRequire(import.meta.url);
const workerThreads = require('node:worker_threads') as typeof import('node:worker_threads');
const OriginalWorker = workerThreads.Worker;

/** Appended to the age worker's script: dies on the next request while the marker file exists. */
const FAULT = `
;(() => {
  const { workerData: data } = require('node:worker_threads');
  const fs = require('node:fs');
  data.port.on('message', () => {
    const marker = process.env.DB_HYDRATION_TEST_AGE_FAULT_FILE;
    if (marker === undefined || !fs.existsSync(marker)) return;
    const how = fs.readFileSync(marker, 'utf8');
    fs.rmSync(marker);
    if (how === 'silent') process.removeAllListeners('exit');
    if (how === 'throw') throw new Error('injected crash of the age worker');
    process.exit(70);
  });
})();`;

function makeItems(path: string, rows = 3000): void {
  makeDatabase(path, (db) => {
    db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, note TEXT)');
    const insert = db.prepare('INSERT INTO items VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= rows; i++) insert.run(i, `item ${i}`, 'n'.repeat(30 + (i % 40)));
    })();
  });
}

describe('encrypted archives when things go wrong', () => {
  let root: { dir: string; cleanup: () => void };
  let identity: string;
  let recipient: string;
  let marker: string;
  const savedMarker = process.env.DB_HYDRATION_TEST_AGE_FAULT_FILE;

  before(() => {
    root = tempDir('dh-age-fail-');
    identity = join(root.dir, 'key.txt');
    recipient = ageKeygen(identity);
    marker = join(root.dir, 'kill-the-age-worker');
    process.env.DB_HYDRATION_TEST_AGE_FAULT_FILE = marker;
    workerThreads.Worker = class extends OriginalWorker {
      constructor(code: string | URL, options?: import('node:worker_threads').WorkerOptions) {
        super(typeof code === 'string' && options?.eval === true ? `${code}${FAULT}` : code, options);
      }
    };
    syncBuiltinESMExports();
  });
  after(() => {
    workerThreads.Worker = OriginalWorker;
    syncBuiltinESMExports();
    if (savedMarker === undefined) delete process.env.DB_HYDRATION_TEST_AGE_FAULT_FILE;
    else process.env.DB_HYDRATION_TEST_AGE_FAULT_FILE = savedMarker;
    root.cleanup();
  });

  /** A data directory with one database, dehydrated encrypted. */
  async function project(
    name: string,
  ): Promise<{ dataDir: string; db: string; archive: string; manager: DBHydrationManager }> {
    const dataDir = join(root.dir, name);
    mkdirSync(dataDir);
    const db = join(dataDir, 'shop.db');
    makeItems(db);
    const manager = new DBHydrationManager({
      dataDir,
      encrypt: { recipients: [recipient] },
      identityFiles: [identity],
    });
    assert.deepEqual((await manager.dehydrateAll()).errors, []);
    return { dataDir, db, manager, archive: join(dataDir, 'json_archives', 'shop.json.age') };
  }

  for (const how of ['exit', 'silent', 'throw'] as const) {
    it(`a worker that dies mid-request (${how}) fails the operation at once; nothing is written`, async () => {
      const p = await project(`worker-${how}`);
      // Encrypting: a changed database, the worker dies while encrypting its archive.
      const d = new Database(p.db);
      d.prepare("UPDATE items SET name = 'changed' WHERE id = 5").run();
      d.close();
      const before = fileHashes(p.dataDir);
      writeFileSync(marker, how);
      let started = Date.now();
      const dehydrated = await p.manager.dehydrateAll();
      assert.ok(Date.now() - started < 20_000, `noticed in ${Date.now() - started} ms`);
      assert.equal(existsSync(marker), false, 'the worker did die');
      assert.equal(dehydrated.errorDetails.length, 1, dehydrated.errors.join('; '));
      assert.equal(dehydrated.errorDetails[0]?.code, 'ARCHIVE_ENCRYPTION');
      assert.match(
        dehydrated.errors[0] ?? '',
        /shop\.json\.age: the age worker thread stopped while encrypting the archive .*nothing was written/,
      );
      assert.deepEqual(
        fileHashes(p.dataDir),
        before,
        'the archive and everything else as they were, no temp file',
      );
      // The next request gets a new worker.
      const again = await p.manager.dehydrateAll();
      assert.deepEqual(again.errors, []);
      assert.match(execFileSync('age', ['-d', '-i', identity, p.archive], { encoding: 'utf8' }), /"changed"/);

      // Decrypting: hydrate of the new archive (never decrypted in this process, so not cached).
      rmSync(p.db);
      const beforeHydrate = fileHashes(p.dataDir);
      writeFileSync(marker, how);
      started = Date.now();
      const hydrated = await p.manager.hydrateAll();
      assert.ok(Date.now() - started < 20_000, `noticed in ${Date.now() - started} ms`);
      assert.equal(existsSync(marker), false, 'the worker did die');
      assert.equal(hydrated.errorDetails[0]?.code, 'ARCHIVE_ENCRYPTION', hydrated.errors.join('; '));
      assert.equal(hydrated.errorDetails[0].file, p.archive);
      assert.match(hydrated.errors[0] ?? '', /worker thread stopped while decrypting the archive/);
      assert.deepEqual(fileHashes(p.dataDir), beforeHydrate, 'no database was written');
      assert.deepEqual((await p.manager.hydrateAll()).errors, []);
      const restored = new Database(p.db, { readonly: true });
      assert.deepEqual(
        restored.prepare("SELECT count(*), max(name = 'changed') FROM items").raw().get(),
        [3000, 1],
      );
      restored.close();
    });
  }

  /** Flips one bit in the middle of a file. */
  function tamper(path: string): void {
    const bytes = readFileSync(path);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0x10;
    writeFileSync(path, bytes);
  }

  it('fix refuses a tampered .age archive: no database written or salvaged, every file as it was', async () => {
    const p = await project('fix');
    tamper(p.archive);
    const run = (
      args: string[],
    ): { code: number | null; json: { errorDetails: { code: string; file?: string }[] } } => {
      const r = cli(['fix', '--data-dir', p.dataDir, '--identity', identity, '--json', ...args], root.dir);
      return {
        code: r.code,
        json: JSON.parse(r.stdout) as { errorDetails: { code: string; file?: string }[] },
      };
    };
    const refusedFor = (what: string, args: string[] = []): void => {
      const before = fileHashes(p.dataDir);
      const r = run(args);
      assert.equal(r.code, 1, what);
      assert.ok(
        r.json.errorDetails.some((e) => e.code === 'ARCHIVE_ENCRYPTION' && e.file === p.archive),
        `${what}: ${JSON.stringify(r.json.errorDetails)}`,
      );
      assert.deepEqual(fileHashes(p.dataDir), before, `${what}: every file as it was`);
    };
    refusedFor('a usable database');
    // A damaged database: not salvaged (and not set aside) while its archive cannot be read.
    overwritePages(p.db, leafPagesOf(p.db, 'items').slice(0, 2));
    refusedFor('a damaged database');
    refusedFor('a damaged database, --db', ['--db', 'shop']);
    // A missing database: not created empty beside an archive that cannot be read.
    rmSync(p.db);
    refusedFor('a missing database');
    refusedFor('a missing database, --db', ['--db', 'shop']);
    assert.equal(existsSync(p.db), false);
    // The library the same.
    const result = await new DBHydrationManager({
      dataDir: p.dataDir,
      identityFiles: [identity],
      databases: ['shop.db'],
    }).fixCorruptedDbs();
    assert.equal(result.errorDetails[0]?.code, 'ARCHIVE_ENCRYPTION');
    assert.deepEqual(result.fixed, []);
    assert.equal(existsSync(p.db), false);
  });

  it('git resolve refuses a tampered .age archive, naming it, and leaves it byte for byte', async () => {
    const p = await project('resolve');
    writeFileSync(
      join(p.dataDir, '..', 'resolve.config.json'),
      JSON.stringify({ encrypt: { recipients: [recipient] } }),
    );
    tamper(p.archive);
    const before = fileHashes(p.dataDir);
    for (const side of [['--ours'], ['--theirs'], []]) {
      const args = ['git', 'resolve', ...side, '--data-dir', p.dataDir, '--identity', identity];
      const config = ['--config', join(p.dataDir, '..', 'resolve.config.json')];
      const json = cli([...args, ...config, '--json'], root.dir);
      assert.equal(json.code, 1, `${side.join('')}: ${json.stdout}${json.stderr}`);
      const detail = (JSON.parse(json.stdout) as { errorDetails: { code: string; file?: string }[] })
        .errorDetails;
      assert.deepEqual(
        detail.map((e) => [e.code, e.file]),
        [['ARCHIVE_ENCRYPTION', p.archive]],
      );
      const human = cli([...args, ...config], root.dir);
      assert.equal(human.code, 1);
      assert.match(human.stderr, /shop\.json\.age: cannot decrypt the archive: the file is damaged/);
      assert.deepEqual(fileHashes(p.dataDir), before, `${side.join('')}: every file as it was`);
    }
  });

  it('dehydrate without a key and without sync state refuses to write over an encrypted archive, unless --force', async () => {
    const p = await project('no-state');
    rmSync(join(p.dataDir, '.db-hydration'), { recursive: true });
    const d = new Database(p.db);
    d.prepare("UPDATE items SET name = 'mine' WHERE id = 1").run();
    d.close();
    const before = fileHashes(p.dataDir);
    // Only the recipient: what the archive holds (a teammate's rows?) cannot be known, so it is kept.
    const env = { DB_HYDRATION_AGE_IDENTITY: '' };
    const refused = cli(
      ['dehydrate', '--data-dir', p.dataDir, '--recipient', recipient, '--json'],
      root.dir,
      env,
    );
    assert.equal(refused.code, 1, refused.stdout);
    const details = (
      JSON.parse(refused.stdout) as { errorDetails: { code: string; file?: string; hint?: string }[] }
    ).errorDetails;
    assert.deepEqual(
      details.map((e) => [e.code, e.file]),
      [['ARCHIVE_ENCRYPTION', p.archive]],
    );
    assert.match(details[0]?.hint ?? '', /--identity FILE.*dehydrate --force/);
    assert.deepEqual(fileHashes(p.dataDir), before, 'every file as it was');
    // With the identity it is decrypted and compared; with --force it is written over.
    const forced = cli(
      ['dehydrate', '--data-dir', p.dataDir, '--recipient', recipient, '--force'],
      root.dir,
      env,
    );
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(execFileSync('age', ['-d', '-i', identity, p.archive], { encoding: 'utf8' }), /"mine"/);
  });
});

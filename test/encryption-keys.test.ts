/**
 * Keys of encrypted archives belong to their manager (two managers with different identities in one process), and
 * passphrases: `encrypt: { passphrase: true }`, interop with the real `age -p`, and the CLI's terminal prompt, driven
 * through a real pseudo-terminal.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DBHydrationManager } from '../src/index.js';
import { makeDatabase, tempDir } from './helpers/fixtures.js';

function keygen(path: string): string {
  execFileSync('age-keygen', ['-o', path], { stdio: 'ignore' });
  return execFileSync('age-keygen', ['-y', path], { encoding: 'utf8' }).trim();
}

/** A database with `rows` rows of `label`-tagged values. */
function makeNotes(path: string, label: string, rows = 200): void {
  makeDatabase(path, (db) => {
    db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, n REAL)');
    const insert = db.prepare('INSERT INTO notes VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= rows; i++) insert.run(i, `${label} note ${i}`, i / 3);
    })();
  });
}

function rowsOf(path: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT * FROM notes ORDER BY id').raw(true).all();
  } finally {
    db.close();
  }
}

describe('encryption keys', () => {
  let root: { dir: string; cleanup: () => void };
  const saved = {
    identity: process.env.DB_HYDRATION_AGE_IDENTITY,
    passphrase: process.env.DB_HYDRATION_AGE_PASSPHRASE,
  };
  before(() => {
    root = tempDir('dh-age-keys-');
    // The managers' own keys only: none from the environment.
    delete process.env.DB_HYDRATION_AGE_IDENTITY;
    delete process.env.DB_HYDRATION_AGE_PASSPHRASE;
  });
  after(() => {
    root.cleanup();
    if (saved.identity !== undefined) process.env.DB_HYDRATION_AGE_IDENTITY = saved.identity;
    if (saved.passphrase !== undefined) process.env.DB_HYDRATION_AGE_PASSPHRASE = saved.passphrase;
  });

  it('two managers with different identities in one process each decrypt their own archives, also at once', async () => {
    const people = ['alice', 'bob'].map((name) => {
      const key = join(root.dir, `${name}.key`);
      const recipient = keygen(key);
      const dataDir = join(root.dir, `${name}-data`);
      mkdirSync(dataDir);
      makeNotes(join(dataDir, 'notes.db'), name);
      return { name, key, recipient, dataDir, db: join(dataDir, 'notes.db') };
    });
    const [alice, bob] = people as [(typeof people)[0], (typeof people)[0]];
    const managerOf = (p: typeof alice): DBHydrationManager =>
      new DBHydrationManager({
        dataDir: p.dataDir,
        encrypt: { recipients: [p.recipient] },
        identityFiles: [p.key],
      });
    const expected = people.map((p) => rowsOf(p.db));
    // Both written first, each to its own recipient.
    const [a, b] = [managerOf(alice), managerOf(bob)];
    for (const m of [a, b]) assert.deepEqual((await m.dehydrateAll()).errors, []);
    for (const p of people) {
      const archive = join(p.dataDir, 'json_archives', 'notes.json.age');
      assert.match(
        execFileSync('age', ['-d', '-i', p.key, archive], { encoding: 'utf8' }),
        new RegExp(`${p.name} note 1"`),
      );
      rmSync(p.db);
    }
    // Alice's manager was made first; before keys belonged to their manager, Bob's (made last) were the only ones.
    const [ha, hb] = await Promise.all([a.hydrateAll(), b.hydrateAll()]);
    assert.deepEqual(ha.errors, []);
    assert.deepEqual(hb.errors, []);
    assert.deepEqual(rowsOf(alice.db), expected[0]);
    assert.deepEqual(rowsOf(bob.db), expected[1]);
    // Neither manager's identity opens the other's archive, whichever was made last.
    rmSync(bob.db);
    const aliceOnBob = new DBHydrationManager({ dataDir: bob.dataDir, identityFiles: [alice.key] });
    const stillBob = managerOf(bob);
    const refused = await aliceOnBob.hydrateAll();
    assert.equal(refused.errorDetails[0]?.code, 'ARCHIVE_ENCRYPTION');
    assert.match(refused.errors[0] ?? '', /none of the given identities/);
    assert.equal(existsSync(bob.db), false, 'no database was written');
    assert.deepEqual((await stillBob.hydrateAll()).errors, []);
    assert.deepEqual(rowsOf(bob.db), expected[1]);
    // Writing: each manager encrypts to its own recipients, also when both run together.
    for (const p of people) {
      const d = new Database(p.db);
      d.prepare('UPDATE notes SET body = ? WHERE id = 1').run(`${p.name} changed`);
      d.close();
    }
    const [da, db] = await Promise.all([a.dehydrateAll(), stillBob.dehydrateAll()]);
    assert.deepEqual([da.errors, db.errors], [[], []]);
    for (const p of people) {
      const archive = join(p.dataDir, 'json_archives', 'notes.json.age');
      assert.match(
        execFileSync('age', ['-d', '-i', p.key, archive], { encoding: 'utf8' }),
        new RegExp(`${p.name} changed`),
      );
      const other = p === alice ? bob : alice;
      assert.throws(() => execFileSync('age', ['-d', '-i', other.key, archive], { stdio: 'pipe' }));
    }
    assert.ok(!readFileSync(join(alice.dataDir, 'json_archives', 'notes.json.age')).includes('alice'));
  });
});

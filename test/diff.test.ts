/** `db-hydration diff`: row-level diffs keyed by primary key, run as a real child process (and with real git). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { cli } from './helpers/cli.js';
import { tempDir } from './helpers/fixtures.js';

function setup(dir: string): string {
  mkdirSync(join(dir, 'data'));
  const db = new Database(join(dir, 'data', 'shop.db'));
  db.exec(`
    CREATE TABLE trades (id INTEGER PRIMARY KEY, symbol TEXT, qty REAL);
    CREATE TABLE kv (k TEXT, v, PRIMARY KEY (k, v)) WITHOUT ROWID;
    INSERT INTO trades VALUES (1, 'BTC', 1.5), (2, 'ETH', 2), (3, 'SOL', 3);
    INSERT INTO kv VALUES ('a', 1), ('b', x'00ff');
  `);
  db.close();
  assert.equal(cli(['dehydrate'], dir).code, 0);
  return join(dir, 'data', 'shop.db');
}

describe('db-hydration diff', () => {
  it('shows the rows a live database added, removed and changed since its archive, by key and column', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = setup(dir);
      const db = new Database(path);
      db.exec(`UPDATE trades SET qty = 9.25 WHERE id = 2; DELETE FROM trades WHERE id = 3;
               INSERT INTO trades VALUES (7, 'ADA', NULL); INSERT INTO kv VALUES ('c', 'x');`);
      db.close();
      const human = cli(['diff'], dir);
      assert.equal(human.code, 0, human.stderr);
      assert.match(human.stdout, /shop\.db: .* 2 rows added, 1 removed, 1 changed/);
      assert.match(human.stdout, /^ {2}~ trades id=2: qty: 2 → 9\.25$/m);
      assert.match(human.stdout, /^ {2}- trades id=3: id=3, symbol="SOL", qty=3$/m);
      assert.match(human.stdout, /^ {2}\+ trades id=7: id=7, symbol="ADA", qty=null$/m);
      assert.match(human.stdout, /^ {2}\+ kv \(k="c", v="x"\): k="c", v="x"$/m);
      const json = cli(['diff', '--json', '--exit-code'], dir);
      assert.equal(json.code, 1);
      const parsed = JSON.parse(json.stdout) as {
        databases: {
          summary: { rowsAdded: number; rowsRemoved: number; rowsChanged: number; tables: string[] };
        }[];
      };
      assert.deepEqual(parsed.databases[0]?.summary, {
        rowsAdded: 2,
        rowsRemoved: 1,
        rowsChanged: 1,
        tables: ['kv', 'trades'],
        otherChanges: 0,
      });
      assert.equal(cli(['dehydrate'], dir).code, 0);
      const clean = cli(['diff', '--exit-code'], dir);
      assert.equal(clean.code, 0);
      assert.match(clean.stdout, /shop\.db: no differences/);
    } finally {
      cleanup();
    }
  });

  it('compares an archive with its committed version (--rev) and two archive files', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = setup(dir);
      const git = (...args: string[]): string =>
        execFileSync('git', args, {
          cwd: dir,
          encoding: 'utf8',
          env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null' },
        });
      git('init', '-q', '-b', 'main');
      git('-c', 'user.email=t@example.com', '-c', 'user.name=t', 'add', 'data/json_archives');
      git('-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-qm', 'archives');
      const db = new Database(path);
      db.exec(`UPDATE kv SET v = 2 WHERE k = 'a'; PRAGMA user_version = 3;`);
      db.close();
      assert.equal(cli(['dehydrate'], dir).code, 0);
      const rev = cli(['diff', '--rev', 'HEAD'], dir);
      assert.equal(rev.code, 0, rev.stderr);
      assert.match(rev.stdout, /^ {2}pragma user_version: 0 → 3$/m);
      // The key changed: the old row is removed and the new one added.
      assert.match(rev.stdout, /^ {2}- kv \(k="a", v=1\)/m);
      assert.match(rev.stdout, /^ {2}\+ kv \(k="a", v=2\)/m);
      const archive = join(dir, 'data', 'json_archives', 'shop.json');
      git('show', `HEAD:data/json_archives/shop.json`);
      const files = cli(['diff', archive, archive], dir);
      assert.match(files.stdout, /no differences/);
      const bad = cli(['diff', '--rev', 'nope'], dir);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /git has no version of it at "nope"/);
    } finally {
      cleanup();
    }
  });
});

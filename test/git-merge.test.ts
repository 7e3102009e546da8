/**
 * The merge driver in real git: a bare repository, two clones set up with `db-hydration git install`, edits on both
 * sides, `git pull`. Clean merges must bring both sides' rows together; conflicts must stop the merge with markers and
 * a report, and `git resolve` must leave a valid archive.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { cli, type CliRun } from './helpers/cli.js';
import { addLocalBin, gitRunner } from './helpers/git.js';
import { tempDir } from './helpers/fixtures.js';
import { snapshot } from './helpers/snapshot.js';

let root = '';
let cleanup = (): void => undefined;
let env: NodeJS.ProcessEnv = {};
before(() => {
  ({ dir: root, cleanup } = tempDir('dh-git-merge-'));
  const home = join(root, 'home');
  mkdirSync(home);
  env = { HOME: home, GIT_CONFIG_GLOBAL: join(home, 'none'), GIT_CONFIG_NOSYSTEM: '1' };
});
after(() => {
  cleanup();
});

const { run, git } = gitRunner(() => env);

function dh(cwd: string, ...args: string[]): CliRun {
  return cli(args, cwd, env);
}

function ok(cwd: string, ...args: string[]): CliRun {
  const r = dh(cwd, ...args);
  assert.equal(r.code, 0, `db-hydration ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r;
}

function identity(dir: string): void {
  git(dir, 'config', 'user.email', 'dev@example.com');
  git(dir, 'config', 'user.name', 'Dev');
}

function sql(dbPath: string, text: string): void {
  const db = new Database(dbPath);
  db.exec(text);
  db.close();
}

let n = 0;
/** An origin with one database committed by clone A, and clone B with it hydrated. Both clones set up. */
function team(setup: string): { a: string; b: string; origin: string } {
  const base = join(root, `team${++n}`);
  const origin = join(base, 'origin.git');
  mkdirSync(origin, { recursive: true });
  git(origin, 'init', '-q', '--bare', '-b', 'main');
  const a = join(base, 'a');
  mkdirSync(join(a, 'data'), { recursive: true });
  git(a, 'init', '-q', '-b', 'main');
  identity(a);
  addLocalBin(a);
  writeFileSync(join(a, '.gitignore'), 'node_modules/\n');
  sql(join(a, 'data', 'app.db'), setup);
  ok(a, 'git', 'install');
  ok(a, 'dehydrate');
  git(a, 'add', '.');
  git(a, 'commit', '-qm', 'start');
  git(a, 'remote', 'add', 'origin', origin);
  git(a, 'push', '-q', '-u', 'origin', 'main');
  const b = join(base, 'b');
  git(base, 'clone', '-q', origin, b);
  identity(b);
  addLocalBin(b);
  ok(b, 'git', 'install');
  ok(b, 'hydrate');
  return { a, b, origin };
}

/** Edits the database of a clone, dehydrates and commits. */
function commitEdit(dir: string, edit: string, message: string): void {
  sql(join(dir, 'data', 'app.db'), edit);
  ok(dir, 'dehydrate');
  git(dir, 'add', 'data/json_archives');
  git(dir, 'commit', '-qm', message);
}

const SETUP = `
  CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, qty INTEGER);
  CREATE TABLE tags (tag TEXT PRIMARY KEY, label TEXT UNIQUE) WITHOUT ROWID;
  INSERT INTO items VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 3), (4, 'four', 4);
  INSERT INTO tags VALUES ('a', 'Alpha'), ('b', 'Beta');
`;
const ARCHIVE = join('data', 'json_archives', 'app.json');

describe('git merge driver in real clones', () => {
  it('merges a teammate update+insert with a local update of another row: no conflict, both in the database', () => {
    const { a, b } = team(SETUP);
    const expected = join(root, `expected${n}.db`);
    copyFileSync(join(a, 'data', 'app.db'), expected);
    const editA = `UPDATE items SET qty = 10 WHERE id = 1; INSERT INTO items VALUES (5, 'five', 5);`;
    const editB = `UPDATE items SET qty = 30 WHERE id = 3;`;
    commitEdit(a, editA, 'a: row 1, new row 5');
    git(a, 'push', '-q');
    commitEdit(b, editB, 'b: row 3');
    // git diff goes through the diff driver: the change by key and column.
    const shown = git(b, 'diff', 'HEAD~1', 'HEAD', '--', ARCHIVE);
    assert.match(shown, /^diff --db-hydration a\/data\/json_archives\/app\.json/m);
    assert.match(shown, /^~ items id=3: qty: 3 → 30$/m);
    const pull = run('git', ['pull', '-q', '--no-rebase', '--no-edit'], b);
    assert.equal(pull.code, 0, `pull: ${pull.stdout}${pull.stderr}`);
    assert.doesNotMatch(readFileSync(join(b, ARCHIVE), 'utf8'), /^<<<<<<< /m);
    assert.equal(git(b, 'status', '--porcelain'), '', 'nothing left unmerged, the manifest included');
    ok(b, 'git', 'check');
    // The database has not taken the merge in yet but has nothing of its own: a commit is not refused.
    const preCommit = ok(b, 'git', 'pre-commit');
    assert.match(
      preCommit.stdout,
      /app\.db has not taken in the changes .* run `db-hydration hydrate --db app`/,
    );
    const status = ok(b, 'status', '--json');
    assert.match(status.stdout, /"state": "archive-updated"/);
    ok(b, 'hydrate');
    sql(expected, `${editA}${editB}`);
    assert.deepEqual(snapshot(join(b, 'data', 'app.db')), snapshot(expected));
    // A later dehydrate keeps the teammate's rows, and writes what the merge wrote.
    const before = readFileSync(join(b, ARCHIVE), 'utf8');
    ok(b, 'dehydrate');
    assert.equal(readFileSync(join(b, ARCHIVE), 'utf8'), before);
  });

  it('merges in a worktree too (git worktree add, no node_modules there)', () => {
    const { a } = team(SETUP);
    git(a, 'branch', 'side');
    commitEdit(a, `UPDATE items SET name = 'uno' WHERE id = 1;`, 'main: row 1');
    const wt = join(root, `wt${n}`);
    git(a, 'worktree', 'add', '-q', wt, 'side');
    ok(wt, 'hydrate');
    commitEdit(wt, `UPDATE items SET name = 'dos' WHERE id = 2;`, 'side: row 2');
    const merge = run('git', ['merge', '-q', '--no-edit', 'main'], wt);
    assert.equal(merge.code, 0, `merge: ${merge.stdout}${merge.stderr}`);
    ok(wt, 'hydrate');
    const db = new Database(join(wt, 'data', 'app.db'), { readonly: true });
    assert.deepEqual(db.prepare('SELECT name FROM items WHERE id <= 2 ORDER BY id').pluck().all(), [
      'uno',
      'dos',
    ]);
    db.close();
  });

  it('git check reports rows a text merge left out of key order, naming the file, table and line', () => {
    const { a } = team(SETUP);
    const path = join(a, ARCHIVE);
    const lines = readFileSync(path, 'utf8').split('\n');
    const first = lines.findIndex((l) => l.startsWith('{"id":1,'));
    const second = lines.findIndex((l) => l.startsWith('{"id":2,'));
    assert.ok(first > 0 && second === first + 1);
    // Swap the rows, keeping each line's comma where it was.
    [lines[first], lines[second]] = [lines[second] ?? '', lines[first] ?? ''];
    writeFileSync(path, lines.join('\n'));
    const check = dh(a, 'git', 'check');
    assert.equal(check.code, 1);
    assert.match(
      `${check.stdout}${check.stderr}`,
      new RegExp(`line ${second + 1}: table "items": row id=1 is out of key order`),
    );
  });

  it('an input it cannot merge (rows out of key order) leaves both whole versions between markers, exit 2', () => {
    const { a } = team(SETUP);
    const path = join(a, ARCHIVE);
    const good = readFileSync(path, 'utf8');
    const lines = good.split('\n');
    const first = lines.findIndex((l) => l.startsWith('{"id":1,'));
    [lines[first], lines[first + 1]] = [lines[first + 1] ?? '', lines[first] ?? ''];
    const base = join(a, 'base.json');
    const theirs = join(a, 'theirs.json');
    writeFileSync(base, good);
    writeFileSync(theirs, good);
    writeFileSync(path, lines.join('\n'));
    const r = dh(a, 'git', 'merge', base, path, theirs, '--path', ARCHIVE);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not in key order/);
    const text = readFileSync(path, 'utf8');
    assert.ok(text.startsWith('<<<<<<< ours\n{\n'));
    assert.match(text, /^=======\n\{$/m);
    assert.equal(dh(a, 'git', 'check').code, 1);
    ok(a, 'git', 'resolve', '--theirs');
    assert.equal(readFileSync(path, 'utf8'), good, 'resolving to theirs gives their whole archive back');
  });

  const conflicts: {
    readonly name: string;
    readonly a: string;
    readonly b: string;
    readonly report: RegExp;
    readonly markers: boolean;
    readonly check: (db: Database.Database) => void;
  }[] = [
    {
      name: 'the same cell changed to different values',
      a: `UPDATE items SET qty = 11 WHERE id = 2;`,
      b: `UPDATE items SET qty = 22 WHERE id = 2;`,
      report:
        /CONFLICT \(cell\): database "app", table "items", key id=2, column "qty": ours 22, theirs 11, base 2/,
      markers: true,
      check: (db) => {
        assert.equal(db.prepare('SELECT qty FROM items WHERE id = 2').pluck().get(), 11);
      },
    },
    {
      name: 'a delete against a change',
      a: `DELETE FROM items WHERE id = 4;`,
      b: `UPDATE items SET name = 'FOUR' WHERE id = 4;`,
      report: /CONFLICT \(delete-change\): database "app", table "items", key id=4/,
      markers: true,
      check: (db) => {
        assert.equal(db.prepare('SELECT count(*) FROM items WHERE id = 4').pluck().get(), 0);
      },
    },
    {
      name: 'the same new key with different content',
      a: `INSERT INTO tags VALUES ('c', 'Gamma');`,
      b: `INSERT INTO tags VALUES ('c', 'Charlie');`,
      report: /CONFLICT \(insert-insert\): database "app", table "tags", key tag="c"/,
      markers: true,
      check: (db) => {
        assert.equal(db.prepare("SELECT label FROM tags WHERE tag = 'c'").pluck().get(), 'Gamma');
      },
    },
    {
      name: 'a unique value added on both branches',
      a: `INSERT INTO tags VALUES ('x', 'Same');`,
      b: `INSERT INTO tags VALUES ('y', 'Same');`,
      report:
        /CONFLICT \(constraint\): database "app", table "tags": .*UNIQUE constraint failed: tags\.label.*"y".*"x"|CONFLICT \(constraint\): database "app", table "tags": .*UNIQUE constraint failed: tags\.label.*"x".*"y"/,
      markers: true,
      check: (db) => {
        assert.deepEqual(db.prepare("SELECT tag FROM tags WHERE label = 'Same'").pluck().all(), ['x']);
      },
    },
    {
      name: 'the schema changed on both sides',
      a: `ALTER TABLE items ADD COLUMN price REAL;`,
      b: `ALTER TABLE items ADD COLUMN note TEXT;`,
      report: /CONFLICT \(schema\): database "app", table "items": .*both sides changed its schema/,
      markers: true,
      check: (db) => {
        const columns = db.prepare("SELECT name FROM pragma_table_info('items')").pluck().all();
        assert.deepEqual(columns, ['id', 'name', 'qty', 'price']);
      },
    },
  ];
  for (const c of conflicts) {
    it(`stops on ${c.name}: exit status, markers, report; git resolve --theirs leaves a valid archive`, () => {
      const { a, b } = team(SETUP);
      commitEdit(a, c.a, 'a');
      git(a, 'push', '-q');
      commitEdit(b, c.b, 'b');
      const pull = run('git', ['pull', '--no-rebase', '--no-edit'], b);
      assert.notEqual(pull.code, 0, 'the pull stops');
      assert.match(
        `${pull.stdout}${pull.stderr}`,
        /CONFLICT \(content\): Merge conflict in data\/json_archives\/app\.json/,
      );
      assert.match(pull.stderr, c.report);
      const text = readFileSync(join(b, ARCHIVE), 'utf8');
      assert.equal(/^<<<<<<< /m.test(text), c.markers, 'conflict markers');
      if (c.markers) {
        const status = dh(b, 'status');
        assert.match(status.stdout, /conflict/);
        assert.doesNotMatch(status.stdout, /no archive yet/);
        const hydrate = dh(b, 'hydrate', '--force');
        assert.notEqual(hydrate.code, 0);
        assert.match(`${hydrate.stdout}${hydrate.stderr}`, /unresolved merge conflict marker/);
        const check = dh(b, 'git', 'check');
        assert.equal(check.code, 1);
        // Dehydrating over the marked archive would drop the other side's changes: refused, sync state or not.
        rmSync(join(b, 'data', '.db-hydration'), { recursive: true, force: true });
        const dehydrate = dh(b, 'dehydrate');
        assert.equal(dehydrate.code, 1);
        assert.match(dehydrate.stderr, /has unresolved merge conflicts, so it was not overwritten/);
        assert.match(dehydrate.stderr, /git resolve --ours/);
        assert.equal(readFileSync(join(b, ARCHIVE), 'utf8'), text, 'the marked archive is left as it was');
        ok(b, 'git', 'resolve', '--theirs');
        assert.doesNotMatch(readFileSync(join(b, ARCHIVE), 'utf8'), /^(<<<<<<<|=======|>>>>>>>)/m);
        ok(b, 'git', 'check');
        git(b, 'add', 'data/json_archives');
        git(b, 'commit', '-qm', 'merged');
        ok(b, 'hydrate', '--force');
        const db = new Database(join(b, 'data', 'app.db'), { readonly: true });
        c.check(db);
        db.close();
      }
    });
  }
});

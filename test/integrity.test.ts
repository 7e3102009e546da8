/**
 * The corruption detector: one test per kind of damaged input, each checked through `checkDatabase` (the
 * classification) and `isDbValid` (the seed's boolean).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { checkDatabase, isDbValid } from '../src/index.js';
import { sqliteHeaderProblem } from '../src/sqlite/file-header.js';
import { checkProblems } from '../src/sqlite/check.js';
import { tempDir } from './helpers/fixtures.js';
import { snapshot } from './helpers/snapshot.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
import {
  LFS_POINTER,
  MERGE_CONFLICT,
  makeShop,
  overwritePages,
  pageCountOf,
  leafPagesOf,
} from './helpers/damage.js';

describe('checkDatabase classifies every kind of input', () => {
  it('a healthy database (rollback journal and WAL with content still in the -wal file) is valid', () => {
    const { dir, cleanup } = tempDir();
    try {
      makeShop(join(dir, 'a.db'), 300);
      assert.equal(checkDatabase(join(dir, 'a.db')).status, 'valid');
      assert.equal(isDbValid(join(dir, 'a.db')), true);
      const writer = new Database(join(dir, 'w.db'));
      writer.pragma('journal_mode = WAL');
      writer.pragma('wal_autocheckpoint = 0');
      writer.exec('CREATE TABLE t (a); INSERT INTO t VALUES (1), (2)');
      const check = checkDatabase(join(dir, 'w.db'));
      writer.close();
      assert.equal(check.status, 'valid');
      assert.equal(check.usable, true);
    } finally {
      cleanup();
    }
  });

  it('a missing file is missing', () => {
    const { dir, cleanup } = tempDir();
    try {
      const check = checkDatabase(join(dir, 'nope.db'));
      assert.equal(check.status, 'missing');
      assert.equal(isDbValid(join(dir, 'nope.db')), false);
    } finally {
      cleanup();
    }
  });

  it('a zero-byte file is empty, and damaged when its archive has tables', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'zero.db');
      writeFileSync(path, '');
      assert.equal(checkDatabase(path).status, 'empty');
      assert.equal(isDbValid(path), true);
      const expecting = checkDatabase(path, { expectTables: true });
      assert.equal(expecting.status, 'damaged');
      assert.match(expecting.reason, /0 bytes/);
      assert.equal(isDbValid(path, { expectTables: true }), false);
    } finally {
      cleanup();
    }
  });

  it('random bytes are not SQLite', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'noise.db');
      writeFileSync(path, randomBytes(8192));
      const check = checkDatabase(path);
      assert.equal(check.status, 'not-sqlite');
      assert.equal(check.kind, 'binary');
      assert.equal(isDbValid(path), false);
      writeFileSync(path, randomBytes(40));
      assert.equal(checkDatabase(path).status, 'not-sqlite');
    } finally {
      cleanup();
    }
  });

  it('a Git LFS pointer file is not SQLite, and the reason says it is an LFS pointer', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'lfs.db');
      writeFileSync(path, LFS_POINTER);
      const check = checkDatabase(path);
      assert.equal(check.status, 'not-sqlite');
      assert.equal(check.kind, 'git-lfs-pointer');
      assert.match(check.reason, /Git LFS pointer/);
      assert.match(check.hint ?? '', /git lfs pull/);
    } finally {
      cleanup();
    }
  });

  it('a file with git merge-conflict markers is not SQLite, and the reason says so', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'merged.db');
      writeFileSync(path, MERGE_CONFLICT);
      const check = checkDatabase(path);
      assert.equal(check.status, 'not-sqlite');
      assert.equal(check.kind, 'merge-conflict');
      assert.match(check.reason, /merge-conflict/);
    } finally {
      cleanup();
    }
  });

  it('a directory is not SQLite', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'folder.db');
      mkdirSync(path);
      const check = checkDatabase(path);
      assert.equal(check.status, 'not-sqlite');
      assert.equal(check.kind, 'directory');
      assert.equal(isDbValid(path), false);
    } finally {
      cleanup();
    }
  });

  it('a text file is not SQLite', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'notes.db');
      writeFileSync(path, 'just some notes that happen to be named like a database\n'.repeat(10));
      const check = checkDatabase(path);
      assert.equal(check.status, 'not-sqlite');
      assert.equal(check.kind, 'text');
    } finally {
      cleanup();
    }
  });

  it('damaged table pages are found even though count(*) still answers', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'shop.db');
      makeShop(path, 3000);
      // Overwrite two leaf pages of the table's b-tree and leave the index intact, so count(*) can use it.
      const leaves = leafPagesOf(path, 'items');
      overwritePages(path, leaves.slice(5, 7));
      const db = new Database(path, { readonly: true });
      const count = db.prepare('SELECT count(*) FROM items').pluck().get();
      db.close();
      assert.equal(count, 3000, 'count(*) answers from the intact index');
      const check = checkDatabase(path);
      assert.equal(check.status, 'damaged');
      assert.ok((check.problems ?? []).length > 0);
      // The reason names the problem itself, not the heading line SQLite puts before the first message.
      assert.doesNotMatch(check.reason, /\*\*\* in database/);
      assert.match(check.hint ?? '', /fix/);
      assert.equal(isDbValid(path), false);
    } finally {
      cleanup();
    }
  });

  it('problem messages leave out the heading line SQLite puts before the first one', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'shop.db');
      const setup = new Database(path);
      setup.exec('CREATE TABLE t (a TEXT); CREATE INDEX ti ON t (a)');
      const insert = setup.prepare('INSERT INTO t VALUES (?)');
      setup.transaction(() => {
        for (let i = 0; i < 5000; i++) insert.run(`row ${i}${' '.repeat(50)}`);
      })();
      setup.close();
      overwritePages(path, [4]);
      const db = new Database(path, { readonly: true });
      try {
        const raw = db.pragma('quick_check(5)') as { quick_check: string }[];
        assert.match(raw[0]?.quick_check ?? '', /^\*\*\* in database main \*\*\*\n/);
        const problems = checkProblems(db, 'quick_check', 5);
        assert.ok(problems.length > 0);
        for (const p of problems) assert.doesNotMatch(p, /\*\*\* in database/);
        assert.equal(problems[0], raw[0]?.quick_check.split('\n')[1]);
      } finally {
        db.close();
      }
    } finally {
      cleanup();
    }
  });

  it('a truncated database is damaged', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'cut.db');
      makeShop(path, 3000);
      const pages = pageCountOf(path);
      truncateSync(path, Math.floor(pages / 2) * 4096);
      assert.equal(checkDatabase(path).status, 'damaged');
      truncateSync(path, 1000);
      assert.equal(checkDatabase(path).status, 'damaged');
    } finally {
      cleanup();
    }
  });

  it('the header page count is trusted only outside WAL mode, where the main file may hold fewer pages', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'wal.db');
      const db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.exec('CREATE TABLE t (a); INSERT INTO t VALUES (1)');
      db.close();
      const head = Buffer.from(readFileSync(path).subarray(0, 100));
      const size = readFileSync(path).length;
      const pageSize = head.readUInt16BE(16);
      // Claim more pages than the file has, with a valid "version-valid-for" number.
      head.writeUInt32BE(size / pageSize + 5, 28);
      head.writeUInt32BE(head.readUInt32BE(24), 92);
      assert.equal(head[18], 2);
      assert.equal(sqliteHeaderProblem(head, size), undefined);
      head[18] = 1;
      head[19] = 1;
      assert.match(sqliteHeaderProblem(head, size) ?? '', /the header says \d+ pages/);
    } finally {
      cleanup();
    }
  });

  it('a damaged header (bad page size) is damaged', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'hdr.db');
      makeShop(path, 10);
      const buf = readFileSync(path);
      buf.writeUInt16BE(1000, 16);
      writeFileSync(path, buf);
      const check = checkDatabase(path);
      assert.equal(check.status, 'damaged');
      assert.match(check.reason, /page size/);
    } finally {
      cleanup();
    }
  });

  it('an index that disagrees with its table passes quick_check but fails integrity_check (check: full)', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'idx.db');
      const db = new Database(path);
      db.exec('CREATE TABLE t (a, b); CREATE INDEX t_a ON t(a)');
      db.exec("INSERT INTO t VALUES (1, 'x'), (2, 'y'), (3, 'z')");
      // Make the stored index definition point at column b: the index b-tree still holds the values of a.
      db.unsafeMode(true);
      db.pragma('writable_schema = ON');
      db.exec("UPDATE sqlite_schema SET sql = 'CREATE INDEX t_a ON t(b)' WHERE name = 't_a'");
      db.close();
      assert.equal(checkDatabase(path).status, 'valid', 'quick_check does not compare index and table');
      const full = checkDatabase(path, { check: 'full' });
      assert.equal(full.status, 'damaged');
      assert.match(full.reason, /integrity_check/);
    } finally {
      cleanup();
    }
  });

  it('a hot journal left by a crashed writer is rolled back by SQLite, and the database is valid again', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'crashed.db');
      makeShop(path, 3000);
      const before = snapshot(path);
      // A writer whose transaction spilled into the database file, killed before it committed.
      const script = `
        const Database = require('better-sqlite3');
        const db = new Database(${JSON.stringify(path)});
        db.pragma('cache_size = 1');
        db.exec('BEGIN');
        db.exec("UPDATE items SET name = 'half-written ' || id");
        process.stdout.write('dirty\\n');
        setInterval(() => {}, 1000);
      `;
      const child = spawn(process.execPath, ['-e', script], {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve) =>
        child.stdout.on('data', () => {
          resolve();
        }),
      );
      child.kill('SIGKILL');
      await new Promise((resolve) => child.on('exit', resolve));
      assert.equal(existsSync(`${path}-journal`), true, 'the crash left a journal');
      const check = checkDatabase(path);
      assert.equal(check.status, 'valid', check.reason);
      assert.deepEqual(snapshot(path), before, 'the unfinished transaction is rolled back');
    } finally {
      cleanup();
    }
  });
});

/**
 * The three-way merge of archives (src/merge/): real databases dehydrated by the library, merged, hydrated back
 * and dehydrated again. Clean merges must equal what dehydrate writes for the merged database, byte for byte apart
 * from `exported_at`; conflicts must be marked and reported.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { mergeArchives } from '../src/merge/merge-archives.js';
import { resolveConflicts } from '../src/merge/resolve-conflicts.js';
import { readArchive } from '../src/archive/read-archive.js';
import { hasConflictMarkers } from '../src/archive/conflict-markers.js';
import { archiveContentHash } from '../src/archive/content-comparison.js';
import { dehydrateDatabase } from '../src/dehydrate/dehydrate-database.js';
import { tempDir } from './helpers/fixtures.js';
import { snapshot } from './helpers/snapshot.js';
import { content, dehydrate, rehydrate, threeWay } from './helpers/merge.js';

const SETUP = `
  CREATE TABLE trades (id INTEGER PRIMARY KEY AUTOINCREMENT, symbol TEXT NOT NULL, qty INTEGER, note TEXT);
  CREATE TABLE users (name TEXT PRIMARY KEY, email TEXT UNIQUE) WITHOUT ROWID;
  INSERT INTO trades (symbol, qty, note) VALUES ('BTC', 1, 'a'), ('ETH', 2, 'b'), ('SOL', 3, 'c'), ('ADA', 4, 'd');
  INSERT INTO users VALUES ('ann', 'ann@x'), ('bob', 'bob@x');
`;

describe('mergeArchives', () => {
  it('merges edits to different rows and columns, inserts on both sides, and recomputes row_count', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = threeWay(
        dir,
        SETUP,
        `UPDATE trades SET qty = 10 WHERE id = 1; INSERT INTO trades (symbol, qty) VALUES ('XRP', 5);
         UPDATE trades SET note = 'ours' WHERE id = 3;`,
        `UPDATE trades SET qty = 30 WHERE id = 3; INSERT INTO users VALUES ('cat', 'cat@x');`,
      );
      const out = join(dir, 'out.json');
      const result = mergeArchives({ base: p.base, ours: p.ours, theirs: p.theirs, output: out });
      assert.deepEqual(result.conflicts, []);
      assert.equal(result.clean, true);
      assert.deepEqual({ ...result.rowCounts }, { trades: 5, users: 3 });
      const merged = await rehydrate(dir, out);
      assert.equal(content(merged.archive), content(out), 'a clean merge is what dehydrate writes');
      const db = new Database(merged.db, { readonly: true });
      assert.deepEqual(
        db.prepare('SELECT id, qty, note FROM trades WHERE id IN (1, 3, 5) ORDER BY id').raw().all(),
        [
          [1, 10, 'a'],
          [3, 30, 'ours'],
          [5, 5, null],
        ],
      );
      assert.deepEqual(db.prepare('SELECT name FROM users ORDER BY name').pluck().all(), [
        'ann',
        'bob',
        'cat',
      ]);
      db.close();
    } finally {
      cleanup();
    }
  });

  it('merge(O, A, O) = A and merge(O, A, A) = A', () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = threeWay(
        dir,
        SETUP,
        `UPDATE trades SET qty = 99 WHERE id = 2; DELETE FROM users WHERE name = 'bob';`,
        '',
      );
      const out = join(dir, 'out.json');
      assert.equal(mergeArchives({ base: p.base, ours: p.ours, theirs: p.base, output: out }).clean, true);
      assert.equal(content(out), content(p.ours));
      assert.equal(mergeArchives({ base: p.base, ours: p.ours, theirs: p.ours, output: out }).clean, true);
      assert.equal(content(out), content(p.ours));
      assert.equal(mergeArchives({ base: p.base, ours: p.base, theirs: p.ours, output: out }).clean, true);
      assert.equal(content(out), content(p.ours));
    } finally {
      cleanup();
    }
  });

  it('marks the same cell changed differently, reports it, and resolve --theirs leaves a valid archive', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = threeWay(
        dir,
        SETUP,
        `UPDATE trades SET qty = 11 WHERE id = 2;`,
        `UPDATE trades SET qty = 22 WHERE id = 2;`,
      );
      const out = join(dir, 'out.json');
      const result = mergeArchives({
        base: p.base,
        ours: p.ours,
        theirs: p.theirs,
        output: out,
        diff3: true,
      });
      assert.equal(result.clean, false);
      assert.deepEqual(
        result.conflicts.map((c) => [c.kind, c.table, c.key, c.column, c.base, c.ours, c.theirs]),
        [['cell', 'trades', 'id=2', 'qty', '2', '11', '22']],
      );
      const text = readFileSync(out, 'utf8');
      assert.match(
        text,
        /^<<<<<<< ours\n\{"id":2,"symbol":"ETH","qty":11,"note":"b"\},\n\|\|\|\|\|\|\| base\n\{"id":2,"symbol":"ETH","qty":2,"note":"b"\},\n=======\n\{"id":2,"symbol":"ETH","qty":22,"note":"b"\},\n>>>>>>> theirs\n/m,
      );
      assert.throws(() => [...readArchive(out)], /unresolved merge conflict marker/);
      const resolved = resolveConflicts(out, { side: 'theirs' });
      assert.equal(resolved.blocks, 1);
      const merged = await rehydrate(dir, out);
      assert.equal(content(merged.archive), content(out));
      const db = new Database(merged.db, { readonly: true });
      assert.equal(db.prepare('SELECT qty FROM trades WHERE id = 2').pluck().get(), 22);
      db.close();
    } finally {
      cleanup();
    }
  });

  it('reports delete against change, and the same new key with different content', () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = threeWay(
        dir,
        SETUP,
        `DELETE FROM trades WHERE id = 4; INSERT INTO users VALUES ('dan', 'd1@x');`,
        `UPDATE trades SET note = 'z' WHERE id = 4; INSERT INTO users VALUES ('dan', 'd2@x');`,
      );
      const out = join(dir, 'out.json');
      const result = mergeArchives({ base: p.base, ours: p.ours, theirs: p.theirs, output: out });
      assert.deepEqual(
        result.conflicts.map((c) => [c.kind, c.table, c.key]),
        [
          ['delete-change', 'trades', 'id=4'],
          ['insert-insert', 'users', 'name="dan"'],
        ],
      );
      resolveConflicts(out, { side: 'ours' });
      assert.doesNotThrow(() => [...readArchive(out)]);
    } finally {
      cleanup();
    }
  });

  it('reports two rows that each side added with the same unique value, naming both', () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = threeWay(
        dir,
        SETUP,
        `INSERT INTO users VALUES ('eve', 'same@x');`,
        `INSERT INTO users VALUES ('fay', 'same@x');`,
      );
      const out = join(dir, 'out.json');
      const result = mergeArchives({ base: p.base, ours: p.ours, theirs: p.theirs, output: out });
      assert.equal(result.clean, false);
      assert.equal(result.conflicts.length, 1);
      const [c] = result.conflicts;
      assert.ok(c !== undefined);
      assert.equal(c.kind, 'constraint');
      assert.match(c.message, /UNIQUE constraint failed: users\.email/);
      assert.match(c.message, /eve/);
      assert.match(c.message, /fay/);
      // Both rows are marked, each on the side that added it: resolving keeps one of them.
      const text = readFileSync(out, 'utf8');
      assert.match(text, /^<<<<<<< ours\n\{"name":"eve","email":"same@x"\},?\n=======\n>>>>>>> theirs$/m);
      assert.match(text, /^<<<<<<< ours\n=======\n\{"name":"fay","email":"same@x"\},?\n>>>>>>> theirs$/m);
      resolveConflicts(out, { side: 'ours' });
      assert.doesNotThrow(() => [...readArchive(out)]);
      assert.doesNotMatch(readFileSync(out, 'utf8'), /fay/);
      assert.match(readFileSync(out, 'utf8'), /eve/);
    } finally {
      cleanup();
    }
  });

  it('reports a child row one side added whose parent the other side deleted (foreign key), and nothing for valid merges', () => {
    const { dir, cleanup } = tempDir();
    try {
      const setup = `
        CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE pets (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES owners(id), name TEXT);
        INSERT INTO owners VALUES (1, 'ann'), (2, 'bob');
        INSERT INTO pets VALUES (1, 1, 'rex');`;
      const p = threeWay(
        dir,
        setup,
        `DELETE FROM owners WHERE id = 2;`,
        `INSERT INTO pets VALUES (2, 2, 'tom');`,
      );
      const out = join(dir, 'out.json');
      const result = mergeArchives({ base: p.base, ours: p.ours, theirs: p.theirs, output: out });
      assert.deepEqual(
        result.conflicts.map((c) => [c.kind, c.table, c.key]),
        [['constraint', 'pets', 'rowid=2']],
      );
      assert.match(result.conflicts[0]?.message ?? '', /parent row in "owners" is gone/);
      // A parent deleted on one side and an unrelated pet added on the other merge cleanly.
      mkdirSync(join(dir, 'q'));
      const q = threeWay(
        join(dir, 'q'),
        setup,
        `DELETE FROM owners WHERE id = 2;`,
        `INSERT INTO pets VALUES (3, 1, 'kit');`,
      );
      assert.deepEqual(
        mergeArchives({ base: q.base, ours: q.ours, theirs: q.theirs, output: out }).conflicts,
        [],
      );
    } finally {
      cleanup();
    }
  });

  it('reports a CHECK constraint and a UNIQUE index that only the merged rows break, leaving the output as ours when it cannot be built', () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = threeWay(
        dir,
        `CREATE TABLE r (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER, CHECK (a < b)); INSERT INTO r VALUES (1, 1, 5);`,
        `UPDATE r SET a = 4 WHERE id = 1;`,
        `UPDATE r SET b = 2 WHERE id = 1;`,
      );
      const out = join(dir, 'out.json');
      const checked = mergeArchives({ base: p.base, ours: p.ours, theirs: p.theirs, output: out });
      assert.deepEqual(
        checked.conflicts.map((c) => [c.kind, c.table]),
        [['constraint', 'r']],
      );
      assert.match(checked.conflicts[0]?.message ?? '', /CHECK constraint failed/);
      mkdirSync(join(dir, 'u'));
      const u = threeWay(
        join(dir, 'u'),
        `CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); CREATE UNIQUE INDEX ux ON t(name); INSERT INTO t VALUES (1, 'a');`,
        `INSERT INTO t VALUES (2, 'z');`,
        `INSERT INTO t VALUES (3, 'z');`,
      );
      const ours = readFileSync(u.ours);
      const result = mergeArchives({ base: u.base, ours: u.ours, theirs: u.theirs, output: u.ours });
      assert.deepEqual(
        result.conflicts.map((c) => c.kind),
        ['constraint'],
      );
      assert.match(result.conflicts[0]?.message ?? '', /UNIQUE constraint failed/);
      assert.notDeepEqual(
        readFileSync(u.ours),
        ours,
        'the merged rows are written, with the conflict reported',
      );
    } finally {
      cleanup();
    }
  });

  it('writes cell-merged rows in column order, integer-like column names included', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = threeWay(
        dir,
        `CREATE TABLE t (id INTEGER PRIMARY KEY, a, "1", b, "__proto__"); INSERT INTO t VALUES (1, 'a', 'one', 'b', 'p');`,
        `UPDATE t SET a = 'A', "__proto__" = 'P' WHERE id = 1;`,
        `UPDATE t SET "1" = 'ONE' WHERE id = 1;`,
      );
      const out = join(dir, 'out.json');
      assert.deepEqual(
        mergeArchives({ base: p.base, ours: p.ours, theirs: p.theirs, output: out }).conflicts,
        [],
      );
      assert.match(readFileSync(out, 'utf8'), /^\{"id":1,"a":"A","1":"ONE","b":"b","__proto__":"P"\}$/m);
      const merged = await rehydrate(dir, out);
      assert.equal(content(merged.archive), content(out));
    } finally {
      cleanup();
    }
  });

  it('in a rowid table with a declared PRIMARY KEY, a row replaced at the same rowid is another row, never merged with it', () => {
    const { dir, cleanup } = tempDir();
    try {
      const setup = `CREATE TABLE users (email TEXT PRIMARY KEY, name TEXT, role TEXT);
        INSERT INTO users VALUES ('a@x', 'Ann', 'user'), ('b@x', 'Bob', 'user');`;
      // Ours deletes Bob and adds Cat, who takes rowid 2; theirs makes Bob an admin.
      const p = threeWay(
        dir,
        setup,
        `DELETE FROM users WHERE email = 'b@x'; INSERT INTO users VALUES ('c@x', 'Cat', 'user');`,
        `UPDATE users SET role = 'admin' WHERE email = 'b@x';`,
      );
      const out = join(dir, 'out.json');
      const r = mergeArchives({ base: p.base, ours: p.ours, theirs: p.theirs, output: out });
      assert.deepEqual(
        r.conflicts.map((c) => c.kind),
        ['delete-change'],
      );
      assert.match(r.conflicts[0]?.message ?? '', /email="b@x".*ours: email="c@x"/);
      // Ours replaces Bob by Cat (or changes Bob's key: the archives cannot tell), theirs deletes Bob: a conflict.
      mkdirSync(join(dir, 'q'));
      const q = threeWay(
        join(dir, 'q'),
        setup,
        `DELETE FROM users WHERE email = 'b@x'; INSERT INTO users VALUES ('c@x', 'Cat', 'user');`,
        `DELETE FROM users WHERE email = 'b@x';`,
      );
      const merged = mergeArchives({ base: q.base, ours: q.ours, theirs: q.theirs, output: out });
      assert.deepEqual(
        merged.conflicts.map((c) => [c.kind, c.key]),
        [['delete-change', 'rowid=2']],
      );
    } finally {
      cleanup();
    }
  });

  it('reports a schema the two sides build only apart (an index on a table the other side dropped) and marks it', () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = threeWay(
        dir,
        SETUP,
        `DROP TABLE users; UPDATE trades SET qty = 5 WHERE id = 1;`,
        `CREATE INDEX users_email ON users(email); UPDATE trades SET qty = 6 WHERE id = 2;`,
      );
      const out = join(dir, 'out.json');
      const r = mergeArchives({ base: p.base, ours: p.ours, theirs: p.theirs, output: out });
      assert.deepEqual(
        r.conflicts.map((c) => c.kind),
        ['schema'],
      );
      assert.match(r.conflicts[0]?.message ?? '', /users_email/);
      const text = readFileSync(out, 'utf8');
      assert.match(text, /^<<<<<<< ours\n=======\n\{"type":"index","name":"users_email".*\n>>>>>>> theirs$/m);
      resolveConflicts(out, { side: 'ours' });
      const objects = [...readArchive(out)].flatMap((e) => (e.kind === 'footer' ? e.footer.objects : []));
      assert.deepEqual(
        objects.map((o) => o.name),
        [],
      );
    } finally {
      cleanup();
    }
  });

  it('reports a view that reads on each side but not in the merge (the other side dropped its table), and marks it', () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = threeWay(
        dir,
        `${SETUP} CREATE VIEW broken_before AS SELECT * FROM nowhere;`,
        `DROP TABLE users; UPDATE trades SET qty = 5 WHERE id = 1;`,
        `CREATE VIEW user_names AS SELECT name FROM users; UPDATE trades SET qty = 6 WHERE id = 2;`,
      );
      const out = join(dir, 'out.json');
      const r = mergeArchives({ base: p.base, ours: p.ours, theirs: p.theirs, output: out });
      assert.deepEqual(
        r.conflicts.map((c) => c.kind),
        ['schema'],
        'one conflict: the view broken on both sides before the merge is not reported',
      );
      assert.match(r.conflicts[0]?.message ?? '', /view "user_names"/);
      assert.match(
        readFileSync(out, 'utf8'),
        /^<<<<<<< ours\n=======\n\{"type":"view","name":"user_names".*\n>>>>>>> theirs$/m,
      );
    } finally {
      cleanup();
    }
  });

  it('merges a column added on one side with row edits on the other', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = threeWay(
        dir,
        SETUP,
        `UPDATE trades SET qty = 7 WHERE id = 1;`,
        `ALTER TABLE trades ADD COLUMN fee REAL DEFAULT 0.5; UPDATE trades SET fee = 1.25 WHERE id = 2;`,
      );
      const out = join(dir, 'out.json');
      const result = mergeArchives({ base: p.base, ours: p.ours, theirs: p.theirs, output: out });
      assert.deepEqual(result.conflicts, []);
      const merged = await rehydrate(dir, out);
      assert.equal(content(merged.archive), content(out));
      const db = new Database(merged.db, { readonly: true });
      assert.deepEqual(db.prepare('SELECT id, qty, fee FROM trades WHERE id <= 2 ORDER BY id').raw().all(), [
        [1, 7, 0.5],
        [2, 2, 1.25],
      ]);
      db.close();
      assert.deepEqual(snapshot(merged.db).schema, snapshot(p.theirsDb).schema);
    } finally {
      cleanup();
    }
  });

  it('reports a schema changed on both sides differently as one conflict holding both tables', () => {
    const { dir, cleanup } = tempDir();
    try {
      const p = threeWay(
        dir,
        SETUP,
        `ALTER TABLE trades ADD COLUMN a INTEGER;`,
        `ALTER TABLE trades ADD COLUMN b TEXT;`,
      );
      const out = join(dir, 'out.json');
      const result = mergeArchives({ base: p.base, ours: p.ours, theirs: p.theirs, output: out });
      assert.deepEqual(
        result.conflicts.map((c) => [c.kind, c.table]),
        [['schema', 'trades']],
      );
      resolveConflicts(out, { side: 'theirs' });
      const schemas = [...readArchive(out)].flatMap((e) => (e.kind === 'table' ? [e.table.schema] : []));
      assert.match(String(schemas[0]), /, b TEXT\)$/);
    } finally {
      cleanup();
    }
  });
});

describe('hasConflictMarkers', () => {
  it('finds a marker line anywhere, across chunk boundaries, and nothing in a clean file', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'a.json');
      const filler = 'x'.repeat(1 << 20);
      for (const offset of [-8, -7, -3, -1, 0, 1, 5]) {
        // The marker's line starts `offset` bytes from the first 1 MiB chunk's end.
        const before = filler.slice(0, (1 << 20) + offset - 1);
        writeFileSync(path, `${before}\n<<<<<<< ours\n{}\n=======\n>>>>>>> theirs\n`);
        assert.equal(hasConflictMarkers(path), true, `offset ${offset}`);
      }
      writeFileSync(path, '<<<<<<< ours\n');
      assert.equal(hasConflictMarkers(path), true, 'on the first line');
      writeFileSync(path, `${filler}\n"<<<<<<< in a string"\n x<<<<<<< \n`);
      assert.equal(hasConflictMarkers(path), false, 'not at the start of a line');
      assert.equal(hasConflictMarkers(join(dir, 'missing.json')), false);
    } finally {
      cleanup();
    }
  });
});

describe('key order in UTF-16 databases', () => {
  it('orders TEXT kept as raw bytes against ordinary TEXT as SQLite does (bytes in the database encoding)', () => {
    for (const encoding of ['UTF-16le', 'UTF-16be'] as const) {
      const { dir, cleanup } = tempDir();
      try {
        const o = join(dir, 'o.db');
        const db = new Database(o);
        db.pragma(`encoding = '${encoding}'`);
        db.exec(`CREATE TABLE k (a NUMERIC, b BLOB, PRIMARY KEY (a, b)) WITHOUT ROWID;
                 INSERT INTO k VALUES ('\u0a00', CAST(x'00' AS TEXT)), (CAST(x'00d800' AS TEXT), 0), ('z', 1);`);
        db.close();
        const oj = join(dir, 'o.json');
        dehydrate(o, oj);
        const out = join(dir, 'out.json');
        const r = mergeArchives({ base: oj, ours: oj, theirs: oj, output: out });
        assert.deepEqual(r.conflicts, [], encoding);
        assert.equal(content(out), content(oj), encoding);
      } finally {
        cleanup();
      }
    }
  });
});

describe('content hash of a written archive', () => {
  it('is what archiveContentHash reads back, for a new archive and for one left unchanged', () => {
    const { dir, cleanup } = tempDir();
    try {
      const dbPath = join(dir, 'db.db');
      const db = new Database(dbPath);
      db.exec(SETUP);
      db.close();
      const archivePath = join(dir, 'db.json');
      const options = { dbPath, archivePath, database: 'db', fileName: 'db.db', busyTimeoutMs: 5000 };
      const first = dehydrateDatabase(options);
      assert.equal(first.changed, true);
      assert.equal(first.contentSha256, archiveContentHash(archivePath));
      const again = dehydrateDatabase(options);
      assert.equal(again.changed, false);
      assert.equal(again.contentSha256, first.contentSha256);
    } finally {
      cleanup();
    }
  });
});

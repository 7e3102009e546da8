// Incremental export, "only export changed tables" (issue 14, section 2): a table whose b-tree pages and schema are
// unchanged since the last export is copied from the archive that export wrote. What proves it is a hash of the
// table's pages (src/dehydrate/table-pages.ts); these tests check the page walk against SQLite's own dbstat, and that
// an export with copied tables is exactly a full export, for every kind of change and for random edit sets.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { archiveContentHash } from '../src/archive/content-comparison.js';
import { archiveTableHashes, sectionTableHash } from '../src/archive/table-hashes.js';
import { dehydrateDatabase } from '../src/dehydrate/dehydrate-database.js';
import { btreeGeometry, walkBtree } from '../src/sqlite/btree-pages.js';
import { ThreadHash } from '../src/archive/hash-thread.js';
import { createHash } from 'node:crypto';
import { syncStatePaths, type SyncRecord } from '../src/sync/sync-state.js';
import { cli } from './helpers/cli.js';
import { makeDatabase, tempDir, withDatabase as write } from './helpers/fixtures.js';
import { buildDatabase, databaseSpec, quote } from './helpers/generators.js';
import { leafPagesOf, pageSizeOf } from './helpers/damage.js';

const root = tempDir('dh-table-copies-');
after(root.cleanup);

/** Table copying applies to databases of any size here (it is off below 4 MiB otherwise). */
const FORCE = { DB_HYDRATION_TABLE_PAGES: 'force' } as const;

/** `db-hydration dehydrate --json` over `data` into `archives`: the database's result. */
function dehydrate(
  dir: string,
  fileName: string,
  env: NodeJS.ProcessEnv = {},
): { changed: boolean; tablesCopied?: number } {
  const run = cli(['dehydrate', '--data-dir', 'data', '--archive-dir', 'archives', '--json'], dir, {
    ...FORCE,
    ...env,
  });
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout) as {
    databases: Record<string, { changed: boolean; tablesCopied?: number }>;
  };
  const own = result.databases[fileName];
  assert.ok(own !== undefined, run.stdout);
  return own;
}

/** The content hash of a full, fresh export of the database (no sync state, no copies). */
function freshContentHash(dbPath: string, scratch: string, name: string): string {
  const archivePath = join(scratch, `fresh-${Date.now()}.json`);
  dehydrateDatabase({ dbPath, archivePath, database: name, fileName: `${name}.db`, busyTimeoutMs: 5000 });
  try {
    return archiveContentHash(archivePath);
  } finally {
    rmSync(archivePath, { force: true });
  }
}

/** The manifest's table hashes of a database's entry. */
function manifestTables(dir: string, fileName: string): unknown {
  const manifest = JSON.parse(readFileSync(join(dir, 'archives', 'manifest.json'), 'utf8')) as {
    databases: Record<string, { tables?: unknown }>;
  };
  return manifest.databases[fileName]?.tables;
}

/** Asserts the archive is what a full export gives now, and the manifest's table hashes are the archive's. */
function assertExact(dir: string, name: string): void {
  const archive = join(dir, 'archives', `${name}.json`);
  assert.equal(archiveContentHash(archive), freshContentHash(join(dir, 'data', `${name}.db`), dir, name));
  assert.deepEqual(manifestTables(dir, `${name}.db`), { ...archiveTableHashes(archive) });
}

/** Every page of every b-tree as the walk reaches it, by name, next to dbstat's pages of that name. */
function walkedAndListed(path: string): { walked: Map<string, number[]>; listed: Map<string, number[]> } {
  const db = new Database(path, { readonly: true });
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(100);
    readSync(fd, header, 0, 100, 0);
    const geometry = btreeGeometry(header, fstatSync(fd).size);
    const page = Buffer.alloc(geometry.pageSize);
    const file = {
      ...geometry,
      readPage: (pgno: number): Buffer => {
        readSync(fd, page, 0, geometry.pageSize, (pgno - 1) * geometry.pageSize);
        return page;
      },
    };
    const trees = db.prepare('SELECT name, rootpage FROM sqlite_schema WHERE rootpage > 0').all() as {
      name: string;
      rootpage: number;
    }[];
    const walked = new Map<string, number[]>();
    const listed = new Map<string, number[]>();
    for (const t of trees) {
      const pages: number[] = [];
      walkBtree(file, t.rootpage, (pgno) => pages.push(pgno));
      walked.set(
        t.name,
        pages.sort((a, b) => a - b),
      );
      listed.set(
        t.name,
        db
          .prepare('SELECT pageno FROM dbstat WHERE name = ? ORDER BY pageno')
          .pluck()
          .all(t.name) as number[],
      );
    }
    return { walked, listed };
  } finally {
    closeSync(fd);
    db.close();
  }
}

/** Four tables: rowid text, WITHOUT ROWID with a composite key, large BLOBs on overflow pages, and one left alone. */
function makeFour(path: string, wal = false): void {
  makeDatabase(path, (db) => {
    if (wal) db.pragma('journal_mode = WAL');
    db.exec(`
      CREATE TABLE a (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
      CREATE TABLE b (k TEXT, n INTEGER, v REAL, PRIMARY KEY (k, n)) WITHOUT ROWID;
      CREATE TABLE c (id INTEGER PRIMARY KEY, data BLOB);
      CREATE TABLE d (x, y);
    `);
    const a = db.prepare('INSERT INTO a VALUES (?, ?)');
    const b = db.prepare('INSERT INTO b VALUES (?, ?, ?)');
    const c = db.prepare('INSERT INTO c VALUES (?, ?)');
    const d = db.prepare('INSERT INTO d VALUES (?, ?)');
    for (let i = 1; i <= 300; i++) {
      a.run(i, `name-${String(i).padStart(4, '0')}`);
      b.run(`key-${i % 17}`, i, i / 3);
      d.run(i, i % 2 === 0 ? null : `y${i}`);
    }
    for (let i = 1; i <= 6; i++) c.run(i, Buffer.alloc(20_000 + i, i));
  });
}

describe('table copies', () => {
  it('walks exactly the pages SQLite lists for every table and index (dbstat), overflow pages included', () => {
    // Feature: database-hydration, Property 25
    const dir = join(root.dir, 'walk');
    mkdirSync(dir, { recursive: true });
    let run = 0;
    fc.assert(
      fc.property(
        databaseSpec({ maxTables: 4, maxRows: 30 }),
        fc.array(
          fc.record({ table: fc.nat(), bytes: fc.integer({ min: 100, max: 200_000 }), text: fc.boolean() }),
          {
            maxLength: 6,
          },
        ),
        (spec, big) => {
          const path = join(dir, `w${run++}.db`);
          buildDatabase(path, spec);
          // Large values, so that overflow chains of every length occur, in rowid and WITHOUT ROWID tables.
          write(path, (db) => {
            for (const v of big) {
              const t = spec.tables[v.table % spec.tables.length];
              if (t === undefined) continue;
              const value = v.text ? 'é'.repeat(v.bytes / 2) : Buffer.alloc(v.bytes, v.bytes % 251);
              try {
                db.prepare(
                  `INSERT INTO ${quote(t.name)} (${quote(t.columns[0]?.name ?? '')}) VALUES (?)`,
                ).run(value);
              } catch {
                // a constraint (STRICT type, NOT NULL, a key) refused it: another value may land
              }
            }
          });
          const { walked, listed } = walkedAndListed(path);
          assert.deepEqual(walked, listed);
          rmSync(path, { force: true });
        },
      ),
      { numRuns: 100 },
    );
  });

  it('hashes on a worker thread exactly as on this one, in chunks of any size', () => {
    // Feature: database-hydration, Property 27
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 << 20 }), fc.integer({ min: 0, max: 255 })), {
          maxLength: 8,
        }),
        (chunks) => {
          const here = createHash('sha256');
          const there = new ThreadHash();
          for (const [size, fill] of chunks) {
            const chunk = Buffer.alloc(size, fill);
            if (size > 0) chunk[size - 1] = (fill * 7) % 256;
            here.update(chunk);
            there.update(chunk);
          }
          assert.equal(there.digest(), here.digest('hex'));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('hashes a section of an archive as the manifest hashes the table', () => {
    const dir = join(root.dir, 'sections');
    mkdirSync(join(dir, 'data'), { recursive: true });
    makeFour(join(dir, 'data', 'four.db'));
    dehydrate(dir, 'four.db');
    const record = JSON.parse(
      readFileSync(syncStatePaths(join(dir, 'data'), 'four.db').state, 'utf8'),
    ) as SyncRecord;
    const archive = join(dir, 'archives', 'four.json');
    const tables = archiveTableHashes(archive) ?? {};
    const pages = record.tablePages;
    assert.ok(pages !== undefined);
    assert.equal(pages.tables.length, 4);
    for (const entry of pages.tables) {
      // Objects of `a`: none here; the table hashes of the archive are the reference.
      assert.deepEqual(sectionTableHash(archive, entry, []), tables[entry.name], entry.name);
      assert.equal(entry.rows, tables[entry.name]?.rows);
    }
  });

  it('copies the unchanged tables and reads the changed one, for every kind of change, and stays exact', () => {
    const cases: Record<string, { change: (path: string) => void; copied: number | undefined }> = {
      insert: {
        change: (p) => {
          write(p, (db) => db.exec("INSERT INTO a VALUES (301, 'new')"));
        },
        copied: 3,
      },
      delete: {
        change: (p) => {
          write(p, (db) => db.exec('DELETE FROM b WHERE n = 7'));
        },
        copied: 3,
      },
      'same-size update': {
        change: (p) => {
          write(p, (db) => db.exec("UPDATE a SET name = 'name-XXXX' WHERE id = 5"));
        },
        copied: 3,
      },
      // The change lives on an overflow page only: the leaf page holding the cell is unchanged.
      'overflow page only': {
        change: (p) => {
          write(p, (db) => {
            const data = Buffer.alloc(20_003, 3);
            data[19_000] = 0x7f;
            db.prepare('UPDATE c SET data = ? WHERE id = 3').run(data);
          });
        },
        copied: 3,
      },
      // The pages are the same, the CREATE text is not: the new column's default is in every row.
      'add column': {
        change: (p) => {
          write(p, (db) => db.exec('ALTER TABLE a ADD COLUMN z DEFAULT 5'));
        },
        copied: 3,
      },
      'rename column': {
        change: (p) => {
          write(p, (db) => db.exec('ALTER TABLE d RENAME COLUMN y TO why'));
        },
        copied: 3,
      },
      'rename table': {
        change: (p) => {
          write(p, (db) => db.exec('ALTER TABLE d RENAME TO e'));
        },
        copied: 3,
      },
      // Rows of `a` are copied; its manifest hash covers the new index and is computed again.
      'new index': {
        change: (p) => {
          write(p, (db) => db.exec('CREATE INDEX a_name ON a(name)'));
        },
        copied: 4,
      },
      'drop table': {
        change: (p) => {
          write(p, (db) => db.exec('DROP TABLE d'));
        },
        copied: 3,
      },
      user_version: {
        change: (p) => {
          write(p, (db) => db.pragma('user_version = 9'));
        },
        copied: 4,
      },
      'drop and create again': {
        change: (p) => {
          write(p, (db) => db.exec("DROP TABLE d; CREATE TABLE d (x, y); INSERT INTO d VALUES ('other', 1)"));
        },
        copied: 3,
      },
      vacuum: {
        change: (p) => {
          write(p, (db) => db.exec('DELETE FROM a WHERE id < 100; VACUUM'));
        },
        copied: undefined,
      },
      'page size': {
        change: (p) => {
          write(p, (db) => db.exec('PRAGMA page_size = 8192; VACUUM'));
        },
        copied: undefined,
      },
    };
    for (const [name, { change, copied }] of Object.entries(cases)) {
      const dir = join(root.dir, 'kinds', name.replaceAll(' ', '-'));
      const db = join(dir, 'data', 'four.db');
      mkdirSync(join(dir, 'data'), { recursive: true });
      makeFour(db);
      assert.equal(dehydrate(dir, 'four.db').tablesCopied, undefined, name);
      change(db);
      const second = dehydrate(dir, 'four.db');
      assert.equal(second.changed, name !== 'nothing', name);
      if (copied === undefined) assert.ok((second.tablesCopied ?? 0) <= 4, name);
      else assert.equal(second.tablesCopied, copied, name);
      assertExact(dir, 'four');
      // And the next export copies from the archive this one wrote.
      write(db, (d) => d.exec("INSERT INTO b VALUES ('again', 1, 0.5)"));
      const third = dehydrate(dir, 'four.db');
      assert.ok((third.tablesCopied ?? 0) >= 1, `${name}: ${JSON.stringify(third)}`);
      assertExact(dir, 'four');
    }
  });

  it('refuses a table whose pages were damaged since the last export, keeps the archive, and says so briefly', () => {
    const dir = join(root.dir, 'damaged');
    const path = join(dir, 'data', 'four.db');
    mkdirSync(join(dir, 'data'), { recursive: true });
    makeFour(path);
    dehydrate(dir, 'four.db');
    const archive = join(dir, 'archives', 'four.json');
    const before = readFileSync(archive);
    // The cell pointers of a leaf of `d` overwritten: its pages changed, so it is read, and its check fails.
    const page = leafPagesOf(path, 'd').at(-1) ?? 0;
    const fd = openSync(path, 'r+');
    try {
      writeSync(fd, Buffer.alloc(40, 0xff), 0, 40, (page - 1) * pageSizeOf(path) + 8);
    } finally {
      closeSync(fd);
    }
    const run = cli(['dehydrate', '--data-dir', 'data', '--archive-dir', 'archives'], dir, FORCE);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /four\.db: the database is damaged \(quick_check: table "d": /);
    assert.match(run.stderr, /hint: run `db-hydration fix`/);
    // At most five problems, as the whole-file check reports.
    const problems = (run.stderr.match(/Tree \d+ page \d+/g) ?? []).length;
    assert.ok(problems >= 1 && problems <= 5, run.stderr);
    assert.deepEqual(readFileSync(archive), before);
  });

  it('copies nothing while commits live in the -wal only, and the archive holds them', () => {
    const dir = join(root.dir, 'wal');
    const path = join(dir, 'data', 'four.db');
    mkdirSync(join(dir, 'data'), { recursive: true });
    makeFour(path, true);
    dehydrate(dir, 'four.db');
    const open = new Database(path);
    try {
      open.pragma('wal_autocheckpoint = 0');
      open.exec("INSERT INTO a VALUES (999, 'in the wal')");
      const second = dehydrate(dir, 'four.db');
      assert.equal(second.changed, true);
      assert.equal(second.tablesCopied, undefined);
      assert.match(readFileSync(join(dir, 'archives', 'four.json'), 'utf8'), /in the wal/);
      assertExact(dir, 'four');
    } finally {
      open.close();
    }
  });

  it('reads every table when the recorded sections do not match the archive', () => {
    const dir = join(root.dir, 'tampered');
    const path = join(dir, 'data', 'four.db');
    mkdirSync(join(dir, 'data'), { recursive: true });
    makeFour(path);
    dehydrate(dir, 'four.db');
    const state = syncStatePaths(join(dir, 'data'), 'four.db').state;
    const record = JSON.parse(readFileSync(state, 'utf8')) as SyncRecord;
    // Every recorded section moved by one byte: a copy would take another table's bytes.
    const shifted = {
      ...record,
      tablePages: record.tablePages && {
        ...record.tablePages,
        tables: record.tablePages.tables.map((t) => ({ ...t, start: t.start + 1, end: t.end + 1 })),
      },
    };
    writeFileSync(state, JSON.stringify(shifted));
    write(path, (db) => db.exec("INSERT INTO a VALUES (400, 'x')"));
    const second = dehydrate(dir, 'four.db');
    assert.equal(second.tablesCopied, undefined);
    assertExact(dir, 'four');
    // A record of another shape is no record: every table is read, without an error.
    const now = JSON.parse(readFileSync(state, 'utf8')) as SyncRecord;
    writeFileSync(state, JSON.stringify({ ...now, tablePages: { ...now.tablePages, tables: 'nonsense' } }));
    write(path, (db) => db.exec("INSERT INTO a VALUES (401, 'y')"));
    const third = dehydrate(dir, 'four.db');
    assert.equal(third.tablesCopied, undefined);
    assertExact(dir, 'four');
  });

  it('gives exactly a full export after random edits on both copied and read tables', () => {
    // Feature: database-hydration, Property 26
    const dir = join(root.dir, 'random');
    let run = 0;
    let copiedTotal = 0;
    const edit = fc.record({
      table: fc.nat(),
      kind: fc.constantFrom('insert', 'delete', 'update', 'big', 'index', 'column', 'none'),
      seed: fc.integer({ min: 1, max: 1_000_000 }),
    });
    fc.assert(
      fc.property(
        databaseSpec({ maxTables: 4, maxRows: 15, utf16: true }),
        fc.array(edit, { maxLength: 4 }),
        (spec, edits) => {
          const here = join(dir, String(run++));
          const path = join(here, 'data', 'r.db');
          mkdirSync(join(here, 'data'), { recursive: true });
          buildDatabase(path, spec);
          dehydrate(here, 'r.db');
          write(path, (db) => {
            db.defaultSafeIntegers(true);
            for (const e of edits) applyEdit(db, spec.tables[e.table % spec.tables.length], e.kind, e.seed);
          });
          const second = dehydrate(here, 'r.db');
          copiedTotal += second.tablesCopied ?? 0;
          assertExact(here, 'r');
          rmSync(here, { recursive: true, force: true });
        },
      ),
      { numRuns: 100 },
    );
    // The property must have copied tables, or it checked nothing of the copying.
    assert.ok(copiedTotal > 50, `only ${copiedTotal} tables copied in 100 runs`);
  });
});

/** One random edit of a table; edits a constraint refuses are skipped. */
function applyEdit(
  db: Database.Database,
  t: { name: string; columns: readonly { name: string }[] } | undefined,
  kind: string,
  seed: number,
): void {
  if (t === undefined) return;
  const table = quote(t.name);
  const column = quote(t.columns[seed % t.columns.length]?.name ?? '');
  try {
    switch (kind) {
      case 'insert':
        db.prepare(`INSERT INTO ${table} (${column}) VALUES (?)`).run(BigInt(seed) * 7919n);
        break;
      case 'delete':
        db.exec(
          `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} LIMIT 1 OFFSET ${seed % 5})`,
        );
        break;
      case 'update':
        db.prepare(
          `UPDATE ${table} SET ${column} = ? WHERE rowid IN (SELECT rowid FROM ${table} LIMIT 1)`,
        ).run(`u${seed}`);
        break;
      case 'big':
        db.prepare(`INSERT INTO ${table} (${column}) VALUES (?)`).run(
          Buffer.alloc(5000 + (seed % 70_000), seed % 256),
        );
        break;
      case 'index':
        db.exec(`CREATE INDEX ${quote(`ix${seed}`)} ON ${table} (${column})`);
        break;
      case 'column':
        db.exec(`ALTER TABLE ${table} ADD COLUMN ${quote(`c${seed}`)} DEFAULT ${seed}`);
        break;
    }
  } catch {
    // WITHOUT ROWID tables have no rowid, STRICT columns refuse other types, keys must be unique: no edit then
  }
}

/**
 * Property-based tests of the safety properties of the seed: 4 (corruption detection accuracy), 5 (partial failure
 * isolation), 9 (backup safety) and 10 (error collection completeness), each over random databases and random damage.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { DBHydrationManager, checkDatabase, isDbValid } from '../src/index.js';
import { snapshot } from './helpers/snapshot.js';
import { LFS_POINTER, MERGE_CONFLICT, scratchDir } from './helpers/damage.js';

const RUNS = 100;

/** A random table: odd names, random declared types, values of every storage class (small: no overflow pages). */
interface TableSpec {
  readonly name: string;
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  readonly withoutRowid: boolean;
  readonly rows: readonly (readonly unknown[])[];
}

const identifier = fc
  .string({ minLength: 1, maxLength: 12, unit: fc.constantFrom(...Array.from('abcXYZ _-."\'`[]/é🎉0123')) })
  .filter((s) => !s.toLowerCase().startsWith('sqlite_'));
const value = fc.oneof(
  fc.constant(null),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.double({ noNaN: true }),
  fc.string({ maxLength: 30 }),
  fc.uint8Array({ maxLength: 30 }).map((a) => Buffer.from(a)),
);
const tableSpec: fc.Arbitrary<TableSpec> = fc
  .record({
    name: identifier,
    columns: fc.uniqueArray(
      fc.record({
        name: identifier,
        type: fc.constantFrom('', 'INTEGER', 'TEXT', 'REAL', 'BLOB', 'NUMERIC', 'ANY'),
      }),
      { minLength: 1, maxLength: 4, selector: (c) => c.name.toLowerCase() },
    ),
    withoutRowid: fc.boolean(),
    rowCount: fc.integer({ min: 1, max: 60 }),
  })
  .chain((t) =>
    fc
      .array(fc.array(value, { minLength: t.columns.length, maxLength: t.columns.length }), {
        minLength: t.rowCount,
        maxLength: t.rowCount,
      })
      .map((rows) => ({ name: t.name, columns: t.columns, withoutRowid: t.withoutRowid, rows })),
  );
const databaseSpec = fc.uniqueArray(tableSpec, {
  minLength: 1,
  maxLength: 3,
  selector: (t) => t.name.toLowerCase(),
});

const q = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** Creates a database from a spec. WITHOUT ROWID tables get an extra integer key column. */
function build(
  path: string,
  tables: readonly TableSpec[],
  journalMode: 'delete' | 'wal' = 'delete',
  pageSize = 4096,
): Database.Database {
  const db = new Database(path);
  db.pragma(`page_size = ${pageSize}`);
  db.pragma(`journal_mode = ${journalMode}`);
  for (const t of tables) {
    const cols = t.columns.map((c) => `${q(c.name)} ${c.type}`.trim());
    db.exec(
      t.withoutRowid
        ? `CREATE TABLE ${q(t.name)} (${q('k\u0001')} INTEGER PRIMARY KEY, ${cols.join(', ')}) WITHOUT ROWID`
        : `CREATE TABLE ${q(t.name)} (${cols.join(', ')})`,
    );
    const names = [...(t.withoutRowid ? ['k\u0001'] : []), ...t.columns.map((c) => c.name)];
    const insert = db.prepare(
      `INSERT INTO ${q(t.name)} (${names.map(q).join(', ')}) VALUES (${names.map(() => '?').join(', ')})`,
    );
    db.transaction(() => {
      t.rows.forEach((r, i) => insert.run(...(t.withoutRowid ? [BigInt(i), ...r] : r)));
    })();
  }
  return db;
}

/** Kinds of damage, each with the status the detector must report. */
type Damage = 'none' | 'zero' | 'truncate' | 'page' | 'noise' | 'lfs' | 'conflict' | 'magic';
const damageKind = fc.constantFrom<Damage>(
  'none',
  'zero',
  'truncate',
  'page',
  'noise',
  'lfs',
  'conflict',
  'magic',
);

/** Applies a damage; `at` in [0, 1) picks where. Returns false when the file is too small for that damage. */
function damage(path: string, kind: Damage, at: number): void {
  const buf = readFileSync(path);
  const pageSize = buf.readUInt16BE(16) === 1 ? 65536 : buf.readUInt16BE(16);
  const pages = Math.floor(buf.length / pageSize);
  switch (kind) {
    case 'none':
      return;
    case 'zero':
      writeFileSync(path, '');
      return;
    case 'truncate':
      // Keep at least the header; cut inside the file, never at its end.
      truncateSync(path, 100 + Math.floor(at * (buf.length - 101)));
      return;
    case 'page': {
      // A page other than page 1, overwritten with bytes whose first one is no b-tree page type.
      const page = 2 + Math.floor(at * (pages - 1));
      const bytes = Buffer.alloc(pageSize, Math.floor(at * 1e6) % 251);
      bytes[0] = 0x01;
      bytes.copy(buf, (page - 1) * pageSize);
      writeFileSync(path, buf);
      return;
    }
    case 'noise':
      writeFileSync(
        path,
        Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 7919 + Math.floor(at * 1e6)) % 256)),
      );
      return;
    case 'lfs':
      writeFileSync(path, LFS_POINTER);
      return;
    case 'conflict':
      writeFileSync(path, MERGE_CONFLICT);
      return;
    case 'magic':
      buf.write('SQLite format 4', 0, 'latin1');
      writeFileSync(path, buf);
      return;
  }
}

describe('safety properties', () => {
  it('Property 4: isDbValid is false exactly for files that are not usable SQLite databases', () => {
    // Feature: database-hydration, Property 4: Corruption Detection Accuracy
    const { dir, cleanup } = scratchDir('dh-props-');
    let n = 0;
    try {
      fc.assert(
        fc.property(
          databaseSpec,
          damageKind,
          fc.double({ min: 0, max: 0.999, noNaN: true }),
          fc.constantFrom(512, 1024, 4096),
          (tables, kind, at, pageSize) => {
            const path = join(dir, `p4-${n++}.db`);
            build(path, tables, 'delete', pageSize).close();
            assert.equal(readFileSync(path).readUInt16BE(16), pageSize);
            // Only multi-page files can lose a page; page 1 alone is covered by the header damages.
            const pages = readFileSync(path).length / pageSize;
            fc.pre(kind !== 'page' || pages >= 2);
            damage(path, kind, at);
            const check = checkDatabase(path, { expectTables: true });
            const expected: Record<Damage, string> = {
              none: 'valid',
              zero: 'damaged',
              truncate: 'damaged',
              page: 'damaged',
              noise: 'not-sqlite',
              lfs: 'not-sqlite',
              conflict: 'not-sqlite',
              magic: 'damaged',
            };
            assert.equal(check.status, expected[kind], `${kind}: ${check.reason}`);
            assert.equal(isDbValid(path, { expectTables: true }), kind === 'none');
          },
        ),
        { numRuns: RUNS },
      );
    } finally {
      cleanup();
    }
  });

  it('Property 5: dehydration exports every healthy database and reports only the damaged ones, keeping their archives', async () => {
    // Feature: database-hydration, Property 5: Partial Failure Isolation
    const { dir, cleanup } = scratchDir('dh-props-');
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(databaseSpec, damageKind, fc.double({ min: 0, max: 0.999, noNaN: true })), {
            minLength: 1,
            maxLength: 4,
          }),
          async (dbs) => {
            const data = join(dir, `p5-${n++}`);
            mkdirSync(data);
            dbs.forEach(([tables], i) => {
              build(join(data, `d${i}.db`), tables).close();
            });
            const manager = new DBHydrationManager({ dataDir: data });
            assert.deepEqual((await manager.dehydrateAll()).errors, []);
            const archivesBefore = dbs.map((_, i) => readFileSync(join(data, 'json_archives', `d${i}.json`)));
            const bad = new Set<number>();
            dbs.forEach(([, kind, at], i) => {
              const path = join(data, `d${i}.db`);
              const db = new Database(path);
              db.exec(`CREATE TABLE ${q(`changed ${i}`)} (x)`);
              db.close();
              damage(path, kind, at);
              if (kind !== 'none') bad.add(i);
            });
            const r = await manager.dehydrateAll();
            assert.equal(r.errors.length, bad.size, JSON.stringify(r.errors));
            for (const e of r.errorDetails) {
              const i = Number(/d(\d+)\.db/.exec(e.file ?? '')?.[1]);
              assert.ok(bad.has(i), `error only for damaged databases: ${e.message}`);
            }
            dbs.forEach((_, i) => {
              const archive = readFileSync(join(data, 'json_archives', `d${i}.json`));
              if (bad.has(i)) {
                assert.deepEqual(archive, archivesBefore[i], `the archive of damaged d${i} is kept`);
              } else {
                assert.equal(r.databases[`d${i}.db`]?.changed, true, `healthy d${i} is exported`);
                assert.match(archive.toString('utf8'), new RegExp(`changed ${i}`));
              }
            });
          },
        ),
        { numRuns: RUNS },
      );
    } finally {
      cleanup();
    }
  });

  it('Property 9: hydrate --force backs up every database it replaces, WAL content included, keeping a bounded number', async () => {
    // Feature: database-hydration, Property 9: Backup Safety
    const { dir, cleanup } = scratchDir('dh-props-');
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          databaseSpec,
          databaseSpec,
          fc.boolean(),
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 1, max: 3 }),
          async (existing, incoming, walOnly, runs, keep) => {
            const root = join(dir, `p9-${n++}`);
            const data = join(root, 'data');
            const archives = join(root, 'archives');
            const src = join(root, 'src');
            mkdirSync(data, { recursive: true });
            mkdirSync(src);
            build(join(src, 'x.db'), incoming).close();
            await new DBHydrationManager({ dataDir: src, archiveDir: archives }).dehydrateAll();
            if (walOnly) {
              // The latest commits only in the -wal file: copy the pair while the writer still has it open.
              const w = build(join(root, 'w.db'), [], 'wal');
              w.pragma('wal_autocheckpoint = 0');
              w.close();
              const writer = build(join(root, 'w.db'), existing, 'wal');
              writer.pragma('wal_autocheckpoint = 0');
              copyFileSync(join(root, 'w.db'), join(data, 'x.db'));
              copyFileSync(join(root, 'w.db-wal'), join(data, 'x.db-wal'));
              writer.close();
            } else {
              build(join(data, 'x.db'), existing).close();
            }
            const original = snapshot(join(data, 'x.db'));
            const manager = new DBHydrationManager({
              dataDir: data,
              archiveDir: archives,
              backupsKept: keep,
            });
            const first = await manager.hydrateAll({ force: true });
            assert.deepEqual(first.errors, []);
            const backup = first.databases['x.db']?.backupPath ?? '';
            assert.match(backup, /x\.db\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z(-\d+)?\.bak$/);
            assert.deepEqual(
              snapshot(backup),
              original,
              'the backup holds the replaced database, WAL content included',
            );
            for (let i = 1; i < runs; i++)
              assert.deepEqual((await manager.hydrateAll({ force: true })).errors, []);
            const backups = readdirSync(data).filter((f) => f.endsWith('.bak'));
            assert.equal(backups.length, Math.min(runs, keep), 'backups are bounded by backupsKept');
            assert.ok(backups.every((f) => !/\.(db|sqlite|sqlite3)$/.test(f)));
          },
        ),
        { numRuns: RUNS },
      );
    } finally {
      cleanup();
    }
  });

  it('Property 10: every error of a run is collected, each naming its file', async () => {
    // Feature: database-hydration, Property 10: Error Collection Completeness
    const { dir, cleanup } = scratchDir('dh-props-');
    const breakers: ((text: string) => string)[] = [
      (t) => t.slice(0, Math.floor(t.length / 2)),
      (t) => t.replace('"row_count": ', '"row_count": 1'),
      (t) =>
        t.replace(
          '"tables": {',
          '"tables": {\n"evil": {"schema": "CREATE TABLE evil (a); DROP TABLE x", "row_count": 0, "rows": []},',
        ),
      (t) => t.replace(/"file_name": "[^"]*"/, '"file_name": "../escape.db"'),
      () => '',
      () => '{"database": 5}',
    ];
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.tuple(
              databaseSpec,
              fc.option(fc.integer({ min: 0, max: breakers.length - 1 }), { nil: undefined }),
            ),
            {
              minLength: 1,
              maxLength: 5,
            },
          ),
          async (dbs) => {
            const root = join(dir, `p10-${n++}`);
            const src = join(root, 'src');
            const archives = join(root, 'archives');
            mkdirSync(src, { recursive: true });
            dbs.forEach(([tables], i) => {
              build(join(src, `d${i}.db`), tables).close();
            });
            await new DBHydrationManager({ dataDir: src, archiveDir: archives }).dehydrateAll();
            const broken = new Set<string>();
            dbs.forEach(([, b], i) => {
              if (b === undefined) return;
              const p = join(archives, `d${i}.json`);
              writeFileSync(p, (breakers[b] ?? ((t: string) => t))(readFileSync(p, 'utf8')));
              broken.add(p);
            });
            const data = join(root, 'data');
            const r = await new DBHydrationManager({ dataDir: data, archiveDir: archives }).hydrateAll();
            assert.equal(r.errors.length, broken.size, JSON.stringify(r.errors));
            for (const p of broken) {
              assert.equal(r.errors.filter((e) => e.includes(p)).length, 1, `one error names ${p}`);
              assert.equal(existsSync(join(data, `${p.slice(archives.length + 1, -5)}.db`)), false);
            }
            dbs.forEach((_, i) => {
              const p = join(archives, `d${i}.json`);
              if (!broken.has(p)) assert.equal(r.databases[`d${i}.db`]?.status, 'hydrated');
            });
          },
        ),
        { numRuns: RUNS },
      );
    } finally {
      cleanup();
    }
  });
});

/**
 * The seed's correctness properties 1, 2, 3, 6, 7 and 8, checked with fast-check on random databases (random schemas
 * with odd names, declared types, STRICT, WITHOUT ROWID, indexes, UTF-16; random values of every storage class).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { DBHydrationManager, decodeValue, TextBytes } from '../src/index.js';
import { snapshot } from './helpers/snapshot.js';
import { affinityOf } from '../src/sqlite/affinity.js';
import { buildDatabase, databaseSpec, quote, type DatabaseSpec } from './helpers/generators.js';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 100);

/**
 * One workspace per property; each run uses fresh subdirectories inside it. Real files, on tmpfs (/dev/shm) where the
 * machine has one: the library fsyncs every file it writes, and hundreds of runs would otherwise wait on the disk.
 */
function workspace(): { next: () => { data: string; archives: string; other: string }; cleanup: () => void } {
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'dh-prop-'));
  const cleanup = (): void => {
    rmSync(dir, { recursive: true, force: true });
  };
  let n = 0;
  return {
    next: () => {
      const base = join(dir, String(n++));
      const paths = {
        data: join(base, 'data'),
        archives: join(base, 'archives'),
        other: join(base, 'other'),
      };
      mkdirSync(paths.data, { recursive: true });
      return paths;
    },
    cleanup,
  };
}

type Paths = ReturnType<ReturnType<typeof workspace>['next']>;

/**
 * Checks `body` on {@link RUNS} generated databases, each in fresh paths of one workspace. A passing run's files are
 * removed at once; the workspace goes when the property ends.
 */
async function checkProperty(
  specs: fc.Arbitrary<DatabaseSpec>,
  body: (spec: DatabaseSpec, paths: Paths) => Promise<void>,
): Promise<void> {
  const ws = workspace();
  try {
    await fc.assert(
      fc.asyncProperty(specs, async (spec) => {
        const paths = ws.next();
        await body(spec, paths);
        rmSync(join(paths.data, '..'), { recursive: true, force: true });
      }),
      { numRuns: RUNS },
    );
  } finally {
    ws.cleanup();
  }
}

async function dehydrate(data: string, archives: string): Promise<void> {
  const result = await new DBHydrationManager({ dataDir: data, archiveDir: archives }).dehydrateAll();
  assert.deepEqual(result.errors, []);
}

async function hydrate(data: string, archives: string, force = false): Promise<void> {
  const result = await new DBHydrationManager({ dataDir: data, archiveDir: archives }).hydrateAll({ force });
  assert.deepEqual(result.errors, []);
  assert.ok(Object.values(result.databases).every((d) => d.status === 'hydrated'));
}

/** Builds the spec as `<data>/db.db` and round-trips it into `<other>/db.db`. */
async function roundTrip(
  spec: DatabaseSpec,
  paths: { data: string; archives: string; other: string },
): Promise<void> {
  buildDatabase(join(paths.data, 'db.db'), spec);
  await dehydrate(paths.data, paths.archives);
  await hydrate(paths.other, paths.archives);
}

function withDb<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.defaultSafeIntegers(true);
    return fn(db);
  } finally {
    db.close();
  }
}

/** User tables of a database, in code-unit order of their names (SQL's ORDER BY differs in UTF-16le files). */
function userTables(db: Database.Database): { name: string; sql: string }[] {
  const rows = db
    .prepare(
      "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )
    .all() as { name: string; sql: string }[];
  return rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

interface ArchiveDoc {
  tables: Record<
    string,
    { schema: string; row_count: number; rowid_key?: string; rows: Record<string, unknown>[] }
  >;
  objects: { type: string; name: string; tbl_name: string; sql: string }[];
}

describe('properties', () => {
  // Feature: database-hydration, Property 1: Round-trip Consistency
  it('Property 1: Round-trip Consistency: hydrate(dehydrate(db)) has the same schema, rows and pragmas, and the same archive', async () => {
    await checkProperty(databaseSpec(), async (spec, paths) => {
      await roundTrip(spec, paths);
      assert.deepEqual(snapshot(join(paths.other, 'db.db')), snapshot(join(paths.data, 'db.db')));
      // And the copy dehydrates to the same archive (another machine, same bytes but exported_at).
      const again = join(paths.other, 'archives');
      await dehydrate(paths.other, again);
      const strip = (path: string): string => readFileSync(path, 'utf8').replace(/^"exported_at": .*\n/m, '');
      assert.equal(strip(join(again, 'db.json')), strip(join(paths.archives, 'db.json')));
    });
  });

  // Feature: database-hydration, Property 1: Round-trip Consistency
  it("Property 1: Round-trip Consistency: the copy lists its schema in the source's order (tables, indexes, views and triggers interleaved)", async () => {
    const order = (path: string): unknown =>
      withDb(path, (db) =>
        db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY rowid').raw(true).all(),
      );
    await checkProperty(databaseSpec({ maxRows: 3 }), async (spec, paths) => {
      await roundTrip(spec, paths);
      assert.deepEqual(order(join(paths.other, 'db.db')), order(join(paths.data, 'db.db')));
    });
  });

  // Feature: database-hydration, Property 2: Idempotent Dehydration
  it('Property 2: Idempotent Dehydration: dehydrating an unchanged database again gives the identical archive', async () => {
    await checkProperty(databaseSpec(), async (spec, paths) => {
      buildDatabase(join(paths.data, 'db.db'), spec);
      await dehydrate(paths.data, paths.archives);
      const first = readFileSync(join(paths.archives, 'db.json'));
      const second = await new DBHydrationManager({
        dataDir: paths.data,
        archiveDir: paths.archives,
      }).dehydrateAll();
      assert.equal(second.databases['db.db']?.changed, false);
      assert.ok(readFileSync(join(paths.archives, 'db.json')).equals(first));
      // A fresh archive directory (new exported_at) differs at most in exported_at.
      await dehydrate(paths.data, paths.other);
      const strip = (b: Buffer): string => b.toString('utf8').replace(/^"exported_at": .*\n/m, '');
      assert.equal(strip(readFileSync(join(paths.other, 'db.json'))), strip(first));
    });
  });

  // Feature: database-hydration, Property 3: Idempotent Hydration
  it('Property 3: Idempotent Hydration: hydrating twice with force gives the same database, byte for byte', async () => {
    await checkProperty(databaseSpec(), async (spec, paths) => {
      await roundTrip(spec, paths);
      const target = join(paths.other, 'db.db');
      const firstBytes = readFileSync(target);
      const firstSnapshot = snapshot(target);
      await hydrate(paths.other, paths.archives, true);
      assert.deepEqual(snapshot(target), firstSnapshot);
      assert.ok(readFileSync(target).equals(firstBytes), 'the hydrated file is byte-identical');
    });
  });

  // Feature: database-hydration, Property 6: Archive Completeness
  it('Property 6: Archive Completeness: the archive holds every table and every row of the database', async () => {
    await checkProperty(databaseSpec({ utf16: false }), async (spec, paths) => {
      const dbPath = join(paths.data, 'db.db');
      buildDatabase(dbPath, spec);
      await dehydrate(paths.data, paths.archives);
      const doc = JSON.parse(readFileSync(join(paths.archives, 'db.json'), 'utf8')) as ArchiveDoc;
      withDb(dbPath, (db) => {
        const tables = userTables(db);
        assert.deepEqual(
          Object.keys(doc.tables),
          tables.map((t) => t.name),
        );
        for (const { name, sql } of tables) {
          const archived = doc.tables[name];
          assert.ok(archived !== undefined);
          assert.equal(archived.schema, sql);
          const count = db
            .prepare(`SELECT count(*) FROM ${quote(name)}`)
            .pluck()
            .get() as bigint;
          assert.equal(archived.row_count, Number(count));
          assert.equal(archived.rows.length, Number(count));
          const info = db.prepare('SELECT name, type FROM pragma_table_info(?)').all(name) as {
            name: string;
            type: string;
          }[];
          const columns = info.map((c) => c.name);
          const taken = new Set(columns.map((c) => c.toLowerCase()));
          const rowidName = ['rowid', '_rowid_', 'oid'].find((r) => !taken.has(r)) ?? 'rowid';
          const types = [
            ...(archived.rowid_key === undefined ? [] : ['INTEGER']),
            ...info.map((c) => c.type),
          ];
          for (const row of archived.rows) {
            const keys: string[] = [...(archived.rowid_key === undefined ? [] : [rowidName]), ...columns];
            const jsonKeys: string[] = [
              ...(archived.rowid_key === undefined ? [] : [archived.rowid_key]),
              ...columns,
            ];
            assert.deepEqual(Object.keys(row), jsonKeys);
            // The row exists in the source with these exact values and storage classes.
            const values = jsonKeys.map((k) => decodeValue(row[k]));
            const where = keys.map((k, i) => {
              const v = values[i];
              if (v instanceof TextBytes)
                return `(typeof(${quote(k)}) = 'text' AND CAST(${quote(k)} AS BLOB) = ?)`;
              if (v === null) return `${quote(k)} IS NULL`;
              return `(${quote(k)} = ? AND typeof(${quote(k)}) = '${klass(v, types[i] ?? '')}')`;
            });
            const params = values.flatMap((v) => (v === null ? [] : [v instanceof TextBytes ? v.bytes : v]));
            const found = db
              .prepare(`SELECT count(*) FROM ${quote(name)} WHERE ${where.join(' AND ')}`)
              .pluck()
              .get(...params) as bigint;
            assert.ok(found >= 1n, `row ${JSON.stringify(row)} of ${name} is in the source`);
          }
        }
      });
    });
  });

  // Feature: database-hydration, Property 7: Schema Preservation
  it('Property 7: Schema Preservation: the archived schema SQL executes and creates identical table structures', async () => {
    await checkProperty(databaseSpec({ maxRows: 3 }), async (spec, paths) => {
      const dbPath = join(paths.data, 'db.db');
      buildDatabase(dbPath, spec);
      await dehydrate(paths.data, paths.archives);
      const doc = JSON.parse(readFileSync(join(paths.archives, 'db.json'), 'utf8')) as ArchiveDoc;
      const fresh = new Database(':memory:');
      try {
        fresh.defaultSafeIntegers(true);
        for (const t of Object.values(doc.tables)) fresh.exec(t.schema);
        for (const o of doc.objects) fresh.exec(o.sql);
        const structure = (db: Database.Database): unknown =>
          userTables(db).map(({ name }) => ({
            name,
            list: db
              .prepare(
                "SELECT type, ncol, wr, strict FROM pragma_table_list WHERE name = ? AND schema = 'main'",
              )
              .all(name),
            columns: db.prepare('SELECT * FROM pragma_table_xinfo(?)').all(name),
            indexes:
              // Not seq: indexes are created in name order on hydration, not in the source's order.
              (
                db.prepare('SELECT name, "unique", origin, partial FROM pragma_index_list(?)').all(name) as {
                  name: string;
                }[]
              )
                .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
                .map((ix) => ({
                  ...ix,
                  columns: db.prepare('SELECT * FROM pragma_index_xinfo(?)').all(ix.name),
                })),
          }));
        const schemaOf = (db: Database.Database): string[] =>
          (
            db
              .prepare(
                "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
              )
              .raw(true)
              .all() as string[][]
          )
            .map((r) => JSON.stringify(r))
            .sort();
        withDb(dbPath, (source) => {
          assert.deepEqual(structure(fresh), structure(source));
          assert.deepEqual(schemaOf(fresh), schemaOf(source));
        });
      } finally {
        fresh.close();
      }
    });
  });

  // Feature: database-hydration, Property 8: Data Type Preservation
  it('Property 8: Data Type Preservation: every value keeps its storage class and exact value', async () => {
    await checkProperty(databaseSpec(), async (spec, paths) => {
      await roundTrip(spec, paths);
      const cells = (path: string): Map<string, string[]> =>
        withDb(path, (db) => {
          const out = new Map<string, string[]>();
          for (const { name } of userTables(db)) {
            const cols = db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(name) as string[];
            out.set(
              name,
              cols.flatMap((c) =>
                (
                  db
                    .prepare(
                      `SELECT typeof(${quote(c)}) AS t, ${quote(c)} AS v, hex(${quote(c)}) AS h FROM ${quote(name)}`,
                    )
                    .all() as { t: string; v: unknown; h: string }[]
                )
                  .map(
                    ({ t, v, h }) => `${c}:${t}:${t === 'real' ? (Object.is(v, -0) ? '-0' : String(v)) : h}`,
                  )
                  .sort(),
              ),
            );
          }
          return out;
        });
      const before = cells(join(paths.data, 'db.db'));
      assert.deepEqual(cells(join(paths.other, 'db.db')), before);
    });
  });
});

/** The storage class a decoded value has in a column of `declaredType`. */
function klass(v: unknown, declaredType: string): string {
  switch (typeof v) {
    case 'bigint':
      // A plain integer in a REAL-affinity column is how an integral REAL is written there.
      return affinityOf(declaredType) === 'REAL' ? 'real' : 'integer';
    case 'number':
      return 'real';
    case 'string':
      return 'text';
    default:
      return 'blob';
  }
}

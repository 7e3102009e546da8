/**
 * Property 22 (migration equivalence): a random sequence of valid migrations applied in one go, applied one at a time,
 * and applied by `hydrate --migrate` to an archive made before any of them give the same database. Property 23
 * (refusals change nothing): every refusal leaves the database byte for byte as it was, with no backup made.
 */
import { strict as assert } from 'node:assert';
import {
  copyFileSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { DBHydrationManager } from '../src/index.js';
import { parseMigration } from '../src/migrate/migrations-dir.js';
import { migrateDatabase } from '../src/migrate/apply-migrations.js';
import { DEFAULT_MIGRATIONS_TABLE } from '../src/migrate/ledger.js';
import { tempDir } from './helpers/fixtures.js';
import { snapshot } from './helpers/snapshot.js';
import { writeMigrations } from './helpers/migrations.js';
import { compile, literal, makeBase, op } from './helpers/migration-generators.js';

const RUNS = 100;
const where = { database: 'app', table: DEFAULT_MIGRATIONS_TABLE };

function migrate(dbPath: string, files: readonly (readonly [string, string])[]): void {
  const db = new Database(dbPath);
  try {
    migrateDatabase(
      db,
      files.map(([name, sql], i) => parseMigration(i + 1, name, sql)),
      { ...where, file: dbPath },
    );
  } finally {
    db.close();
  }
}

describe('migration properties', () => {
  it('Property 22: one go, one at a time, and an old archive hydrated with --migrate give the same database', async () => {
    // Feature: database-hydration, Property 22: Migration Equivalence
    const { dir, cleanup } = tempDir('dh-migprop-');
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(literal, { minLength: 0, maxLength: 6 }),
          fc.array(op, { minLength: 1, maxLength: 6 }),
          async (rows, ops) => {
            const root = join(dir, String(run++));
            mkdirSync(join(root, 'data'), { recursive: true });
            const files = compile(ops);
            const migrations = writeMigrations(join(root, 'migrations'), files);
            const base = join(root, 'base.db');
            makeBase(base, rows);
            const oneGo = join(root, 'one-go.db');
            const oneByOne = join(root, 'one-by-one.db');
            copyFileSync(base, oneGo);
            copyFileSync(base, oneByOne);
            migrate(oneGo, files);
            for (let i = 1; i <= files.length; i++) migrate(oneByOne, files.slice(0, i));
            const expected = snapshot(oneGo);
            assert.equal(expected.pragmas.user_version, files.length);
            assert.deepEqual(snapshot(oneByOne), expected);

            // The archive of the base database, hydrated elsewhere with migrate: the same database again.
            copyFileSync(base, join(root, 'data', 'app.db'));
            const old = new DBHydrationManager({ dataDir: join(root, 'data') });
            assert.deepEqual((await old.dehydrateAll()).errors, []);
            const fresh = new DBHydrationManager({
              dataDir: join(root, 'fresh'),
              archiveDir: old.archiveDir,
              migrationsDir: migrations,
            });
            const hydrated = await fresh.hydrateAll({ migrate: true });
            assert.deepEqual(hydrated.errors, []);
            assert.equal(hydrated.databases['app.db']?.migrationsApplied?.length, files.length);
            assert.deepEqual(snapshot(join(root, 'fresh', 'app.db')), expected);
            rmSync(root, { recursive: true, force: true });
          },
        ),
        { numRuns: RUNS },
      );
    } finally {
      cleanup();
    }
  });

  it('Property 23: a refused migration run leaves the database byte for byte as it was', async () => {
    // Feature: database-hydration, Property 23: Refusals Change Nothing
    const { dir, cleanup } = tempDir('dh-migprop-');
    let run = 0;
    const kinds = [
      'newer',
      'edited',
      'gap',
      'duplicate',
      'other-branch',
      'fails',
      'orphans',
      'commit',
    ] as const;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(literal, { minLength: 1, maxLength: 5 }),
          fc.array(op, { minLength: 1, maxLength: 4 }),
          fc.nat(),
          fc.constantFrom(...kinds),
          async (rows, ops, at, kind) => {
            const root = join(dir, String(run++));
            const data = join(root, 'data');
            mkdirSync(data, { recursive: true });
            const files = compile(ops);
            const migrations = writeMigrations(join(root, 'migrations'), files);
            const dbPath = join(data, 'app.db');
            makeBase(dbPath, rows);
            const manager = new DBHydrationManager({ dataDir: data, migrationsDir: migrations });
            // Everything applied, then the directory (or the next migration) is made unacceptable.
            assert.deepEqual((await manager.migrateAll()).errors, []);
            for (const f of readdirSync(data)) if (f.endsWith('.bak')) rmSync(join(data, f));
            const j = at % files.length;
            const [name, sql] = files[j] ?? ['', ''];
            const next = String(files.length + 1).padStart(4, '0');
            switch (kind) {
              case 'newer':
                rmSync(join(migrations, files[files.length - 1]?.[0] ?? ''));
                break;
              case 'edited':
                writeFileSync(join(migrations, name), `${sql}-- edited\n`);
                break;
              case 'gap':
                writeFileSync(join(migrations, `${String(files.length + 2)}_later.sql`), 'SELECT 1;');
                break;
              case 'duplicate':
                writeFileSync(join(migrations, `${String(j + 1)}_again.sql`), 'SELECT 1;');
                break;
              case 'other-branch':
                renameSync(join(migrations, name), join(migrations, name.replace('.sql', '_theirs.sql')));
                break;
              case 'fails':
                writeFileSync(
                  join(migrations, `${next}_bad.sql`),
                  'INSERT INTO t (id) VALUES (1000);\nSELECT nope FROM t;\n',
                );
                break;
              case 'orphans':
                writeFileSync(
                  join(migrations, `${next}_bad.sql`),
                  'INSERT INTO c (t_id, note) VALUES (123456, 1);\n',
                );
                break;
              case 'commit':
                writeFileSync(
                  join(migrations, `${next}_bad.sql`),
                  'INSERT INTO t DEFAULT VALUES;\nCOMMIT;\n',
                );
                break;
            }
            const before = readFileSync(dbPath);
            let errors: readonly string[];
            try {
              errors = (await manager.migrateAll()).errors;
            } catch (error) {
              errors = [(error as Error).message];
            }
            assert.equal(errors.length, 1, `${kind}: refused`);
            assert.deepEqual(readFileSync(dbPath), before, `${kind}: the database is unchanged`);
            const backups = readdirSync(data).filter((f) => f.endsWith('.bak')).length;
            assert.equal(backups, kind === 'fails' || kind === 'orphans' ? 1 : 0, `${kind}: backups`);
            rmSync(root, { recursive: true, force: true });
          },
        ),
        { numRuns: RUNS },
      );
    } finally {
      cleanup();
    }
  });
});

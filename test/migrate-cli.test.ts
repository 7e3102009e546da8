/**
 * `db-hydration migrate`, `hydrate --migrate` and `status` with a migrations directory, as real child processes on a
 * populated database: what runs, the backup, the archive afterwards, an old archive migrated on hydration equal to the
 * database migrated in place, and every refusal leaving the database and its archive byte for byte as they were.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { cli } from './helpers/cli.js';
import { tempDir } from './helpers/fixtures.js';
import { snapshot } from './helpers/snapshot.js';
import {
  SHOP_CUSTOMERS,
  SHOP_MIGRATIONS,
  shopProject,
  writeMigrations,
  type ShopProject,
} from './helpers/migrations.js';

/** A project: data/shop.db (populated), migrations/ with the first `count` shop migrations, a config naming both. */
const project = (count: number): ShopProject =>
  shopProject(SHOP_MIGRATIONS.slice(0, count), { config: true });

const backupsOf = (dir: string): string[] => readdirSync(join(dir, 'data')).filter((n) => n.endsWith('.bak'));
const userVersion = (path: string): unknown => {
  const db = new Database(path, { readonly: true });
  try {
    return db.pragma('user_version', { simple: true });
  } finally {
    db.close();
  }
};

function ok(r: { code: number | null; stdout: string; stderr: string }): string {
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return r.stdout;
}

describe('db-hydration migrate', () => {
  it('--dry-run lists what would run and changes nothing; migrate applies it after a backup; dehydrate archives it', () => {
    const p = project(4);
    try {
      ok(cli(['dehydrate'], p.dir));
      const before = readFileSync(p.db);
      const original = snapshot(p.db);
      const dry = ok(cli(['migrate', '--dry-run'], p.dir));
      assert.match(
        dry,
        /would run +shop\.db +0 -> 4: 0001_add_tier\.sql, 0002_rename_total\.sql, 0003_rebuild_customers\.sql, 0004_split_addresses\.sql/,
      );
      assert.deepEqual(readFileSync(p.db), before);
      assert.deepEqual(backupsOf(p.dir), []);
      const status = JSON.parse(ok(cli(['status', '--json'], p.dir))) as {
        databases: { migrations?: { version: number; pending: string[] } }[];
      };
      assert.deepEqual(status.databases[0]?.migrations?.pending.length, 4);
      assert.match(ok(cli(['status'], p.dir)), /in sync .* at 0: 4 pending \(run migrate\)/);

      const run = ok(cli(['migrate'], p.dir));
      assert.match(
        run,
        /migrated +shop\.db +0 -> 4: 0001_add_tier\.sql, .*0004_split_addresses\.sql +\(backed up to /,
      );
      assert.equal(userVersion(p.db), 4);
      const [backup] = backupsOf(p.dir);
      assert.ok(backup !== undefined);
      assert.deepEqual(snapshot(join(p.dir, 'data', backup)), original);
      assert.equal(userVersion(join(p.dir, 'data', backup)), 0);

      const again = JSON.parse(ok(cli(['migrate', '--json'], p.dir))) as {
        databases: Record<string, { status: string }>;
      };
      assert.equal(again.databases['shop.db']?.status, 'up-to-date');
      assert.match(ok(cli(['status'], p.dir)), /at 4, up to date/);

      ok(cli(['dehydrate'], p.dir));
      const archive = readFileSync(p.archive, 'utf8');
      assert.match(archive, /"user_version":4/);
      assert.match(archive, /"_db_hydration_migrations"/);
      assert.match(archive, /\{"id":3,"name":"0003_rebuild_customers\.sql","checksum":"[0-9a-f]{64}"\}/);
      assert.match(archive, /"addresses"/);
    } finally {
      p.cleanup();
    }
  });

  it('an old archive + hydrate --migrate equals the database migrated in place, with the same data', () => {
    const p = project(4);
    const fresh = tempDir('dh-migcli-');
    try {
      ok(cli(['dehydrate'], p.dir)); // the archive at version 0
      ok(cli(['migrate'], p.dir)); // the live database at version 4
      writeFileSync(
        join(fresh.dir, 'db-hydration.config.json'),
        JSON.stringify({
          dataDir: 'data',
          archiveDir: join(p.dir, 'data', 'json_archives'),
          migrationsDir: join(p.dir, 'migrations'),
        }),
      );
      const out = ok(cli(['hydrate', '--migrate'], fresh.dir));
      assert.match(
        out,
        /migrated +shop\.db: 0001_add_tier\.sql, 0002_rename_total\.sql, 0003_rebuild_customers\.sql, 0004_split_addresses\.sql/,
      );
      const hydrated = join(fresh.dir, 'data', 'shop.db');
      assert.deepEqual(snapshot(hydrated), snapshot(p.db));
      const db = new Database(hydrated, { readonly: true });
      try {
        assert.equal(db.prepare('SELECT count(*) FROM addresses').pluck().get(), SHOP_CUSTOMERS);
      } finally {
        db.close();
      }
      // Without --migrate, the old archive comes back as it was.
      rmSync(hydrated);
      assert.match(
        ok(cli(['hydrate'], fresh.dir)),
        /shop\.db: 4 migrations pending \(run `db-hydration migrate`/,
      );
      assert.equal(userVersion(hydrated), 0);
    } finally {
      p.cleanup();
      fresh.cleanup();
    }
  });

  it("--migrations overrides the config's migrationsDir for migrate, status and hydrate", () => {
    const p = project(4); // the config's migrationsDir: 4 migrations
    try {
      const other = join(p.dir, 'other');
      writeMigrations(other, SHOP_MIGRATIONS.slice(0, 2));
      const firstTwo = ['0001_add_tier.sql', '0002_rename_total.sql'];
      const dry = JSON.parse(ok(cli(['migrate', '--dry-run', '--json', '--migrations', 'other'], p.dir))) as {
        migrationsDir: string;
        databases: Record<string, { status: string; applied: string[] }>;
      };
      assert.equal(dry.migrationsDir, other);
      const shop = dry.databases['shop.db'];
      assert.ok(shop !== undefined);
      assert.equal(shop.status, 'pending');
      assert.deepEqual(shop.applied, firstTwo);
      const status = JSON.parse(ok(cli(['status', '--json', '--migrations', 'other'], p.dir))) as {
        databases: { migrations?: { pending: string[] } }[];
      };
      assert.deepEqual(status.databases[0]?.migrations?.pending.length, 2);

      ok(cli(['dehydrate'], p.dir)); // the archive at version 0
      const hydrated = JSON.parse(
        ok(cli(['hydrate', '--force', '--migrate', '--migrations', 'other', '--json'], p.dir)),
      ) as { databases: Record<string, { migrationsApplied?: string[] }> };
      assert.deepEqual(hydrated.databases['shop.db']?.migrationsApplied, firstTwo);
      assert.equal(userVersion(p.db), 2);
    } finally {
      p.cleanup();
    }
  });
});

/** Runs `args` in a project prepared by `setup` and asserts it was refused and the database and archive untouched. */
function assertRefused(
  count: number,
  setup: (p: ReturnType<typeof project>) => void,
  message: RegExp,
  args: readonly string[] = ['migrate'],
): void {
  const p = project(count);
  try {
    setup(p);
    ok(cli(['dehydrate'], p.dir));
    const db = readFileSync(p.db);
    const archive = readFileSync(p.archive);
    const backups = backupsOf(p.dir);
    const r = cli(args, p.dir);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /hint: /);
    assert.deepEqual(readFileSync(p.db), db, 'the database is byte for byte as it was');
    assert.deepEqual(readFileSync(p.archive), archive, 'the archive is byte for byte as it was');
    // A refusal makes no backup; a migration that failed ran after one, which stays.
    assert.equal(backupsOf(p.dir).length, backups.length + (/rolled back/.test(r.stderr) ? 1 : 0));
  } finally {
    p.cleanup();
  }
}

describe('migrate refuses and changes nothing', () => {
  it('a database newer than the migrations directory (an older checkout)', () => {
    assertRefused(
      2,
      (p) => {
        ok(cli(['migrate'], p.dir));
        rmSync(join(p.dir, 'migrations', SHOP_MIGRATIONS[1]?.[0] ?? ''));
      },
      /at migration 2 \(0002_rename_total\.sql\), newer than the migrations directory, which knows up to 1/,
    );
  });

  it('an applied migration whose file was edited since', () => {
    assertRefused(
      2,
      (p) => {
        ok(cli(['migrate'], p.dir));
        writeFileSync(
          join(p.dir, 'migrations', '0001_add_tier.sql'),
          "ALTER TABLE customers ADD COLUMN tier TEXT DEFAULT 'gold';\n",
        );
        writeMigrations(join(p.dir, 'migrations'), SHOP_MIGRATIONS.slice(2, 3));
      },
      /0001_add_tier\.sql was edited after it was applied/,
    );
  });

  it('a gap and a duplicate in the numbering', () => {
    assertRefused(
      1,
      (p) => writeMigrations(join(p.dir, 'migrations'), [['0003_later.sql', 'SELECT 1;']]),
      /gap: 0003_later\.sql follows 0001_add_tier\.sql, but migration 2 is missing/,
    );
    assertRefused(
      1,
      (p) => writeMigrations(join(p.dir, 'migrations'), [['1_again.sql', 'SELECT 1;']]),
      /two migrations have the number 1/,
    );
  });

  it('a migration that fails, one that orphans child rows, and one with its own COMMIT: rolled back, the backup stays', () => {
    for (const [sql, message] of [
      [
        'ALTER TABLE customers ADD COLUMN tier TEXT;\nALTER TABLE nowhere ADD COLUMN x;\n',
        /0001_bad\.sql failed: no such table: nowhere; it was rolled back/,
      ],
      [
        'DELETE FROM customers WHERE id < 5;\n',
        /0001_bad\.sql leaves 12 row\(s\) whose foreign key finds no parent/,
      ],
      ['ALTER TABLE customers ADD COLUMN tier TEXT;\nCOMMIT;\n', /0001_bad\.sql holds a COMMIT statement/],
    ] as const) {
      assertRefused(0, (p) => writeMigrations(join(p.dir, 'migrations'), [['0001_bad.sql', sql]]), message);
    }
  });

  it('a database from a branch that applied a different migration 3: migrate, hydrate --migrate and status say so', () => {
    const other = [
      ...SHOP_MIGRATIONS.slice(0, 2),
      ['0003_other_branch.sql', 'CREATE TABLE wishlist (id INTEGER PRIMARY KEY);\n'] as const,
    ];
    const setup = (p: ReturnType<typeof project>): void => {
      writeMigrations(join(p.dir, 'migrations'), other);
      rmSync(join(p.dir, 'migrations', '0003_rebuild_customers.sql'));
      ok(cli(['migrate'], p.dir));
      rmSync(join(p.dir, 'migrations', '0003_other_branch.sql'));
      writeMigrations(join(p.dir, 'migrations'), SHOP_MIGRATIONS.slice(2, 4));
    };
    const differs =
      /migration 3 applied to this database was 0003_other_branch\.sql, but the migrations directory's 3 is 0003_rebuild_customers\.sql/;
    assertRefused(3, setup, differs);
    const p = project(3);
    try {
      setup(p);
      ok(cli(['dehydrate'], p.dir));
      assert.match(
        ok(cli(['status'], p.dir)),
        /at 3: refused \(below\)[\s\S]*must not be migrated: .*0003_other_branch\.sql/,
      );
      rmSync(p.db);
      assert.match(
        ok(cli(['status'], p.dir)),
        /missing .*archive at 3: refused \(below\)[\s\S]*shop\.db: its archive must not be migrated: .*0003_other_branch\.sql/,
      );
      const r = cli(['hydrate', '--migrate'], p.dir);
      assert.equal(r.code, 1);
      assert.match(r.stderr, differs);
      assert.equal(existsSync(p.db), false, 'hydrate --migrate wrote nothing');
      // Plain hydrate builds it as the archive has it, and says it does not fit this checkout.
      const plain = ok(cli(['hydrate'], p.dir));
      assert.match(plain, /shop\.db: must not be migrated: .*0003_other_branch\.sql/);
      assert.equal(userVersion(p.db), 3);
    } finally {
      p.cleanup();
    }
  });
});

describe('one migrations directory per database', () => {
  it('migrations/<name>/ holds a database’s own migrations; the others use the top-level files', () => {
    const p = project(0);
    try {
      const other = join(p.dir, 'data', 'notes.db');
      const db = new Database(other);
      db.exec(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('a'), ('b');",
      );
      db.close();
      writeMigrations(join(p.dir, 'migrations'), SHOP_MIGRATIONS.slice(0, 2));
      writeMigrations(join(p.dir, 'migrations', 'notes'), [
        ['0001_pinned.sql', 'ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;\n'],
      ]);
      const out = ok(cli(['migrate'], p.dir));
      assert.match(out, /migrated +notes\.db +0 -> 1: 0001_pinned\.sql/);
      assert.match(out, /migrated +shop\.db +0 -> 2: 0001_add_tier\.sql, 0002_rename_total\.sql/);
      assert.equal(userVersion(other), 1);
      assert.equal(userVersion(p.db), 2);
      const status = ok(cli(['status'], p.dir));
      assert.match(status, /notes\.db .*at 1, up to date/);
      assert.match(status, /shop\.db .*at 2, up to date/);
      const json = JSON.parse(ok(cli(['migrate', '--json', '--dry-run'], p.dir))) as {
        databases: Record<string, { migrationsDir: string; status: string }>;
      };
      assert.equal(json.databases['notes.db']?.migrationsDir, join(p.dir, 'migrations', 'notes'));
      assert.equal(json.databases['shop.db']?.migrationsDir, join(p.dir, 'migrations'));
    } finally {
      p.cleanup();
    }
  });
});

/**
 * Schema migrations on a populated database: the four kinds of change (a column with a default, a renamed
 * column, a rebuilt parent table with ON DELETE CASCADE children, a split table), checked row by row, and the
 * migrations directory's own checks.
 */
import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ConfigError, MigrationError } from '../src/errors.js';
import { DBHydrationManager } from '../src/manager.js';
import { openDatabase } from '../src/integration/open-database.js';
import { readMigrationsDir, parseMigration } from '../src/migrate/migrations-dir.js';
import { migrateDatabase, transactionStatement } from '../src/migrate/apply-migrations.js';
import { DEFAULT_MIGRATIONS_TABLE, readLedger } from '../src/migrate/ledger.js';
import { mergeArchives } from '../src/merge/merge-archives.js';
import { tempDir, withDatabase } from './helpers/fixtures.js';
import { dehydrate } from './helpers/merge.js';
import {
  SHOP_CUSTOMERS,
  SHOP_MIGRATIONS,
  SHOP_ORDERS_PER_CUSTOMER,
  makeShop,
  shopProject,
  writeMigrations,
} from './helpers/migrations.js';

const where = (file: string) => ({ file, database: 'shop', table: DEFAULT_MIGRATIONS_TABLE });

function migrateTo(dir: string, dbPath: string, count: number): string[] {
  const migrations = readMigrationsDir(dir).slice(0, count);
  return withDatabase(dbPath, (db) => migrateDatabase(db, migrations, where(dbPath)).map((m) => m.name));
}

describe('migrations on a populated database', () => {
  it('adds a column with a default, renames a column, rebuilds a parent and splits a table, keeping every row', () => {
    const { dir, cleanup } = tempDir('dh-mig-');
    try {
      const dbPath = join(dir, 'shop.db');
      makeShop(dbPath);
      const migrationsDir = writeMigrations(join(dir, 'migrations'), SHOP_MIGRATIONS);
      const before = withDatabase(dbPath, (db) => ({
        customers: db.prepare('SELECT id, name, address, city FROM customers ORDER BY id').all(),
        orders: db.prepare('SELECT id, customer_id, total, note FROM orders ORDER BY id').all(),
      }));
      assert.equal(before.customers.length, SHOP_CUSTOMERS);
      assert.equal(before.orders.length, SHOP_CUSTOMERS * SHOP_ORDERS_PER_CUSTOMER);

      assert.deepEqual(migrateTo(migrationsDir, dbPath, 1), ['0001_add_tier.sql']);
      withDatabase(dbPath, (db) => {
        const rows = db.prepare('SELECT id, name, address, city, tier FROM customers ORDER BY id').all();
        assert.deepEqual(
          rows,
          before.customers.map((c) => ({ ...(c as object), tier: 'basic' })),
        );
        assert.equal(db.pragma('user_version', { simple: true }), 1);
      });

      assert.deepEqual(migrateTo(migrationsDir, dbPath, 2), ['0002_rename_total.sql']);
      withDatabase(dbPath, (db) => {
        const rows = db.prepare('SELECT id, customer_id, amount, note FROM orders ORDER BY id').all();
        assert.deepEqual(
          rows,
          before.orders.map((o) => {
            const { total, ...rest } = o as { total: number };
            return { ...rest, amount: total };
          }),
        );
        // The view was rewritten by SQLite's RENAME COLUMN and still reads.
        assert.equal(db.prepare('SELECT count(*) AS n FROM order_totals').pluck().get(), SHOP_CUSTOMERS);
      });

      assert.deepEqual(migrateTo(migrationsDir, dbPath, 3), ['0003_rebuild_customers.sql']);
      withDatabase(dbPath, (db) => {
        // No child row was cascaded away by the DROP TABLE of the parent.
        assert.equal(db.prepare('SELECT count(*) FROM orders').pluck().get(), before.orders.length);
        assert.deepEqual(db.pragma('foreign_key_check'), []);
        assert.deepEqual(
          db.prepare('SELECT id, name, address, city FROM customers ORDER BY id').all(),
          before.customers,
        );
        // The AUTOINCREMENT counter stays above the deleted customers' ids.
        assert.equal(
          db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'customers'").pluck().get(),
          SHOP_CUSTOMERS + 2,
        );
        const objects = db
          .prepare("SELECT type || ' ' || name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY 1")
          .pluck()
          .all();
        assert.deepEqual(objects, [
          'index customers_by_name',
          'index orders_by_customer',
          'table _db_hydration_migrations',
          'table audit',
          'table customers',
          'table orders',
          'trigger customers_audit',
          'view order_totals',
        ]);
        assert.equal(db.prepare('SELECT count(*) FROM order_totals').pluck().get(), SHOP_CUSTOMERS);
        assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
        // The new NOT NULL holds, and the trigger still fires.
        assert.throws(() => db.prepare('INSERT INTO customers (name) VALUES (NULL)').run(), /NOT NULL/);
        db.prepare("UPDATE customers SET tier = 'gold' WHERE id = 1").run();
        assert.equal(db.prepare('SELECT what FROM audit').pluck().get(), 'updated 1');
        db.prepare("UPDATE customers SET tier = 'basic' WHERE id = 1").run();
        db.prepare('DELETE FROM audit').run();
        // A new customer continues after the counter, not after the largest id.
        const id = db.prepare("INSERT INTO customers (name) VALUES ('new') RETURNING id").pluck().get();
        assert.equal(id, SHOP_CUSTOMERS + 3);
        db.prepare('DELETE FROM customers WHERE id = ?').run(id);
      });

      assert.deepEqual(migrateTo(migrationsDir, dbPath, 4), ['0004_split_addresses.sql']);
      withDatabase(dbPath, (db) => {
        assert.deepEqual(
          db.prepare('SELECT customer_id AS id, street AS address, city FROM addresses ORDER BY 1').all(),
          before.customers.map((c) => {
            const { id, address, city } = c as Record<string, unknown>;
            return { id, address, city };
          }),
        );
        assert.deepEqual(db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all('customers'), [
          'id',
          'name',
          'tier',
        ]);
        assert.equal(db.prepare('SELECT count(*) FROM orders').pluck().get(), before.orders.length);
        assert.deepEqual(
          readLedger(db, DEFAULT_MIGRATIONS_TABLE).entries.map((e) => [e.id, e.name]),
          SHOP_MIGRATIONS.map(([name], i) => [i + 1, name]),
        );
        assert.equal(db.pragma('user_version', { simple: true }), 4);
        assert.equal(db.pragma('foreign_keys', { simple: true }), 1, 'the connection setting is restored');
      });
      // Nothing is pending any more: a second run applies nothing.
      assert.deepEqual(migrateTo(migrationsDir, dbPath, 4), []);
    } finally {
      cleanup();
    }
  });

  it('control: with foreign keys on, dropping the parent would have deleted every child row', () => {
    const { dir: dir2, cleanup: cleanup2 } = tempDir('dh-mig-');
    try {
      const dbPath = join(dir2, 'shop.db');
      makeShop(dbPath);
      const orders = withDatabase(dbPath, (db) => {
        db.pragma('foreign_keys = ON');
        db.exec('DROP TABLE customers');
        return db.prepare('SELECT count(*) FROM orders').pluck().get();
      });
      assert.equal(orders, 0, 'with foreign keys on, dropping the parent deletes every child row');
    } finally {
      cleanup2();
    }
  });
});

describe('the migrations directory', () => {
  const refusesDir = (files: readonly (readonly [string, string])[], message: RegExp): void => {
    const { dir, cleanup } = tempDir('dh-mig-');
    try {
      const migrationsDir = writeMigrations(join(dir, 'm'), files);
      assert.throws(
        () => readMigrationsDir(migrationsDir),
        (e) => e instanceof MigrationError && message.test(e.message) && e.hint !== undefined,
      );
    } finally {
      cleanup();
    }
  };

  it('reads files in number order, ignores other files, and checksums text with LF endings', () => {
    const { dir, cleanup } = tempDir('dh-mig-');
    try {
      const m = writeMigrations(join(dir, 'm'), [
        ['0002_b.sql', 'SELECT 2;\r\n'],
        ['1_a.sql', 'SELECT 1;\n'],
        ['README.md', 'not a migration'],
      ]);
      const read = readMigrationsDir(m);
      assert.deepEqual(
        read.map((x) => [x.id, x.name]),
        [
          [1, '1_a.sql'],
          [2, '0002_b.sql'],
        ],
      );
      const [first, second] = read.map((x) => ({ checksum: x.checksum, sql: x.sql }));
      assert.ok(first !== undefined && second !== undefined);
      assert.equal(second.checksum, parseMigration(2, 'x', 'SELECT 2;\n').checksum);
      assert.notEqual(first.checksum, second.checksum);
      assert.equal(readFileSync(join(m, '0002_b.sql'), 'utf8'), second.sql);
    } finally {
      cleanup();
    }
  });

  it('refuses a gap, a duplicate, a file without a number and an unknown directive', () => {
    refusesDir(
      [
        ['0001_a.sql', ''],
        ['0003_c.sql', ''],
      ],
      /gap.*0003_c\.sql.*migration 2 is missing/,
    );
    refusesDir(
      [
        ['0001_a.sql', ''],
        ['1_b.sql', ''],
      ],
      /two migrations have the number 1/,
    );
    refusesDir([['0002_b.sql', '']], /gap.*migration 1 is missing/);
    refusesDir([['add_notes.sql', '']], /must be named <number>_<description>\.sql/);
    refusesDir([['0001_a.sql', '-- db-hydration: foreign_keys=on\nSELECT 1;']], /unknown directive/);
  });

  it('finds transaction statements outside trigger bodies only', () => {
    assert.equal(transactionStatement('BEGIN; CREATE TABLE t(a);'), 'BEGIN');
    assert.equal(transactionStatement('CREATE TABLE t(a); commit;'), 'COMMIT');
    assert.equal(transactionStatement("SELECT 'BEGIN; COMMIT'; -- COMMIT\n"), undefined);
    assert.equal(
      transactionStatement(
        'CREATE TRIGGER x AFTER INSERT ON t BEGIN SELECT CASE WHEN 1 THEN 2 END; UPDATE t SET a = 1; END; SELECT 1;',
      ),
      undefined,
    );
    assert.equal(
      transactionStatement('CREATE TRIGGER x AFTER INSERT ON t BEGIN SELECT 1; END; SAVEPOINT s;'),
      'SAVEPOINT',
    );
  });
});

describe('two branches and their ledgers', () => {
  const branch = (dir: string, name: string, files: readonly (readonly [string, string])[]): string => {
    const dbPath = join(dir, `${name}.db`);
    makeShop(dbPath);
    const migrations = readMigrationsDir(writeMigrations(join(dir, name), files));
    withDatabase(dbPath, (db) => migrateDatabase(db, migrations, where(dbPath)));
    const archive = join(dir, `${name}.json`);
    dehydrate(dbPath, archive);
    return archive;
  };

  it('different migrations under one number conflict in the merge, at the ledger row; the same migration merges clean', () => {
    const { dir, cleanup } = tempDir('dh-mig-');
    try {
      const first = SHOP_MIGRATIONS.slice(0, 1);
      const base = branch(dir, 'base', first);
      const ours = branch(dir, 'ours', [
        ...first,
        ['0002_wishlist.sql', 'CREATE TABLE wishlist (id INTEGER PRIMARY KEY);\n'],
      ]);
      const theirs = branch(dir, 'theirs', [
        ...first,
        ['0002_gifts.sql', 'CREATE TABLE gifts (id INTEGER PRIMARY KEY);\n'],
      ]);
      const merged = mergeArchives({ base, ours, theirs, output: join(dir, 'merged.json') });
      assert.equal(merged.clean, false);
      const ledger = merged.conflicts.filter((c) => c.table === DEFAULT_MIGRATIONS_TABLE);
      assert.equal(ledger.length, 1, JSON.stringify(merged.conflicts));
      assert.equal(ledger[0]?.key, 'id=2');
      assert.match(
        readFileSync(join(dir, 'merged.json'), 'utf8'),
        /0002_wishlist\.sql[\s\S]*=======[\s\S]*0002_gifts\.sql/,
      );

      const same = [...first, SHOP_MIGRATIONS[1] ?? ['', '']] as const;
      const clean = mergeArchives({
        base,
        ours: branch(dir, 'ours2', same),
        theirs: branch(dir, 'theirs2', same),
        output: join(dir, 'merged2.json'),
      });
      assert.equal(clean.clean, true, JSON.stringify(clean.conflicts));
      assert.match(readFileSync(join(dir, 'merged2.json'), 'utf8'), /"user_version":2/);
    } finally {
      cleanup();
    }
  });
});

describe('what the database says about itself', () => {
  it('a custom ledger table name is used; user_version set by something else, with or without a ledger, is refused', async () => {
    const { dataDir: data, db: dbPath, migrationsDir, cleanup } = shopProject(SHOP_MIGRATIONS.slice(0, 2));
    try {
      const manager = new DBHydrationManager({ dataDir: data, migrationsDir, migrationsTable: 'schema_log' });
      const done = await manager.migrateAll();
      assert.deepEqual(done.errors, []);
      assert.deepEqual(done.databases['shop.db']?.applied, ['0001_add_tier.sql', '0002_rename_total.sql']);
      withDatabase(dbPath, (db) => {
        assert.equal(readLedger(db, 'schema_log').entries.length, 2);
        assert.equal(readLedger(db, DEFAULT_MIGRATIONS_TABLE).exists, false);
        db.pragma('user_version = 5');
      });
      const refuse = async (message: RegExp): Promise<void> => {
        const bytes = readFileSync(dbPath);
        const r = await manager.migrateAll();
        assert.equal(r.databases['shop.db']?.status, 'refused');
        assert.match(r.errors[0] ?? '', message);
        assert.deepEqual(readFileSync(dbPath), bytes);
      };
      await refuse(/user_version is 5 but the ledger "schema_log" records migrations up to 2/);
      withDatabase(dbPath, (db) => db.exec('DROP TABLE schema_log'));
      await refuse(/user_version is 5 but there is no ledger "schema_log"/);
      withDatabase(dbPath, (db) => db.exec('CREATE TABLE schema_log (x)'));
      await refuse(/the table "schema_log" is not a migrations ledger/);
    } finally {
      cleanup();
    }
  });

  it('without a migrations directory, migrateAll is a ConfigError that says how to give one', async () => {
    await assert.rejects(
      new DBHydrationManager({ dataDir: 'data' }).migrateAll(),
      (e) => e instanceof ConfigError && e.key === 'migrationsDir' && /--migrations/.test(e.hint ?? ''),
    );
  });
});

describe('a database another connection is writing', () => {
  it('waits the busy timeout, then reports it locked and applies nothing', async () => {
    const { dataDir: data, db: dbPath, migrationsDir, cleanup } = shopProject(SHOP_MIGRATIONS.slice(0, 1));
    try {
      const writer = new Database(dbPath);
      writer.exec('BEGIN IMMEDIATE');
      try {
        const bytes = readFileSync(dbPath);
        const r = await new DBHydrationManager({
          dataDir: data,
          migrationsDir,
          busyTimeoutMs: 100,
        }).migrateAll();
        assert.equal(r.errorDetails[0]?.code, 'DATABASE_LOCKED', JSON.stringify(r.errorDetails));
        assert.equal(r.databases['shop.db']?.status, 'refused');
        assert.match(
          r.errors[0] ?? '',
          /in use by another connection \(waited 100 ms\), so migration 0001_add_tier\.sql was not applied/,
        );
        assert.deepEqual(readFileSync(dbPath), bytes);
      } finally {
        writer.exec('ROLLBACK');
        writer.close();
      }
    } finally {
      cleanup();
    }
  });
});

describe('openDatabase with migrationsDir', () => {
  it('hydrates a missing database from an old archive and returns it migrated; refuses one newer than the directory', async () => {
    // The archive is made without migrations (the manager has no migrationsDir): at version 0.
    const { dataDir: data, db: dbPath, migrationsDir, cleanup } = shopProject(SHOP_MIGRATIONS);
    try {
      assert.deepEqual((await new DBHydrationManager({ dataDir: data }).dehydrateAll()).errors, []);
      rmSync(dbPath);
      const applied: string[][] = [];
      const onMigrate = (names: readonly string[]): void => {
        applied.push([...names]);
      };
      const db = await openDatabase(dbPath, { migrationsDir, onMigrate });
      try {
        assert.equal(db.pragma('user_version', { simple: true }), 4);
        assert.equal(db.prepare('SELECT count(*) FROM addresses').pluck().get(), SHOP_CUSTOMERS);
      } finally {
        db.close();
      }
      assert.deepEqual(applied, [SHOP_MIGRATIONS.map(([n]) => n)]);
      assert.equal(readdirSync(data).filter((f) => f.endsWith('.bak')).length, 1);
      (await openDatabase(dbPath, { migrationsDir, onMigrate })).close();
      assert.equal(applied.length, 1, 'nothing pending the second time');

      rmSync(join(migrationsDir, '0004_split_addresses.sql'));
      const bytes = readFileSync(dbPath);
      await assert.rejects(
        openDatabase(dbPath, { migrationsDir }),
        (e) => e instanceof MigrationError && /newer than the migrations directory/.test(e.message),
      );
      assert.deepEqual(readFileSync(dbPath), bytes);
    } finally {
      cleanup();
    }
  });
});

describe('a table rebuild without its directive', () => {
  it('is rolled back with a hint naming the directive, and leaves the database as it was', () => {
    const { dir, cleanup } = tempDir('dh-mig-');
    try {
      const dbPath = join(dir, 'shop.db');
      makeShop(dbPath);
      const [name, sql] = SHOP_MIGRATIONS[2] ?? ['', ''];
      const without = sql.replace('-- db-hydration: legacy_alter_table=on\n', '');
      const migrations = [
        parseMigration(1, 'x.sql', "ALTER TABLE customers ADD COLUMN tier TEXT NOT NULL DEFAULT 'basic';"),
        parseMigration(2, name, without),
      ];
      withDatabase(dbPath, (db) => migrateDatabase(db, migrations.slice(0, 1), where(dbPath)));
      const bytes = readFileSync(dbPath);
      assert.throws(
        () => withDatabase(dbPath, (db) => migrateDatabase(db, migrations, where(dbPath))),
        (e) =>
          e instanceof MigrationError &&
          /error in view order_totals: no such table: main\.customers; it was rolled back/.test(e.message) &&
          /legacy_alter_table=on/.test(e.hint ?? ''),
      );
      assert.deepEqual(readFileSync(dbPath), bytes);
    } finally {
      cleanup();
    }
  });
});

describe('a file that is not a database', () => {
  it('is reported with a hint and left as it was; the other databases are migrated', async () => {
    const { dataDir: data, migrationsDir, cleanup } = shopProject(SHOP_MIGRATIONS.slice(0, 1));
    try {
      writeFileSync(
        join(data, 'junk.db'),
        'not a database at all, but long enough to be looked at '.repeat(20),
      );
      const junk = readFileSync(join(data, 'junk.db'));
      const r = await new DBHydrationManager({ dataDir: data, migrationsDir }).migrateAll();
      assert.equal(r.databases['shop.db']?.status, 'migrated');
      assert.equal(r.databases['junk.db']?.status, 'refused');
      assert.equal(r.errorDetails.length, 1);
      const [detail] = r.errorDetails;
      assert.ok(detail !== undefined);
      assert.equal(detail.code, 'DATABASE_READ');
      assert.match(detail.message, /junk\.db/);
      assert.match(detail.hint ?? '', /db-hydration fix/);
      assert.deepEqual(readFileSync(join(data, 'junk.db')), junk);
    } finally {
      cleanup();
    }
  });
});

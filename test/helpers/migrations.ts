/** Migration fixtures: a populated shop database (a parent with AUTOINCREMENT and ON DELETE CASCADE children) and
 * migration files that add, rename, rebuild and split. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { tempDir } from './fixtures.js';

/** Rows of the shop fixture. */
export const SHOP_CUSTOMERS = 40;
export const SHOP_ORDERS_PER_CUSTOMER = 3;

/**
 * The shop: customers (AUTOINCREMENT, its counter above the largest id because the last customers were deleted),
 * orders (ON DELETE CASCADE to customers), an index, a trigger on customers and a view over both.
 */
export function makeShop(path: string): void {
  const db = new Database(path);
  try {
    db.exec(`
      CREATE TABLE customers (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, address TEXT, city TEXT);
      CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE, total REAL NOT NULL, note BLOB);
      CREATE INDEX orders_by_customer ON orders(customer_id);
      CREATE INDEX customers_by_name ON customers(name);
      CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT);
      CREATE TRIGGER customers_audit AFTER UPDATE ON customers BEGIN INSERT INTO audit(what) VALUES ('updated ' || new.id); END;
      CREATE VIEW order_totals AS SELECT c.name, sum(o.total) AS total FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id;
    `);
    const addCustomer = db.prepare('INSERT INTO customers (name, address, city) VALUES (?, ?, ?)');
    const addOrder = db.prepare('INSERT INTO orders (customer_id, total, note) VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= SHOP_CUSTOMERS + 2; i++) {
        addCustomer.run(`customer ${i}`, `${i} Main Street`, i % 2 === 0 ? 'Oslo' : 'Lyon');
        for (let j = 0; j < SHOP_ORDERS_PER_CUSTOMER; j++)
          addOrder.run(i, i * 10 + j + 0.25, j === 0 ? Buffer.from([i, j, 0xff]) : null);
      }
      // The last two go: the AUTOINCREMENT counter stays at SHOP_CUSTOMERS + 2, and their orders cascade away.
      db.pragma('foreign_keys = ON');
      db.prepare('DELETE FROM customers WHERE id > ?').run(SHOP_CUSTOMERS);
    })();
  } finally {
    db.close();
  }
}

/** The four migrations of the issue, against the shop. */
export const SHOP_MIGRATIONS: readonly (readonly [string, string])[] = [
  ['0001_add_tier.sql', "ALTER TABLE customers ADD COLUMN tier TEXT NOT NULL DEFAULT 'basic';\n"],
  ['0002_rename_total.sql', 'ALTER TABLE orders RENAME COLUMN total TO amount;\n'],
  [
    '0003_rebuild_customers.sql',
    `-- db-hydration: legacy_alter_table=on
-- Rebuild customers with name NOT NULL (ALTER TABLE cannot add it): SQLite's twelve-step procedure.
CREATE TABLE customers_new (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL CHECK (name <> ''), address TEXT, city TEXT, tier TEXT NOT NULL DEFAULT 'basic');
INSERT INTO customers_new (id, name, address, city, tier) SELECT id, coalesce(name, '?'), address, city, tier FROM customers;
DROP TABLE customers;
ALTER TABLE customers_new RENAME TO customers;
CREATE INDEX customers_by_name ON customers(name);
CREATE TRIGGER customers_audit AFTER UPDATE ON customers BEGIN INSERT INTO audit(what) VALUES ('updated ' || new.id); END;
`,
  ],
  [
    '0004_split_addresses.sql',
    `CREATE TABLE addresses (customer_id INTEGER PRIMARY KEY REFERENCES customers(id) ON DELETE CASCADE, street TEXT, city TEXT);
INSERT INTO addresses (customer_id, street, city) SELECT id, address, city FROM customers;
ALTER TABLE customers DROP COLUMN address;
ALTER TABLE customers DROP COLUMN city;
`,
  ],
];

/** Writes migration files into `dir` (created) and returns it. */
export function writeMigrations(dir: string, files: readonly (readonly [string, string])[]): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, sql] of files) writeFileSync(join(dir, name), sql);
  return dir;
}

/** A project directory made by {@link shopProject}. */
export interface ShopProject {
  readonly dir: string;
  /** `<dir>/data`, holding shop.db. */
  readonly dataDir: string;
  /** `<dir>/data/shop.db`, the populated shop ({@link makeShop}). */
  readonly db: string;
  /** `<dir>/migrations`, holding the migrations given. */
  readonly migrationsDir: string;
  /** Where shop.db's plain archive goes: `<dir>/data/json_archives/shop.json` (not written here). */
  readonly archive: string;
  readonly cleanup: () => void;
}

/**
 * A fresh temp project: data/shop.db (the populated shop) and migrations/ holding `migrations`; with `config`, also a
 * db-hydration.config.json naming both (`{ "dataDir": "data", "migrationsDir": "migrations" }`) for the CLI.
 */
export function shopProject(
  migrations: readonly (readonly [string, string])[],
  options: { readonly config?: boolean } = {},
): ShopProject {
  const { dir, cleanup } = tempDir('dh-mig-');
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const db = join(dataDir, 'shop.db');
  makeShop(db);
  const migrationsDir = writeMigrations(join(dir, 'migrations'), migrations);
  if (options.config === true)
    writeFileSync(
      join(dir, 'db-hydration.config.json'),
      JSON.stringify({ dataDir: 'data', migrationsDir: 'migrations' }),
    );
  return { dir, dataDir, db, migrationsDir, archive: join(dataDir, 'json_archives', 'shop.json'), cleanup };
}

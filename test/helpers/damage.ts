/** Builders of damaged database files for the safety tests: each kind of damage a data directory meets. */
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** A database with a few tables, an index, a view, a trigger and `rows` rows in `items`. */
export function makeShop(path: string, rows = 2000, journalMode: 'delete' | 'wal' = 'delete'): void {
  const db = new Database(path);
  try {
    db.pragma(`journal_mode = ${journalMode}`);
    db.exec(`
      CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL, note BLOB);
      CREATE TABLE tags (item INTEGER, tag TEXT);
      CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
      CREATE INDEX items_name ON items(name);
      CREATE VIEW cheap AS SELECT * FROM items WHERE price < 10;
      CREATE TRIGGER items_tag AFTER INSERT ON items BEGIN INSERT INTO tags VALUES (new.id, 'new'); END;
    `);
    const insert = db.prepare('INSERT INTO items (id, name, price, note) VALUES (?, ?, ?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= rows; i++) {
        insert.run(
          BigInt(i),
          `item ${i} ${'x'.repeat(i % 40)}`,
          i / 4,
          Buffer.from([i & 255, (i >> 8) & 255]),
        );
      }
      db.exec("INSERT INTO kv VALUES ('a', 1), ('b', x'00ff'), ('c', NULL)");
    })();
  } finally {
    db.close();
  }
}

/** Page size of a database file, read from its header. */
export function pageSizeOf(path: string): number {
  const head = readFileSync(path).subarray(0, 100);
  const v = head.readUInt16BE(16);
  return v === 1 ? 65536 : v;
}

/**
 * Overwrites whole pages (1-based page numbers) with `fill` bytes. Page 1 holds the header and sqlite_schema; the
 * b-tree pages of the tables follow.
 */
export function overwritePages(path: string, pages: readonly number[], fill = 0xff): void {
  const buf = readFileSync(path);
  const size = pageSizeOf(path);
  for (const p of pages) buf.fill(fill, (p - 1) * size, p * size);
  writeFileSync(path, buf);
}

/** How many pages a database file has. */
export function pageCountOf(path: string): number {
  return Math.floor(readFileSync(path).length / pageSizeOf(path));
}

/** The root page of a table or index. */
export function rootPageOf(path: string, name: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT rootpage FROM sqlite_schema WHERE name = ?').pluck().get(name) as number;
  } finally {
    db.close();
  }
}

/** A Git LFS pointer file, as `git lfs` leaves it when the object was not downloaded. */
export const LFS_POINTER =
  'version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n';

/** A file a git merge wrote conflict markers into. */
export const MERGE_CONFLICT =
  '<<<<<<< HEAD\nSQLite format 3 ours\n=======\nSQLite format 3 theirs\n>>>>>>> feature\n';

/** The leaf pages of a table or index b-tree, in key order (from the dbstat virtual table). */
export function leafPagesOf(path: string, name: string): number[] {
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY path")
      .pluck()
      .all(name) as number[];
  } finally {
    db.close();
  }
}

/**
 * A fresh temp directory on a memory file system when there is one (/dev/shm), for the heavy safety tests: they fsync
 * thousands of files, which on a loaded disk costs far more than the work under test. Removed by the cleanup.
 */
export function scratchDir(prefix: string): { dir: string; cleanup: () => void } {
  let base = tmpdir();
  try {
    accessSync('/dev/shm', constants.W_OK);
    base = '/dev/shm';
  } catch {
    // No /dev/shm (macOS, Windows): use the system temp directory.
  }
  const dir = mkdtempSync(join(base, prefix));
  return {
    dir,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

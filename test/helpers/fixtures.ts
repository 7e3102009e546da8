/** Temp directories, small database builders and readers, age keys and file hashes for tests. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** A fresh temp directory, removed by the returned cleanup. */
export function tempDir(prefix = 'dh-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Creates a database file by running `setup` on it, then closes it. */
export function makeDatabase(path: string, setup: (db: Database.Database) => void): void {
  const db = new Database(path);
  try {
    db.defaultSafeIntegers(true);
    setup(db);
  } finally {
    db.close();
  }
}

/** Runs `fn` on a read-write connection to an existing database (numbers as JavaScript numbers), then closes it. */
export function withDatabase<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Every row of `table` (a table with an `id` column), in id order, as arrays of values. */
export function rawRows(path: string, table: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(`SELECT * FROM "${table}" ORDER BY id`).raw(true).all();
  } finally {
    db.close();
  }
}

/** Makes an age identity file at `path` with the real `age-keygen`, and returns its recipient (`age1...`). */
export function ageKeygen(path: string): string {
  execFileSync('age-keygen', ['-o', path], { stdio: 'ignore' });
  return execFileSync('age-keygen', ['-y', path], { encoding: 'utf8' }).trim();
}

/** The SHA-256 (hex) of a file's bytes. */
export function fileSha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Every file under `dir` (recursively, by full path) but `except`, with its SHA-256. */
export function fileHashes(dir: string, except?: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile() && path !== except) out[path] = fileSha256(path);
  }
  return out;
}

/** A plain archive's lines without `exported_at` (the one line that differs between two exports of one database). */
export function contentLines(text: string): string {
  return text
    .split('\n')
    .filter((l) => !l.startsWith('"exported_at":'))
    .join('\n');
}

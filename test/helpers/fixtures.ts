/** Temp directories and small database builders for tests. */
import { mkdtempSync, rmSync } from 'node:fs';
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

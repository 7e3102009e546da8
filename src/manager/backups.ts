/**
 * Backups of a database before a forced hydration replaces it: `<file>.<timestamp>.bak` beside it, and the pruning of
 * the older ones.
 */
import { copyFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { DatabaseLockedError } from '../errors.js';
import { commitTempFile, fsyncFile, tempPathFor } from '../files/atomic-file.js';
import { compareNames } from '../sqlite/names.js';
import { isBusyCode, sqliteCodeOf } from '../sqlite/error-codes.js';

/** How backups are made and kept. */
export interface BackupOptions {
  readonly busyTimeoutMs: number;
  /** How many backups to keep per database; 0 keeps every backup. */
  readonly backupsKept: number;
}

/** The default of `backupsKept`. */
export const DEFAULT_BACKUPS_KEPT = 5;

/**
 * Backs up a database: `<file>.<timestamp>.bak` beside it (a name no scan picks up), made through SQLite's backup API
 * so content still in a -wal file is included. A file SQLite cannot read is copied byte for byte instead. Older
 * backups beyond `backupsKept` are removed.
 */
export async function backupDatabase(dbPath: string, options: BackupOptions): Promise<string> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  let backupPath = `${dbPath}.${stamp}.bak`;
  for (let i = 1; existsSync(backupPath); i++) backupPath = `${dbPath}.${stamp}-${i}.bak`;
  // Written to a temp file and renamed, so a crash never leaves a partial backup that looks complete.
  const temp = tempPathFor(backupPath);
  try {
    try {
      const source = new Database(dbPath, {
        readonly: true,
        fileMustExist: true,
        timeout: options.busyTimeoutMs,
      });
      try {
        // better-sqlite3 builds SQLite with a 16 MB default page cache; the backup reads each page once, so a small
        // cache costs nothing and keeps the copy out of peak memory.
        source.pragma('cache_size = -1024');
        await source.backup(temp);
      } finally {
        source.close();
      }
    } catch (error) {
      rmSync(temp, { force: true });
      if (isBusyCode(sqliteCodeOf(error))) {
        // A byte copy of a file another connection is writing could be torn: refuse instead.
        throw DatabaseLockedError.busy(options.busyTimeoutMs, ', so it was not backed up or replaced', {
          file: dbPath,
          cause: error,
        });
      }
      // Not a database SQLite can read (damaged, or not SQLite at all): keep its bytes as they are.
      copyFileSync(dbPath, temp);
    }
    fsyncFile(temp);
    commitTempFile(temp, backupPath);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  pruneBackups(dbPath, options.backupsKept);
  return backupPath;
}

/** Removes the oldest backups of a database beyond the newest `keep` . */
export function pruneBackups(dbPath: string, keep: number): void {
  if (keep === 0) return;
  const dir = resolve(dbPath, '..');
  const prefix = `${basename(dbPath)}.`;
  // `<file>.<stamp>.bak`, or `<file>.<stamp>-<n>.bak` for the n-th more in the same millisecond: oldest first.
  const backups = readdirSync(dir)
    .filter((n) => n.startsWith(prefix))
    .map((name) => ({
      name,
      m: /^(\d{4}-\d\d-\d\dT[\d-]+Z)(?:-(\d+))?\.bak$/.exec(name.slice(prefix.length)),
    }))
    .filter((b) => b.m !== null)
    .map((b) => ({ name: b.name, stamp: b.m?.[1] ?? '', n: Number(b.m?.[2] ?? 0) }))
    .sort((a, b) => compareNames(a.stamp, b.stamp) || a.n - b.n);
  for (const old of backups.slice(0, Math.max(0, backups.length - keep)))
    rmSync(join(dir, old.name), { force: true });
}

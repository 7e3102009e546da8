/**
 * Quarantine: a damaged database is kept under a name no scan picks up, with its -wal, -shm and -journal beside it,
 * before anything replaces it.
 */
import { copyFileSync, existsSync, linkSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { PathError } from '../errors.js';
import { fsyncDirectory, fsyncFile } from '../files/atomic-file.js';

/** The files SQLite keeps beside a database. */
const SIDECARS = ['-wal', '-shm', '-journal'] as const;

/**
 * The quarantine name of a damaged database: `<file>.corrupt-<timestamp>`, which ends in neither `.db`, `.sqlite` nor
 * `.sqlite3`, so no scan picks it up as a database.
 */
export function quarantinePathFor(dbPath: string, timestamp: string): string {
  const stamp = timestamp.replace(/[:.]/g, '-');
  let path = `${dbPath}.corrupt-${stamp}`;
  for (let i = 1; existsSync(path); i++) path = `${dbPath}.corrupt-${stamp}-${i}`;
  return path;
}

/**
 * Keeps a damaged database under its quarantine name, with its -wal, -shm and -journal as `<quarantine>-wal` and so
 * on (so SQLite still pairs them). The main file is hard-linked, so the original stays in place until the new file is
 * renamed over it: a crash in between leaves the old file where it was. Returns the paths written.
 */
export function quarantine(dbPath: string, timestamp: string): string[] {
  const main = existsSync(dbPath);
  // Without the database, a -wal, -shm or -journal left behind is kept aside on its own.
  if (!main && !SIDECARS.some((suffix) => existsSync(dbPath + suffix))) return [];
  const q = quarantinePathFor(dbPath, timestamp);
  const kept: string[] = [];
  if (!main) {
    // Nothing to keep but the files below.
  } else if (!statSync(dbPath).isFile()) {
    // Never moved: a directory or special file at a database's path is not a damaged database (see fixDatabases).
    throw new PathError('it is not a database file; it was left where it is', { file: dbPath });
  } else {
    try {
      linkSync(dbPath, q);
    } catch {
      copyFileSync(dbPath, q);
      fsyncFile(q);
    }
    kept.push(q);
  }
  for (const suffix of SIDECARS) {
    if (!existsSync(dbPath + suffix)) continue;
    renameSync(dbPath + suffix, q + suffix);
    kept.push(q + suffix);
  }
  fsyncDirectory(dirname(dbPath));
  return kept;
}

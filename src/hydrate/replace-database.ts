/**
 * Putting a newly built database in place of the old one: refused while another connection uses the old one.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { DatabaseLockedError } from '../errors.js';
import { commitTempFile } from '../files/atomic-file.js';
import { isBusyCode, sqliteCodeOf } from '../sqlite/error-codes.js';

/**
 * Refuses to replace a database another connection is using. The new file is renamed over the old one; on POSIX a
 * connection that still has the old file open keeps reading the old content (a consistent, stale snapshot; its writes
 * fail with SQLITE_READONLY_DBMOVED), but a WAL-mode connection that closes later deletes `<file>-wal` by name, which
 * would then be the new file's log (https://sqlite.org/howtocorrupt.html, section 2). So: in WAL mode, any other open
 * connection makes the file "in use" (each holds a shared lock on it for its whole life); in rollback mode, only a
 * connection inside a transaction does, and we wait for it up to the busy timeout. On Windows, renaming over an open
 * file fails instead, which is reported the same way.
 * @throws {HydrationError} DATABASE_LOCKED when the file is in use
 */
export function assertReplaceable(dbPath: string, busyTimeoutMs: number): void {
  if (!existsSync(dbPath)) return;
  // Everything goes through SQLite: a descriptor of the file opened and closed here would drop the POSIX locks that
  // other connections of this process hold on it (https://sqlite.org/howtocorrupt.html, section 2.2).
  let db: Database.Database | undefined;
  try {
    // Read-only first: a read-write connection would "roll back" a garbage -journal lying next to a damaged file.
    db = new Database(dbPath, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
    const wal = String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal';
    db.close();
    db = new Database(dbPath, { fileMustExist: true, timeout: busyTimeoutMs });
    if (wal) db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
    db.exec('ROLLBACK');
  } catch (error) {
    const code = sqliteCodeOf(error);
    if (isBusyCode(code)) {
      throw new DatabaseLockedError(
        `the database is in use by another connection (waited ${busyTimeoutMs} ms), so it was not replaced`,
        { file: dbPath, hint: 'close the programs using it and run again' },
      );
    }
    // Not a database, or a damaged one: no connection can be using it successfully. Anything that is not an SQLite
    // error (a bad option) is a bug to report, never a reason to replace the file.
    if (code === undefined) throw error;
  } finally {
    if (db?.open === true) db.close();
  }
}

/** Renames the new file over the old one; on Windows an open target makes that fail, reported as "in use". */
export function replaceFile(temp: string, dbPath: string): void {
  try {
    commitTempFile(temp, dbPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EPERM' || code === 'EBUSY' || code === 'EACCES') {
      throw new DatabaseLockedError(
        `the database is in use (${code}: the file cannot be replaced while it is open), so it was not replaced`,
        { file: dbPath, cause: error, hint: 'close the programs using it and run again' },
      );
    }
    throw error;
  }
}

/**
 * The first step of dehydrating a database: find a regular, non-empty file at its path and open it read-only.
 */
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { DatabaseReadError, PathError } from '../errors.js';

/** The database and file an error is about. */
export interface ExportContext {
  readonly file: string;
  readonly database: string;
}

/**
 * The size and inode of the database file.
 * @throws {PathError} when there is no such file, or something else than a file is there
 * @throws {DatabaseReadError} when the file cannot be read or is empty
 */
export function statDatabaseFile(dbPath: string, context: ExportContext): { size: number; inode: number } {
  let size: number;
  let inode: number;
  try {
    const stat = statSync(dbPath);
    size = stat.size;
    inode = stat.ino;
    if (!stat.isFile()) {
      throw new PathError(
        `${stat.isDirectory() ? 'it is a directory' : 'it is not a regular file'}, not a database file; it was not dehydrated and its archive was kept as it was`,
        {
          ...context,
          hint: 'db-hydration leaves it where it is: move or rename it yourself, then run `db-hydration hydrate` to create the database from its archive',
        },
      );
    }
  } catch (cause) {
    if (cause instanceof PathError) throw cause;
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new PathError('there is no such database file, so it was not dehydrated', {
        ...context,
        cause,
        hint: 'check the name (--db or "databases" in the config); if it has an archive, `db-hydration hydrate` creates it',
      });
    }
    throw new DatabaseReadError(`cannot read the database file: ${describe(cause)}`, {
      ...context,
      cause,
      hint: 'check the file permissions and the disk',
    });
  }
  if (size === 0) {
    throw new DatabaseReadError('the database file is empty (0 bytes); its archive was kept as it was', {
      ...context,
      hint: 'run `db-hydration fix` to restore it from the archive',
    });
  }
  return { size, inode };
}

/**
 * Opens the database read-only.
 * @throws {DatabaseReadError} when SQLite cannot open it
 */
export function openForExport(
  dbPath: string,
  busyTimeoutMs: number,
  context: ExportContext,
): Database.Database {
  let db: Database.Database;
  try {
    db = new Database(dbPath, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
  } catch (cause) {
    throw new DatabaseReadError(`cannot open the database: ${describe(cause)}`, { ...context, cause });
  }
  return db;
}

/** An error in words, with SQLite's code when it has one. */
export function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' && code.startsWith('SQLITE')
      ? `${error.message} (${code})`
      : error.message;
  }
  return String(error);
}

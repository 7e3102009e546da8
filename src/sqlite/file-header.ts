/**
 * What an SQLite file's header and size show about it, without a page check: shared by dehydrate (a cut file must
 * never replace its archive) and the corruption detector. Also the recovery of a hot journal, which both need.
 */
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';

/** The 16 bytes every SQLite 3 database starts with (https://sqlite.org/fileformat.html#the_database_header). */
export const SQLITE_MAGIC = Buffer.from('SQLite format 3\u0000', 'latin1');
/** The size of the database header, in bytes. */
export const HEADER_BYTES = 100;

/**
 * What is wrong with an SQLite file judged by its header and size alone, or undefined. A database file is always a
 * whole number of pages, and when the header's page count is valid (its "version-valid-for" number equals the change
 * counter, https://sqlite.org/fileformat.html#in_header_database_size) the file holds at least that many pages.
 * SQLite itself reads a short page as zeros, so a file cut inside a page can pass quick_check with values changed:
 * this check catches that.
 * @param head at least the first 100 bytes of the file
 */
export function sqliteHeaderProblem(head: Buffer, size: number): string | undefined {
  if (head.length < HEADER_BYTES) return `the file is too short for an SQLite header (${size} bytes)`;
  const pageSize = head.readUInt16BE(16) === 1 ? 65536 : head.readUInt16BE(16);
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0)
    return `the header's page size (${pageSize}) is invalid`;
  if (size < pageSize) return `the file is truncated: ${size} bytes, less than one page of ${pageSize}`;
  if (size % pageSize !== 0) {
    return `the file is truncated or padded: ${size} bytes is not a whole number of ${pageSize}-byte pages`;
  }
  const headerPages = head.readUInt32BE(28);
  // In WAL mode (file format bytes 18/19 = 2) the main file may legitimately hold fewer pages than the database has:
  // newer pages can live only in the -wal file, and a checkpoint rewrites page 1 before it extends the file.
  const wal = head[18] === 2 || head[19] === 2;
  if (
    !wal &&
    headerPages > 0 &&
    head.readUInt32BE(24) === head.readUInt32BE(92) &&
    size / pageSize < headerPages
  ) {
    return `the file is truncated: the header says ${headerPages} pages, the file has ${size / pageSize}`;
  }
  return undefined;
}

/**
 * What the page size, page count and file size show about an open database, or undefined: a database file is a whole
 * number of pages, and outside WAL mode it holds every page of the database (in WAL mode newer pages may live only in
 * the -wal file). SQLite reads a page missing from a cut file as zeros, which quick_check can miss. Call it inside a
 * read transaction, so no writer is half-way through a commit; it reads the file only through SQLite.
 */
export function sizeProblem(db: Database.Database, path: string): string | undefined {
  const pageSize = Number(db.pragma('page_size', { simple: true }));
  const pageCount = Number(db.pragma('page_count', { simple: true }));
  const wal = String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal';
  const size = statSync(path).size;
  if (pageSize <= 0) return undefined;
  if (size % pageSize !== 0) {
    return `the file is truncated or padded: ${size} bytes is not a whole number of ${pageSize}-byte pages`;
  }
  if (!wal && size < pageCount * pageSize) {
    return `the file is truncated: the database has ${pageCount} pages, the file ${size / pageSize}`;
  }
  return undefined;
}

/** Opens a database read-write and reads from it, which makes SQLite roll back a hot journal. */
export function recoverHotJournal(dbPath: string, busyTimeoutMs: number): void {
  const db = new Database(dbPath, { fileMustExist: true, timeout: busyTimeoutMs });
  try {
    db.prepare('SELECT count(*) FROM main.sqlite_schema').get();
  } finally {
    db.close();
  }
}

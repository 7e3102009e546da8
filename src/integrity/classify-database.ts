/**
 * The corruption detector: says whether a file is a usable SQLite database and, when it is not, why.
 *
 * A query that works proves nothing: pages can be corrupt while `count(*)` still answers. So a file whose header is
 * fine is checked page by page with `PRAGMA quick_check` (https://sqlite.org/pragma.html#pragma_quick_check), which
 * reads every page of every b-tree once: O(N) in the file size, about the cost of one full scan. `integrity_check`
 * additionally verifies that every index entry matches its table row and that UNIQUE indexes hold, which costs a
 * b-tree lookup per index entry, O(N log N), several times slower on indexed tables. The detector uses quick_check by
 * default (`check: 'full'` selects integrity_check); repairs finish with integrity_check on the one database they
 * wrote.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { checkProblems } from '../sqlite/check.js';
import { assertBusyTimeout } from '../sqlite/busy-timeout.js';
import { isBusyCode, isDamageCode } from '../sqlite/error-codes.js';

/** What a file is, as far as db-hydration is concerned. */
export type DatabaseStatus =
  /** A usable SQLite database whose pages pass the check. */
  | 'valid'
  /** No file at that path. */
  | 'missing'
  /** Zero bytes. SQLite opens it as an empty database; it is `damaged` instead when its archive has tables. */
  | 'empty'
  /** Not an SQLite database at all: a directory, random bytes, a Git LFS pointer, merge-conflict text, ... */
  | 'not-sqlite'
  /** The header says SQLite, but pages are corrupt (quick_check or integrity_check fails). */
  | 'damaged'
  /** Another connection holds a lock that did not clear within the busy timeout. */
  | 'locked'
  /**
   * The file exists but cannot be read or checked: permissions, an I/O error, or a schema that needs a collation or
   * function only its application defines. Not evidence of damage: `fix` leaves it alone.
   */
  | 'unreadable';

/** Finer detail for `not-sqlite` files. */
export type NotSqliteKind =
  'directory' | 'special-file' | 'git-lfs-pointer' | 'merge-conflict' | 'text' | 'binary';

/** The result of {@link checkDatabase}. */
export interface DatabaseCheck {
  readonly path: string;
  readonly status: DatabaseStatus;
  /** One sentence saying why, for people. */
  readonly reason: string;
  /** Whether the file can be used as it is (`valid`, or `empty` when nothing expects tables in it). */
  readonly usable: boolean;
  /** File size in bytes, when it is a file. */
  readonly bytes?: number;
  /** For `not-sqlite`: what the file looks like instead. */
  readonly kind?: NotSqliteKind;
  /** For `damaged`: the first messages of quick_check / integrity_check, or the SQLite error. */
  readonly problems?: readonly string[];
  /** SQLite's error code when one was raised (`SQLITE_CORRUPT`, `SQLITE_NOTADB`, `SQLITE_BUSY`, ...). */
  readonly sqliteCode?: string;
  /** What to do about it. */
  readonly hint?: string;
}

/** Options of {@link checkDatabase}. */
export interface CheckDatabaseOptions {
  /**
   * `quick` (default): `PRAGMA quick_check`; `full`: `PRAGMA integrity_check` (also checks index contents); `open`: no
   * page check, only that SQLite opens the file, reads its schema and finds its size consistent (cheap, O(1)).
   */
  readonly check?: 'quick' | 'full' | 'open';
  /** How long to wait for a lock held by another connection, in milliseconds. Default 5000. */
  readonly busyTimeoutMs?: number;
  /**
   * Whether the database is expected to hold tables (its archive has some). A zero-byte file is then `damaged`
   * instead of `empty`.
   */
  readonly expectTables?: boolean;
  /** How many problem messages to keep. Default 10. */
  readonly maxProblems?: number;
}

/** The hint for a directory or special file at a database's path: db-hydration never moves or replaces it. */
const NOT_A_FILE_HINT = (what: string): string =>
  `db-hydration leaves it where it is: move or rename the ${what} yourself, then run \`db-hydration hydrate\` to create the database from its archive`;

/**
 * Whether a check found something other than a file at the database's path (a directory, a socket, ...): not a damaged
 * database, so nothing replaces it.
 */
export function isNotAFile(check: DatabaseCheck): boolean {
  return check.kind === 'directory' || check.kind === 'special-file';
}

/** The 16 bytes every SQLite 3 database starts with (https://sqlite.org/fileformat.html#the_database_header). */
const SQLITE_MAGIC = Buffer.from('SQLite format 3\u0000', 'latin1');
const HEADER_BYTES = 100;
const SNIFF_BYTES = 4096;
const LFS_POINTER = 'version https://git-lfs.github.com/spec/';

/**
 * Classifies a database file. Never throws for anything about the file; never writes to it (it is opened read-only).
 *
 * @example
 * ```ts
 * const check = checkDatabase('data/shop.db');
 * if (!check.usable) console.error(`${check.path}: ${check.status}: ${check.reason}`);
 * ```
 */
export function checkDatabase(path: string, options: CheckDatabaseOptions = {}): DatabaseCheck {
  assertBusyTimeout(options.busyTimeoutMs);
  let size: number;
  try {
    const st = statSync(path);
    // Not a damaged database: something else stands at its path, and nothing db-hydration does may move it.
    if (st.isDirectory()) {
      return notSqlite(
        path,
        'directory',
        'it is a directory, not a database file',
        undefined,
        NOT_A_FILE_HINT('directory'),
      );
    }
    if (!st.isFile()) {
      return notSqlite(
        path,
        'special-file',
        'it is not a regular file (a socket, pipe or device), not a database file',
        undefined,
        NOT_A_FILE_HINT('file'),
      );
    }
    size = st.size;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      return {
        path,
        status: 'missing',
        reason: 'the database file does not exist',
        usable: false,
        hint: 'run `db-hydration hydrate` (or `fix`) to create it from its archive',
      };
    }
    return unreadable(path, error);
  }

  if (size === 0) {
    if (options.expectTables === true) {
      return {
        path,
        status: 'damaged',
        reason: 'the file is empty (0 bytes) but its archive has tables: its content was lost',
        usable: false,
        bytes: 0,
        hint: 'run `db-hydration fix` to restore it from its archive',
      };
    }
    return {
      path,
      status: 'empty',
      reason: 'the file is empty (0 bytes); SQLite treats it as a database without tables',
      usable: true,
      bytes: 0,
    };
  }

  // Ask SQLite first. Reading the file ourselves would be wrong while this process has it open in SQLite: closing
  // any descriptor of a file drops every POSIX lock the process holds on it (https://sqlite.org/howtocorrupt.html,
  // section 2.2), so the raw bytes are read only when SQLite cannot read the file at all.
  const probe = probeWithSqlite(path, options.busyTimeoutMs ?? 5000);
  if (probe.problem !== undefined) return damaged(path, size, probe.problem, []);
  // A hot journal (SQLITE_READONLY_ROLLBACK) is rolled back below only once the bytes show an SQLite file: SQLite
  // would otherwise "roll back" a garbage -journal next to a file that is not a database at all.
  if (probe.errorCode !== undefined && !isBusyCode(probe.errorCode)) {
    let head: Buffer;
    try {
      head = readHead(path);
    } catch (error) {
      return unreadable(path, error, size);
    }
    if (head.length < HEADER_BYTES || !head.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC)) {
      return sniffNotSqlite(path, head, size);
    }
    const headerProblem = sqliteHeaderProblem(head, size);
    if (headerProblem !== undefined) return damaged(path, size, headerProblem, []);
  }
  if (options.check === 'open' && probe.errorCode === undefined) {
    return {
      path,
      status: 'valid',
      reason: 'SQLite database (opened; pages not checked)',
      usable: true,
      bytes: size,
    };
  }
  const check = checkPages(path, size, options);
  if (check.sqliteCode !== 'SQLITE_READONLY_ROLLBACK') return check;
  // A hot journal left by a crashed writer: a read-only connection cannot roll it back. Let SQLite recover it (that
  // restores the last committed state, as any connection would) and check again.
  try {
    recoverHotJournal(path, options.busyTimeoutMs ?? 5000);
  } catch {
    return check;
  }
  return checkPages(path, size, options);
}

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

/** Opens the file read-only in SQLite, reads its schema inside a read transaction and judges its size. */
function probeWithSqlite(path: string, busyTimeoutMs: number): { problem?: string; errorCode?: string } {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
    db.exec('BEGIN');
    db.prepare('SELECT count(*) FROM main.sqlite_schema').get();
    const problem = sizeProblem(db, path);
    return problem === undefined ? {} : { problem };
  } catch (error) {
    return { errorCode: sqliteCode(error) ?? 'UNKNOWN' };
  } finally {
    if (db?.open === true) db.close();
  }
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

/** Whether `path` is a usable SQLite database (the seed's `_is_db_valid`); see {@link checkDatabase}. */
export function isDbValid(path: string, options: CheckDatabaseOptions = {}): boolean {
  return checkDatabase(path, options).usable;
}

function readHead(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(SNIFF_BYTES);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

function checkPages(path: string, size: number, options: CheckDatabaseOptions): DatabaseCheck {
  const max = options.maxProblems ?? 10;
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: options.busyTimeoutMs ?? 5000 });
    const pragma = options.check === 'full' ? 'integrity_check' : 'quick_check';
    // One row per problem (up to the limit), or one row 'ok'. Older builds join messages with '\n': split them.
    const problems = checkProblems(db, pragma, Math.max(1, max))
      .flatMap((m) => m.split('\n'))
      .filter((m) => m !== '' && m !== 'ok');
    if (problems.length === 0) {
      return { path, status: 'valid', reason: `SQLite database, ${pragma} ok`, usable: true, bytes: size };
    }
    return damaged(path, size, `${pragma} failed: ${problems[0] ?? ''}`, problems.slice(0, max));
  } catch (error) {
    const code = sqliteCode(error);
    const message = (error as Error).message;
    if (isBusyCode(code)) {
      return {
        path,
        status: 'locked',
        reason: `another connection holds a lock on it (${message})`,
        usable: false,
        bytes: size,
        ...withCode(code),
        hint: 'close the program using the database, or raise the busy timeout, and run again',
      };
    }
    if (isDamageCode(code)) {
      return { ...damaged(path, size, `SQLite cannot read it: ${message}`, [message]), ...withCode(code) };
    }
    if (code === 'SQLITE_CANTOPEN' || code === 'SQLITE_IOERR' || code?.startsWith('SQLITE_IOERR_') === true) {
      return unreadable(path, error, size);
    }
    // Anything else is not evidence of damage: a collation or function only the application defines (the check
    // compares index keys with it), or a bad option. Calling that "damaged" would have `fix` replace a good file.
    return {
      path,
      status: 'unreadable',
      reason: `SQLite cannot check it: ${message}${code === undefined ? '' : ` (${code})`}`,
      usable: false,
      bytes: size,
      ...withCode(code),
      hint: /collation|function/.test(message)
        ? 'it uses a collation or function that only its application defines; db-hydration leaves it as it is'
        : 'db-hydration leaves it as it is; check the options given',
    };
  } finally {
    db?.close();
  }
}

function sniffNotSqlite(path: string, head: Buffer, size: number): DatabaseCheck {
  const text = head.toString('utf8');
  if (text.startsWith(LFS_POINTER)) {
    return notSqlite(
      path,
      'git-lfs-pointer',
      'it is a Git LFS pointer file, not the database: the LFS object was never downloaded',
      size,
      'run `git lfs pull`, or restore the database from its archive with `db-hydration fix`',
    );
  }
  if (
    /(^|\n)<{7}( |\r?\n)/.test(text) ||
    (/(^|\n)={7}\r?\n/.test(text) && /(^|\n)>{7}( |\r?\n)/.test(text))
  ) {
    return notSqlite(
      path,
      'merge-conflict',
      'it contains git merge-conflict markers (<<<<<<< / ======= / >>>>>>>): a merge wrote text into it',
      size,
      'restore it from its archive with `db-hydration fix`, or check out one side of the merge',
    );
  }
  if (head.length >= 16 && head.subarray(0, 6).equals(SQLITE_MAGIC.subarray(0, 6))) {
    return damaged(path, size, 'the SQLite header is damaged (its magic string is wrong)', []);
  }
  const printable = [...head].filter((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b !== 127)).length;
  const isText = head.length > 0 && printable / head.length > 0.95;
  if (size < HEADER_BYTES && !isText) {
    return notSqlite(path, 'binary', `it is too short to be an SQLite database (${size} bytes)`, size);
  }
  return notSqlite(
    path,
    isText ? 'text' : 'binary',
    isText
      ? 'it is a text file, not an SQLite database'
      : 'it does not start with the SQLite header ("SQLite format 3")',
    size,
  );
}

function notSqlite(
  path: string,
  kind: NotSqliteKind,
  reason: string,
  bytes: number | undefined,
  hint = 'restore it from its archive with `db-hydration fix`',
): DatabaseCheck {
  return {
    path,
    status: 'not-sqlite',
    reason,
    usable: false,
    kind,
    hint,
    ...(bytes === undefined ? {} : { bytes }),
  };
}

function damaged(path: string, bytes: number, reason: string, problems: readonly string[]): DatabaseCheck {
  return {
    path,
    status: 'damaged',
    reason,
    usable: false,
    bytes,
    problems,
    hint: 'run `db-hydration fix`: it restores the database from its archive, or salvages its readable rows',
  };
}

function unreadable(path: string, error: unknown, bytes?: number): DatabaseCheck {
  const code = (error as NodeJS.ErrnoException).code;
  return {
    path,
    status: 'unreadable',
    reason: `the file cannot be read: ${(error as Error).message}`,
    usable: false,
    hint: 'check the file permissions and the disk',
    ...(bytes === undefined ? {} : { bytes }),
    ...withCode(typeof code === 'string' ? code : undefined),
  };
}

function withCode(code: string | undefined): { sqliteCode?: string } {
  return code === undefined ? {} : { sqliteCode: code };
}

function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

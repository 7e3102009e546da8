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
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { checkProblems } from '../sqlite/check.js';
import { assertBusyTimeout, DEFAULT_BUSY_TIMEOUT_MS } from '../sqlite/busy-timeout.js';
import { isBusyCode, isDamageCode } from '../sqlite/error-codes.js';
import {
  HEADER_BYTES,
  recoverHotJournal,
  sizeProblem,
  SQLITE_MAGIC,
  sqliteHeaderProblem,
} from '../sqlite/file-header.js';
import { damaged, notSqlite, sqliteCode, unreadable, withCode, type DatabaseCheck } from './check-result.js';
import { readHead, sniffNotSqlite } from './sniff-file.js';

export type { DatabaseCheck, DatabaseStatus, NotSqliteKind } from './check-result.js';

/** Options of {@link checkDatabase}. */
export interface CheckDatabaseOptions {
  /**
   * `quick` (default): `PRAGMA quick_check`; `full`: `PRAGMA integrity_check` (also checks index contents); `open`: no
   * page check, only that SQLite opens the file, reads its schema and finds its size consistent (cheap, O(1)).
   */
  readonly check?: 'quick' | 'full' | 'open';
  /** How long to wait for a lock held by another connection, in milliseconds. Default {@link DEFAULT_BUSY_TIMEOUT_MS} (5000). */
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
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const size = fileSize(path, options.expectTables === true);
  if (typeof size !== 'number') return size;

  // Ask SQLite first. Reading the file ourselves would be wrong while this process has it open in SQLite: closing
  // any descriptor of a file drops every POSIX lock the process holds on it (https://sqlite.org/howtocorrupt.html,
  // section 2.2), so the raw bytes are read only when SQLite cannot read the file at all.
  const probe = probeWithSqlite(path, busyTimeoutMs);
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
    recoverHotJournal(path, busyTimeoutMs);
  } catch {
    return check;
  }
  return checkPages(path, size, options);
}

/**
 * The size of the file at `path`, or the check's result when that alone decides it: missing, not a file, empty, or
 * not readable.
 */
function fileSize(path: string, expectTables: boolean): number | DatabaseCheck {
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
    if (expectTables) {
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
  return size;
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

/** Whether `path` is a usable SQLite database; see {@link checkDatabase}. */
export function isDbValid(path: string, options: CheckDatabaseOptions = {}): boolean {
  return checkDatabase(path, options).usable;
}

function checkPages(path: string, size: number, options: CheckDatabaseOptions): DatabaseCheck {
  const max = options.maxProblems ?? 10;
  let db: Database.Database | undefined;
  try {
    db = new Database(path, {
      readonly: true,
      fileMustExist: true,
      timeout: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
    });
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

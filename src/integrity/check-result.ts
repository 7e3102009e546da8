/**
 * The results the corruption detector returns (classify-database.ts), and the helpers that build them.
 */

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

/** A file that is not an SQLite database at all. */
export function notSqlite(
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

/** A database whose pages or header are damaged. */
export function damaged(
  path: string,
  bytes: number,
  reason: string,
  problems: readonly string[],
): DatabaseCheck {
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

/** A file that cannot be read. */
export function unreadable(path: string, error: unknown, bytes?: number): DatabaseCheck {
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

/** The `sqliteCode` field, when there is a code. */
export function withCode(code: string | undefined): { sqliteCode?: string } {
  return code === undefined ? {} : { sqliteCode: code };
}

/** The code of an error (an SQLite or a file-system one), when it has one. */
export function sqliteCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

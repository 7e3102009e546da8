/**
 * The one error hierarchy of db-hydration.
 *
 * Every error carries a stable `code`, the file (and where known the database and table) it concerns,
 * and a `hint` that tells the user what to do next. Library functions that work on many databases
 * collect these into their result objects instead of throwing (see {@link ErrorDetail}).
 */

/** Stable machine-readable error codes. */
export type HydrationErrorCode =
  | 'ARCHIVE_FORMAT'
  | 'ARCHIVE_VALUE'
  | 'ARCHIVE_SCHEMA'
  | 'ARCHIVE_NAME'
  | 'ARCHIVE_CHANGED'
  | 'ARCHIVE_ENCRYPTION'
  | 'DATABASE_READ'
  | 'DATABASE_WRITE'
  | 'DATABASE_LOCKED'
  | 'ROW_REJECTED'
  | 'PATH'
  | 'CONFIG'
  | 'USAGE'
  | 'GIT'
  | 'MIGRATION'
  | 'REMOTE'
  | 'IO';

/** Where an error happened. All fields are optional; the message already names them. */
export interface ErrorContext {
  /** The file the error concerns (archive or database), as given to the library. */
  readonly file?: string | undefined;
  /** The database name (file name without extension). */
  readonly database?: string | undefined;
  /** The table, when the error concerns one. */
  readonly table?: string | undefined;
  /** What the user can do about it. */
  readonly hint?: string | undefined;
  /** The underlying error. */
  readonly cause?: unknown;
}

/** Base class of every error db-hydration throws or reports. */
export class HydrationError extends Error {
  readonly code: HydrationErrorCode;
  readonly file: string | undefined;
  readonly database: string | undefined;
  readonly table: string | undefined;
  readonly hint: string | undefined;

  constructor(code: HydrationErrorCode, message: string, context: ErrorContext = {}) {
    super(
      composeMessage(message, context),
      context.cause === undefined ? undefined : { cause: context.cause },
    );
    this.name = new.target.name;
    this.code = code;
    this.file = context.file;
    this.database = context.database;
    this.table = context.table;
    this.hint = context.hint;
  }
}

/** The archive file is not valid JSON, or not in the archive format (bad structure, bad field types). */
export class ArchiveFormatError extends HydrationError {
  constructor(message: string, context: ErrorContext = {}) {
    super('ARCHIVE_FORMAT', message, {
      hint: 'restore the archive from Git (`git checkout -- <file>`); do not dehydrate over it if it holds changes from others',
      ...context,
    });
  }
}

/**
 * An archive changed since its database last matched it (a pull, checkout or merge brought someone else's changes),
 * and the database has changes of its own: writing either over the other would lose changes, so nothing was written.
 * The way out is `db-hydration sync`, the three-way merge.
 */
export class ArchiveChangedError extends HydrationError {
  constructor(message: string, context: ErrorContext = {}) {
    super('ARCHIVE_CHANGED', message, {
      hint: "run `db-hydration sync` to merge the archive's changes with the database's (`db-hydration status` shows both)",
      ...context,
    });
  }
}

/** A value in an archive cannot be decoded into an exact SQLite value. */
export class ArchiveValueError extends HydrationError {
  constructor(message: string, context: ErrorContext = {}) {
    super('ARCHIVE_VALUE', message, context);
  }
}

/** Schema SQL in an archive is not the single CREATE statement it claims to be. */
export class ArchiveSchemaError extends HydrationError {
  constructor(message: string, context: ErrorContext = {}) {
    super('ARCHIVE_SCHEMA', message, {
      hint: 'the archive may have been edited by hand or come from an untrusted source; restore it from Git',
      ...context,
    });
  }
}

/** A database or table name from an archive or configuration is not a safe name. */
export class ArchiveNameError extends HydrationError {
  constructor(message: string, context: ErrorContext = {}) {
    super('ARCHIVE_NAME', message, context);
  }
}

/** A database could not be read (not SQLite, damaged, unreadable). */
export class DatabaseReadError extends HydrationError {
  constructor(message: string, context: ErrorContext = {}) {
    super('DATABASE_READ', message, context);
  }
}

/** A database could not be written. */
export class DatabaseWriteError extends HydrationError {
  constructor(message: string, context: ErrorContext = {}) {
    super('DATABASE_WRITE', message, context);
  }
}

/**
 * A path is not what it must be: a data or archive directory that does not exist or is a file, a directory (or other
 * non-file) where a database file belongs, a database or archive that is not there. Nothing was written to it.
 */
export class PathError extends HydrationError {
  constructor(message: string, context: ErrorContext = {}) {
    super('PATH', message, context);
  }
}

/**
 * A database another connection holds locked (or open, where the file cannot be replaced while it is): it was waited
 * for up to the busy timeout, then left as it was. Built with {@link DatabaseLockedError.busy} for the busy timeout.
 */
export class DatabaseLockedError extends HydrationError {
  constructor(message: string, context: ErrorContext = {}) {
    super('DATABASE_LOCKED', message, { hint: 'close the programs using it and run again', ...context });
  }

  /**
   * The error for a database another connection kept locked for the whole busy timeout: `the database is in use by
   * another connection (waited <ms> ms)<outcome>`, where `outcome` says what was not done (e.g. `, so it was not
   * replaced`).
   */
  static busy(waitedMs: number, outcome: string, context: ErrorContext = {}): DatabaseLockedError {
    return new DatabaseLockedError(
      `the database is in use by another connection (waited ${waitedMs} ms)${outcome}`,
      context,
    );
  }
}

/**
 * A configuration that cannot be used: a config file (not JSON, an unknown key, a value of the wrong type or out of
 * range), or options given to {@link DBHydrationManager} in code (then `file` is undefined). The message names the
 * file and the key.
 */
export class ConfigError extends HydrationError {
  /** The key at fault, when there is one. */
  readonly key: string | undefined;

  constructor(
    message: string,
    /** The file at fault; undefined for options given in code. */
    file: string | undefined,
    key?: string,
    context: Omit<ErrorContext, 'file'> = {},
  ) {
    super('CONFIG', message, {
      hint:
        file === undefined
          ? 'fix the option passed to new DBHydrationManager()'
          : 'fix the key in the config file (see docs/cli.md, Configuration)',
      ...context,
      file,
    });
    this.key = key;
  }
}

/** A command line that cannot be run: a wrong option value, an unknown database name, a bad config. CLI exit code 2. */
export class UsageError extends HydrationError {
  constructor(message: string, hint?: string, context: Omit<ErrorContext, 'hint'> = {}) {
    super('USAGE', message, { ...context, hint });
  }
}

/**
 * Git could not be used for the repository setup (`db-hydration git ...`): git is not installed, the directory is not
 * inside a work tree, a data or archive directory lies outside the repository, a git command failed, or a hook stands
 * where ours would go in a way that cannot be chained. Nothing more was changed.
 */
export class GitError extends HydrationError {
  constructor(message: string, context: ErrorContext = {}) {
    super('GIT', message, context);
  }
}

/**
 * A schema migration was refused or failed: the migrations directory is not usable (a gap or duplicate in the
 * numbering, an unnamed file), a database is newer than the directory knows, an applied migration was edited since, the
 * ledger disagrees with the directory or `user_version`, or a migration's SQL failed (its transaction was rolled back).
 * The database was left as it was before that migration.
 */
export class MigrationError extends HydrationError {
  constructor(message: string, context: ErrorContext = {}) {
    super('MIGRATION', message, context);
  }
}

/** Plain data describing one error, as collected in result objects. */
export interface ErrorDetail {
  readonly code: HydrationErrorCode;
  readonly message: string;
  readonly file?: string;
  readonly database?: string;
  readonly table?: string;
  readonly hint?: string;
}

/** Turns anything thrown into an {@link ErrorDetail}, keeping the context of a {@link HydrationError}. */
export function toErrorDetail(
  error: unknown,
  fallback: ErrorContext & { code?: HydrationErrorCode } = {},
): ErrorDetail {
  if (error instanceof HydrationError) {
    return stripUndefined({
      code: error.code,
      message: error.message,
      file: error.file ?? fallback.file,
      database: error.database ?? fallback.database,
      table: error.table ?? fallback.table,
      hint: error.hint ?? fallback.hint,
    });
  }
  const raw = error instanceof Error ? error.message : String(error);
  return stripUndefined({
    code: fallback.code ?? 'IO',
    message: composeMessage(raw, fallback),
    file: fallback.file,
    database: fallback.database,
    table: fallback.table,
    hint: fallback.hint,
  });
}

function stripUndefined(detail: { [K in keyof ErrorDetail]: ErrorDetail[K] | undefined }): ErrorDetail {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(detail)) if (v !== undefined) out[k] = v;
  return out as unknown as ErrorDetail;
}

function composeMessage(message: string, context: ErrorContext): string {
  const where: string[] = [];
  if (context.file !== undefined && !message.includes(context.file)) where.push(context.file);
  if (context.table !== undefined && !message.includes(`table "${context.table}"`))
    where.push(`table "${context.table}"`);
  const prefix = where.length > 0 ? `${where.join(', ')}: ` : '';
  return `${prefix}${message}`;
}

/**
 * An encrypted archive (`.json.age`) could not be decrypted or encrypted: no identity or passphrase was given, none
 * of them opens it, or the file is damaged, truncated or tampered with (age authenticates every chunk, so such a file
 * is refused as a whole). Nothing was written from it.
 */
export class ArchiveEncryptionError extends HydrationError {
  constructor(message: string, context: ErrorContext = {}) {
    super('ARCHIVE_ENCRYPTION', message, {
      hint: 'give the identity file with --identity FILE or DB_HYDRATION_AGE_IDENTITY (docs/encryption.md); if the key is right, restore the archive from Git (`git checkout -- <file>`)',
      ...context,
    });
  }
}

/**
 * A remote archive store (`push`, `pull`: docs/remote.md) could not be used or refused the operation: the remote URL
 * is not `s3://BUCKET/PREFIX`, the service could not be reached or answered an error (credentials, permissions, a
 * missing bucket, a server error after retries), someone else pushed since this clone last pushed or pulled, or an
 * object downloaded does not match the remote manifest's hash. Nothing was written locally from a refused download,
 * and a refused push left the remote manifest as it was.
 */
export class RemoteError extends HydrationError {
  constructor(message: string, context: ErrorContext = {}) {
    super('REMOTE', message, context);
  }
}

/** The manager's option and result types. */
import type { ErrorDetail } from '../errors.js';
import type { Compression, DatabaseSettings, EncryptionSettings } from '../config/load-config.js';
import type { RejectedRow } from '../hydrate/import-rows.js';
import type { ProgressListener } from '../progress.js';
import type { SyncKind } from '../sync/classify-sync.js';
import type { PassphraseProvider } from '../archive/keys.js';

/** Options of {@link DBHydrationManager}. */
export interface HydrationManagerOptions {
  /** Directory holding the database files. Default `data`. */
  readonly dataDir?: string;
  /** Directory holding the archives and the manifest. Default `<dataDir>/json_archives`. */
  readonly archiveDir?: string;
  /**
   * Database file names (inside dataDir) to work on, like a DB_FILES list. Default: every `*.db`, `*.sqlite` and
   * `*.sqlite3` file directly in dataDir (for hydration: every archive in archiveDir).
   */
  readonly databases?: readonly string[];
  /** How long to wait for a database locked by another connection, in milliseconds. Default 5000. */
  readonly busyTimeoutMs?: number;
  /**
   * How many backups to keep per database when `hydrateAll({ force: true })` replaces it: a whole number, 1 or more,
   * or 0 to keep every backup. Default 5.
   */
  readonly backupsKept?: number;
  /**
   * How `dehydrateAll` stores each archive: `'gzip'` writes `<name>.json.gz` (deterministic gzip that `gzip -dc`
   * turns back into the plain archive), `'none'` writes `<name>.json`. Default `'none'`. Readers take either.
   */
  readonly compress?: Compression;
  /**
   * Settings of single databases, by database file name (`{ 'big.db': { compress: 'gzip' } }`,
   * `{ 'notes.db': { encrypt: false } }`), over the top-level `compress` and `encrypt`.
   */
  readonly perDatabase?: Readonly<Record<string, DatabaseSettings>>;
  /** Receives progress of long work. */
  readonly onProgress?: ProgressListener;
  /**
   * A directory of numbered SQL migrations (`0001_add_notes.sql`, ...) for `migrateAll`, `hydrateAll({ migrate })`
   * and the status's pending count (docs/migrations.md).
   */
  readonly migrationsDir?: string;
  /** Whether `hydrateAll` applies pending migrations to each database it builds. Default false. */
  readonly migrate?: boolean;
  /** The ledger table recording applied migrations in each database. Default `_db_hydration_migrations`. */
  readonly migrationsTable?: string;
  /**
   * Encrypt every database's archive with age (`<name>.json.age`) to these recipients; `identityFile` (if the file
   * exists) is read to decrypt. See docs/encryption.md.
   */
  readonly encrypt?: EncryptionSettings;
  /** Age identity files that decrypt archives (they must exist); `DB_HYDRATION_AGE_IDENTITY` adds one. */
  readonly identityFiles?: readonly string[];
  /**
   * The passphrase of archives encrypted with one (to decrypt them, and to encrypt those configured with
   * `encrypt: { passphrase: true }`), or a function asked for it when one is needed and
   * `DB_HYDRATION_AGE_PASSPHRASE` is not set (the CLI's asks on the terminal). `DB_HYDRATION_AGE_PASSPHRASE` wins
   * over a function.
   */
  readonly passphrase?: string | PassphraseProvider;
  /** The remote of `push` and `pull`: `s3://BUCKET/PREFIX` (docs/remote.md). */
  readonly remote?: string;
  /** The URL of an S3-compatible service for `remote` (path-style addressing). Default: AWS S3. */
  readonly endpoint?: string;
}

/** One database in a {@link DehydrationResult}. */
export interface DatabaseResult {
  readonly archivePath: string;
  readonly tablesExported: number;
  readonly totalRows: number;
  /** Whether the archive file was rewritten (false: the database had not changed since). */
  readonly changed: boolean;
  readonly sha256: string;
  /**
   * With `force`: what was overwritten, when the archive had changed since the database last matched it (someone
   * else's changes, which the archive no longer holds).
   */
  readonly overwrote?: string;
  /**
   * True when the database was not read at all: its file had not changed since the export that wrote this archive
   * (same stamp; see `exportIsCurrent`), so the archive and manifest entry stand as they are.
   */
  readonly notRead?: boolean;
  /**
   * How many tables were copied from the existing archive instead of read, their pages being unchanged since the
   * export that wrote it (see docs/sync.md, "only changed tables are read"); absent when none was.
   */
  readonly tablesCopied?: number;
}

/** Options of {@link DBHydrationManager.dehydrateAll}. */
export interface DehydrateAllOptions {
  /**
   * Overwrite archives that changed since their database last matched them (a pull brought someone else's changes),
   * which are otherwise refused with an {@link ArchiveChangedError} pointing at `db-hydration sync`. Default false.
   */
  readonly force?: boolean;
  /**
   * This run's codec for every database, over the manager's `compress` and `perDatabase` (the CLI's `--compress`).
   * A database whose archive has the other codec gets the new file, and the old one is removed once it is in place.
   */
  readonly compress?: Compression;
}

/** Result of {@link DBHydrationManager.dehydrateAll}. */
export interface DehydrationResult {
  readonly timestamp: string;
  /** Keyed by database file name: the databases this run dehydrated (one that failed is in `errors` only). */
  readonly databases: Readonly<Record<string, DatabaseResult>>;
  /** Tables and rows of {@link databases} (not of the archives kept for databases that failed). */
  readonly totalTables: number;
  readonly totalRows: number;
  /** One message per error, each naming the file. */
  readonly errors: readonly string[];
  /** The same errors with their code, database, table and hint. */
  readonly errorDetails: readonly ErrorDetail[];
  readonly manifestPath: string;
  /** Whether manifest.json was rewritten. */
  readonly manifestChanged: boolean;
}

/** One database in a {@link HydrationResult}. */
export interface HydratedDatabase {
  readonly archivePath: string;
  readonly dbPath: string;
  /**
   * `hydrated`: written from the archive; `skipped`: a database file exists and `force` was not given (if that file is
   * not a usable database, the result's errors say so and point at `fix`).
   */
  readonly status: 'hydrated' | 'skipped';
  readonly tablesImported: number;
  readonly totalRows: number;
  /** Where the replaced database was backed up (force only). */
  readonly backupPath?: string;
  /** With `migrate`: the file names of the migrations applied to it after it was built, in order. */
  readonly migrationsApplied?: readonly string[];
  /** Without `migrate`, when a migrations directory is configured: the migrations it lacks (`migrateAll` applies them). */
  readonly migrationsPending?: readonly string[];
  /**
   * Without `migrate`, when a migrations directory is configured: why it must not be migrated (newer than the
   * directory, or its ledger records migrations that differ from the directory's: another branch's, or edited since).
   */
  readonly migrationProblem?: string;
  /** Rows that violated a constraint and were skipped. */
  readonly rejectedRows: readonly RejectedRow[];
  /**
   * For an existing database hydrated without `force`: how it stood against its archive, by its sync state. Only
   * `archive-updated` (the archive changed since they last matched, the database did not) is hydrated.
   */
  readonly sync?: SyncKind;
  /** For {@link sync}: one sentence saying why the database was kept, or what hydrating it brought in. */
  readonly note?: string;
}

/** Result of {@link DBHydrationManager.hydrateAll}. */
export interface HydrationResult {
  readonly timestamp: string;
  /** Keyed by database file name. */
  readonly databases: Readonly<Record<string, HydratedDatabase>>;
  readonly totalTables: number;
  readonly totalRows: number;
  readonly errors: readonly string[];
  readonly errorDetails: readonly ErrorDetail[];
}

/** Statistics of one archive. */
export interface ArchiveStat {
  readonly database: string;
  readonly fileName: string;
  readonly archivePath: string;
  readonly exportedAt: string;
  /** Table name → rows. */
  readonly tables: Readonly<Record<string, number>>;
  readonly tableCount: number;
  readonly totalRows: number;
  /** The archive file's size as stored (compressed or encrypted when its codec is). */
  readonly bytes: number;
  /** The size of its plain JSON text (`gzip -dc` / `age -d` of it); `bytes` for a plain archive. */
  readonly plainBytes: number;
  /** Its codec: `identity` (`.json`), `gzip` (`.json.gz`), `age` (`.json.age`) or `gzip+age` (`.json.gz.age`). */
  readonly codec: string;
  /** Whether the database file exists in dataDir. */
  readonly databaseExists: boolean;
}

/** Result of {@link DBHydrationManager.getArchiveStats}. */
export interface ArchiveStats {
  readonly archiveDir: string;
  readonly archives: readonly ArchiveStat[];
  readonly totalArchives: number;
  readonly totalTables: number;
  readonly totalRows: number;
  /** The archive files' sizes as stored. */
  readonly totalBytes: number;
  /** Their plain JSON text's sizes. */
  readonly totalPlainBytes: number;
  readonly errors: readonly string[];
  readonly errorDetails: readonly ErrorDetail[];
}

/** Options of {@link DBHydrationManager.hydrateAll}. */
export interface HydrateAllOptions {
  /** Replace existing databases (each is backed up first). Default false: existing databases are skipped. */
  readonly force?: boolean;
  /**
   * Apply the pending migrations of `migrationsDir` to each database built from its archive, before it is put in
   * place: a database built from an older archive comes out at the latest version, or (when it must not be migrated)
   * is not written at all. Default: the manager's `migrate` option.
   */
  readonly migrate?: boolean;
}

/** What the manager's steps (dehydrate-all, hydrate-all, ...) need of the manager. Internal. */
export interface ManagerContext {
  readonly dataDir: string;
  readonly archiveDir: string;
  readonly manifestPath: string;
  readonly busyTimeoutMs: number;
  readonly onProgress: ProgressListener | undefined;
  /** The configured database file names, if any. */
  readonly databases: readonly string[] | undefined;
  /** The migrations directory, if one is configured. */
  readonly migrationsDir: string | undefined;
  /** The ledger table's name. */
  readonly migrationsTable: string;
  /** The manager's `migrate` option. */
  readonly migrateOnHydrate: boolean;
  listDatabases(): string[];
  listArchives(): string[];
  archivePathFor(fileName: string): string;
  /** Whether a database's archive is encrypted. */
  isEncrypted(fileName: string): boolean;
  /** Where a database's archive is now (`existing`) and where this run writes it (`target`), from one look. */
  archivePathsFor(fileName: string, compress?: Compression): { existing: string; target: string };
  backup(dbPath: string): Promise<string>;
}

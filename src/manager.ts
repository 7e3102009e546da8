/**
 * DBHydrationManager: the library's core class. It finds the databases of a data directory, dehydrates each into its
 * archive, hydrates each back, and reports statistics. Work on one database never stops the others: errors are
 * collected into the result. The work itself is in src/manager/: one module per command.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ArchiveNameError, ConfigError } from './errors.js';
import { MANIFEST_FILE, archiveFileNameFor, hasDatabaseExtension, isSafeFileName } from './archive/naming.js';
import { AGE_CODEC, GZIP_AGE_CODEC, codecForFileName } from './archive/codec.js';
import { isEncryptedCodec } from './archive/age-codec.js';
import { KeyRing, withKeyRing, type EncryptTarget } from './archive/keys.js';
import type { EncryptionSettings } from './config/load-config.js';
import { peekHeader, targetFileName } from './archive/archive-header.js';
import { scanDatabases, scanNonFiles } from './dehydrate/scan-databases.js';
import { compareNames } from './sqlite/names.js';
import { LocalDirectoryStore } from './stores/local-directory-store.js';
import { DEFAULT_BUSY_TIMEOUT_MS } from './sqlite/busy-timeout.js';
import { MANAGER_CHECKS, didYouMean, findOptionProblem } from './config/check-options.js';
import type { FixResult } from './integrity/fix-databases.js';
import { assertArchiveDir, assertDataDir, assertOneArchiveEach, findArchive } from './manager/paths.js';
import { GZIP_CODEC, IDENTITY_CODEC } from './archive/codec.js';
import type { Compression } from './config/load-config.js';
import { backupDatabase, DEFAULT_BACKUPS_KEPT } from './manager/backups.js';
import { dehydrateAll } from './manager/dehydrate-all.js';
import { hydrateAll } from './manager/hydrate-all.js';
import { fixAll } from './manager/fix-all.js';
import { syncAll, type SyncAllOptions, type SyncResult } from './manager/sync-all.js';
import { archiveStats } from './manager/archive-stats.js';
import { migrateAll, type MigrateAllOptions, type MigrationResult } from './manager/migrate-all.js';
import { DEFAULT_MIGRATIONS_TABLE } from './migrate/ledger.js';
import { rekeyAll, type RekeyOptions, type RekeyResult } from './manager/rekey-all.js';
import { pushAll, remoteStore, type PushOptions, type PushResult } from './manager/push-all.js';
import { pullAll, type PullOptions, type PullResult } from './manager/pull-all.js';
import type {
  ArchiveStats,
  DehydrateAllOptions,
  DehydrationResult,
  HydrateAllOptions,
  HydrationManagerOptions,
  HydrationResult,
  ManagerContext,
} from './manager/types.js';

export type {
  ArchiveStat,
  ArchiveStats,
  DatabaseResult,
  DehydrateAllOptions,
  DehydrationResult,
  HydrateAllOptions,
  HydratedDatabase,
  HydrationManagerOptions,
  HydrationResult,
} from './manager/types.js';
export { peekHeader, targetFileName } from './archive/archive-header.js';
export type { MigrateAllOptions, MigratedDatabase, MigrationResult } from './manager/migrate-all.js';
export type { SyncAction, SyncAllOptions, SyncedDatabase, SyncResult } from './manager/sync-all.js';
export type { RekeyOptions, RekeyResult, RekeyedArchive } from './manager/rekey-all.js';
export type { PushOptions, PushResult, PushedArchive, RemoteOptions } from './manager/push-all.js';
export type { PullOptions, PullResult, PulledArchive } from './manager/pull-all.js';

/**
 * Dehydrates the SQLite databases of a data directory into JSON archives and hydrates them back.
 *
 * @example
 * ```ts
 * const manager = new DBHydrationManager({ dataDir: 'data' });
 * const result = await manager.dehydrateAll(); // data/*.db → data/json_archives/*.json
 * await manager.hydrateAll();                  // recreates missing databases from the archives
 * ```
 */
export class DBHydrationManager {
  readonly dataDir: string;
  readonly archiveDir: string;
  readonly manifestPath: string;
  /** The migrations directory, when one is configured (`migrationsDir`). */
  readonly migrationsDir: string | undefined;
  /** The ledger table of applied migrations in each database. */
  readonly migrationsTable: string;
  private readonly options: HydrationManagerOptions;
  private readonly context: ManagerContext;
  /** This manager's keys: its operations run in this ring, so another manager's keys never mix in. */
  private readonly keyRing: KeyRing;

  constructor(options: HydrationManagerOptions = {}) {
    this.options = options;
    this.dataDir = options.dataDir ?? 'data';
    this.archiveDir = options.archiveDir ?? join(this.dataDir, 'json_archives');
    this.manifestPath = join(this.archiveDir, MANIFEST_FILE);
    checkManagerOptions(options);
    this.migrationsDir = options.migrationsDir;
    this.migrationsTable = options.migrationsTable ?? DEFAULT_MIGRATIONS_TABLE;
    for (const name of options.databases ?? []) checkDatabaseFileName(name);
    this.keyRing = new KeyRing({
      identityFiles: [
        ...(options.identityFiles ?? []),
        // An identity file named in the config is read where it exists: a teammate who only encrypts has none.
        ...[options.encrypt, ...Object.values(options.perDatabase ?? {}).map((s) => s.encrypt)]
          .flatMap((e) =>
            e === undefined || e === false || e.identityFile === undefined ? [] : [e.identityFile],
          )
          .filter((f) => existsSync(f)),
      ],
      passphrase: options.passphrase,
    });
    keyRings.set(this, this.keyRing);
    this.context = {
      dataDir: this.dataDir,
      archiveDir: this.archiveDir,
      manifestPath: this.manifestPath,
      busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
      migrationsDir: this.migrationsDir,
      migrationsTable: this.migrationsTable,
      migrateOnHydrate: options.migrate === true,
      onProgress: options.onProgress,
      databases: options.databases,
      listDatabases: () => this.listDatabases(),
      listArchives: () => this.listArchives(),
      archivePathFor: (fileName) => this.archivePathFor(fileName),
      isEncrypted: (fileName) => this.isEncrypted(fileName),
      archivePathsFor: (fileName, compress) => this.archivePathsFor(fileName, compress),
      backup: (dbPath) => this.backup(dbPath),
    };
  }

  /**
   * The database file names this manager dehydrates: the configured list, or those found in dataDir. A directory (or
   * other non-file) with a database's name is listed when its archive exists, so it is reported, not passed over.
   */
  listDatabases(): string[] {
    if (this.options.databases !== undefined) return [...this.options.databases];
    const blocked = scanNonFiles(this.dataDir).filter((name) => {
      const archivePath = this.archivePathFor(name);
      try {
        return existsSync(archivePath) && targetFileName(peekHeader(archivePath), archivePath) === name;
      } catch {
        return false;
      }
    });
    return [...scanDatabases(this.dataDir), ...blocked].sort(compareNames);
  }

  /**
   * Throws a {@link PathError} unless dataDir is an existing directory: the commands that read databases (dehydrate,
   * fix, status, verify) have nothing to read in a data directory that is not there, and must not report success.
   */
  assertDataDir(): void {
    assertDataDir(this.dataDir);
  }

  /**
   * The archive paths this manager hydrates: one per configured database, or every archive in archiveDir (plain and
   * compressed).
   * @throws {ArchiveNameError} when a database has both a plain and a compressed archive (naming both)
   */
  listArchives(): string[] {
    assertArchiveDir(this.archiveDir);
    if (this.options.databases !== undefined) {
      return this.options.databases.map((n) => this.archivePathFor(n));
    }
    const store = new LocalDirectoryStore(this.archiveDir);
    const paths = store.listSync().map((n) => store.pathOf(n));
    assertOneArchiveEach(paths, (p) => basename(p));
    return paths;
  }

  /**
   * The archive path for a database file name: its archive in archiveDir, whichever its codec (`shop.json`,
   * `shop.json.gz`, `shop.json.age`, `shop.json.gz.age`), or where `dehydrateAll` would write it when there is none
   * ({@link archiveTargetFor}). For a database whose archive is encrypted, the recipients it is encrypted to are set
   * for that path.
   * @throws {ArchiveNameError} when the database has two archives (naming both)
   */
  archivePathFor(fileName: string): string {
    return this.archivePathsFor(fileName).existing;
  }

  /**
   * Where `dehydrateAll` writes a database's archive: `<name>.json`, `.json.gz` when its codec is gzip, and `.age`
   * after either when it is encrypted. The compression is `compress` given here, else
   * `perDatabase[fileName].compress`, else the manager's `compress`, else that of the archive the database has (so
   * one `dehydrate --compress gzip` is enough), else none. It is encrypted when `encrypt` (or its `perDatabase`
   * entry) says so, or when its archive already is (written by someone with recipients: writing it needs them too).
   * @throws {ArchiveNameError} when the database has two archives (naming both)
   */
  archiveTargetFor(fileName: string, compress?: Compression): string {
    return this.targetFor(fileName, findArchive(this.archiveDir, fileName), compress);
  }

  /**
   * {@link archivePathFor} (`existing`) and {@link archiveTargetFor} (`target`) of a database, from one look at the
   * archive directory: for a command that needs both (dehydrate: where it writes, and what is there now).
   * @throws {ArchiveNameError} when the database has two archives (naming both)
   */
  private archivePathsFor(fileName: string, compress?: Compression): { existing: string; target: string } {
    const found = findArchive(this.archiveDir, fileName);
    if (found !== undefined) this.setRecipients(fileName, found);
    return {
      existing: found ?? this.targetFor(fileName, undefined),
      target: this.targetFor(fileName, found, compress),
    };
  }

  /** {@link archiveTargetFor}, given the archive the database has now (`existing`, from {@link findArchive}). */
  private targetFor(fileName: string, existing: string | undefined, compress?: Compression): string {
    const chosen = compress ?? this.options.perDatabase?.[fileName]?.compress ?? this.options.compress;
    const existingCodec = existing === undefined ? undefined : codecForFileName(basename(existing));
    const plainOfExisting =
      existingCodec !== undefined && isEncryptedCodec(existingCodec) ? existingCodec.inner : existingCodec;
    const gzip = chosen === undefined ? plainOfExisting === GZIP_CODEC : chosen === 'gzip';
    const encrypted =
      this.encryptionOf(fileName) !== undefined ||
      (existingCodec !== undefined && isEncryptedCodec(existingCodec));
    const codec = encrypted ? (gzip ? GZIP_AGE_CODEC : AGE_CODEC) : gzip ? GZIP_CODEC : IDENTITY_CODEC;
    const path = join(this.archiveDir, archiveFileNameFor(fileName, codec));
    this.setRecipients(fileName, path);
    return path;
  }

  /**
   * Sets what a database's archive at `path` is encrypted to (its configured recipients, or a passphrase) in this
   * manager's key ring, when it is to be encrypted.
   */
  private setRecipients(fileName: string, path: string): void {
    const encryption = this.encryptionOf(fileName);
    if (encryption !== undefined) this.keyRing.setTarget(path, encryptTargetOf(encryption));
  }

  /** Whether a database's archive is configured to be encrypted (`encrypt`, `perDatabase`). */
  isEncrypted(fileName: string): boolean {
    return this.encryptionOf(fileName) !== undefined;
  }

  /** The encryption settings of a database's archive, or `undefined` for a plain archive. */
  private encryptionOf(fileName: string): EncryptionSettings | undefined {
    const own = this.options.perDatabase?.[fileName]?.encrypt;
    if (own === false) return undefined;
    return own ?? this.options.encrypt;
  }

  /**
   * Dehydrates every database into its archive, then updates the manifest. An archive that changed since its database
   * last matched it (a pull brought someone else's changes) is not overwritten unless `force` is given: the result's
   * errors hold an {@link ArchiveChangedError} that points at `db-hydration sync`.
   */
  // eslint-disable-next-line @typescript-eslint/require-await
  async dehydrateAll(options: DehydrateAllOptions = {}): Promise<DehydrationResult> {
    return this.dehydrateAllSync(options);
  }

  /**
   * {@link dehydrateAll}, synchronously: for a `process.on('exit')` handler, which cannot wait for a promise. (All the
   * work is synchronous anyway; a parallel export's helper thread is waited for without the event loop.)
   */
  dehydrateAllSync(options: DehydrateAllOptions = {}): DehydrationResult {
    return withKeyRing(this.keyRing, () => dehydrateAll(this.context, options));
  }

  /**
   * Hydrates every archive into its database file in dataDir. Missing databases are created; existing ones are
   * skipped unless `force` is given, in which case each is backed up (through SQLite, so WAL content is included)
   * and then replaced atomically.
   */
  async hydrateAll(options: HydrateAllOptions = {}): Promise<HydrationResult> {
    return withKeyRing(this.keyRing, () => hydrateAll(this.context, options));
  }

  /**
   * Checks every database (those found in dataDir, those the archives hydrate into, or the configured list) and
   * repairs the missing and damaged ones: from the archive when there is one (the damaged file is kept under a
   * `<file>.corrupt-<timestamp>` name first), otherwise by salvaging the readable rows (the damaged file is kept the
   * same way); a missing database without an archive is created empty. Usable databases and all archives are left
   * byte for byte as they were. Problems with a database go into the result; it throws a {@link PathError} only when
   * the data directory does not exist (or the data or archive directory is a file), as a typo in a path must not pass
   * as a successful check.
   */
  async fixCorruptedDbs(): Promise<FixResult> {
    return withKeyRing(this.keyRing, () => fixAll(this.context));
  }

  /**
   * Brings each database and its archive together, whichever side changed since they last matched (their sync state):
   * dehydrates a database with local changes, rebuilds (after a backup) one whose archive was updated, and merges a
   * diverged one with `options.merge` (three-way: the last-matched archive, the database, the archive). A clean merge
   * is written over the archive and the database rebuilt from it; a merge with conflicts leaves them between markers
   * in the archive, as git's merge driver does, and the database as it is.
   *
   * @example
   * ```ts
   * // mergeArchives: the three-way merge of src/merge/merge-archives.ts (what `db-hydration sync` passes)
   * const result = await manager.syncAll({ merge: mergeArchives });
   * for (const c of result.conflicts) console.log(c.message);
   * ```
   */
  async syncAll(options: SyncAllOptions): Promise<SyncResult> {
    return withKeyRing(this.keyRing, () => syncAll(this.context, options));
  }

  /**
   * Applies the pending migrations of `migrationsDir` to every database of dataDir: each database is backed up first,
   * each migration runs in its own transaction (foreign keys off, `foreign_key_check` before commit) and is recorded in
   * the database's ledger and `user_version`. A database newer than the directory, one whose applied migrations differ
   * from the directory's files (edited since, or another branch's), or a directory with a gap or duplicate in its
   * numbering is refused and left as it was; a migration that fails is rolled back. See docs/migrations.md.
   *
   * @example
   * ```ts
   * const manager = new DBHydrationManager({ dataDir: 'data', migrationsDir: 'migrations' });
   * const plan = await manager.migrateAll({ dryRun: true }); // what would run, per database
   * const result = await manager.migrateAll();
   * for (const [file, d] of Object.entries(result.databases)) console.log(file, d.status, d.applied);
   * ```
   * @throws {ConfigError} when no migrations directory is configured
   * @throws {MigrationError} when the directory cannot be read or its numbering has a gap or duplicate
   */
  async migrateAll(options: MigrateAllOptions = {}): Promise<MigrationResult> {
    return withKeyRing(this.keyRing, () => migrateAll(this.context, options));
  }

  /**
   * Re-encrypts every encrypted archive (`.json.age`) to a new set of recipients: `options.recipients`, or each
   * database's configured ones. Needs an identity that decrypts them (`identityFiles`, `DB_HYDRATION_AGE_IDENTITY`).
   * Each archive is replaced atomically; plain archives are not touched. The result lists the archives rewritten.
   */
  // eslint-disable-next-line @typescript-eslint/require-await
  async rekey(options: RekeyOptions = {}): Promise<RekeyResult> {
    return withKeyRing(this.keyRing, () =>
      rekeyAll(this.context, (fileName) => this.encryptionOf(fileName)?.recipients, options),
    );
  }

  /**
   * Uploads the current archives and manifest to the remote (`options.remote`, else the `remote` option), as
   * content-addressed objects, then writes the remote manifest last with a conditional write. It dehydrates nothing:
   * it refuses, uploading nothing, when a database has changes its archive does not hold (or has no archive), or when
   * manifest.json does not describe the archives, and when someone else pushed since this clone last pushed or
   * pulled (pull first). Only objects the remote lacks are uploaded; nothing is written when nothing changed.
   * See docs/remote.md.
   *
   * @example
   * ```ts
   * const manager = new DBHydrationManager({ dataDir: 'data', remote: 's3://my-bucket/app' });
   * await manager.dehydrateAll();
   * const pushed = await manager.push();
   * console.log(pushed.uploaded, 'objects uploaded; manifest written:', pushed.manifestWritten);
   * ```
   * @throws {RemoteError} when the push was refused or the remote failed; the remote manifest is then unchanged
   */
  async push(options: PushOptions = {}): Promise<PushResult> {
    return withKeyRing(this.keyRing, () => pushAll(this.context, remoteStore(options, this.options)));
  }

  /**
   * Downloads the remote's archives (each verified against the remote manifest's SHA-256 before any local file is
   * replaced), puts them in place atomically with the remote's manifest, then hydrates: missing databases and those
   * whose archive was updated, or with `force` every database (after a backup), as `hydrateAll` does. A local archive
   * with changes of its own is not overwritten without `force`: the pull is refused and nothing is written.
   *
   * @example
   * ```ts
   * const manager = new DBHydrationManager({ dataDir: 'data', remote: 's3://my-bucket/app' });
   * const pulled = await manager.pull();
   * console.log(pulled.downloaded, 'archives downloaded;', Object.keys(pulled.hydration.databases));
   * ```
   * @throws {RemoteError} when the pull was refused (local changes, an object that does not match) or the remote
   *   failed; nothing local was changed then
   */
  async pull(options: PullOptions = {}): Promise<PullResult> {
    return withKeyRing(this.keyRing, () =>
      pullAll(this.context, remoteStore(options, this.options), options),
    );
  }

  /** Reads every archive's header and table sizes (rows are counted, not parsed). */
  // eslint-disable-next-line @typescript-eslint/require-await
  async getArchiveStats(): Promise<ArchiveStats> {
    return withKeyRing(this.keyRing, () => archiveStats(this.context));
  }

  /**
   * Backs up a database before it is replaced: `<file>.<timestamp>.bak` beside it (a name no scan picks up), made
   * through SQLite's backup API so content still in a -wal file is included. A file SQLite cannot read is copied
   * byte for byte instead. Older backups beyond `backupsKept` are removed.
   */
  async backup(dbPath: string): Promise<string> {
    return backupDatabase(dbPath, {
      busyTimeoutMs: this.context.busyTimeoutMs,
      backupsKept: this.options.backupsKept ?? DEFAULT_BACKUPS_KEPT,
    });
  }
}

/** Each manager's key ring, for the functions given a manager that read its archives (status, verify, pre-commit). */
const keyRings = new WeakMap<DBHydrationManager, KeyRing>();

/**
 * A manager's key ring (internal, not exported by the package): functions that are given a manager and read or
 * write its archives run in it with `withKeyRing`.
 */
export function keyRingOf(manager: DBHydrationManager): KeyRing {
  const ring = keyRings.get(manager);
  if (ring === undefined) throw new ConfigError('not a DBHydrationManager', undefined);
  return ring;
}

/** What an archive configured with `settings` is encrypted to. */
function encryptTargetOf(settings: EncryptionSettings): EncryptTarget {
  return settings.passphrase === true
    ? { recipients: [], passphrase: true }
    : { recipients: settings.recipients ?? [] };
}

/**
 * Checks the constructor's options with the config file's checker (plus onProgress).
 * @throws {ConfigError} naming an unknown option (and the nearest known one) or a value out of range
 */
function checkManagerOptions(options: HydrationManagerOptions): void {
  const problem = findOptionProblem(options, MANAGER_CHECKS);
  if (problem?.kind === 'unknown') {
    throw new ConfigError(
      `unknown option "${problem.key}"${didYouMean(problem.nearest)}`,
      undefined,
      problem.key,
    );
  }
  if (problem !== undefined)
    throw new ConfigError(`${problem.key} ${problem.problem}`, undefined, problem.key);
}

function checkDatabaseFileName(name: string): void {
  if (!isSafeFileName(name) || !hasDatabaseExtension(name)) {
    throw new ArchiveNameError(
      `${JSON.stringify(name)} is not a database file name (a plain name ending in .db, .sqlite or .sqlite3)`,
    );
  }
}

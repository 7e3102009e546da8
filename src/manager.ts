/**
 * DBHydrationManager: the seed's core class. It finds the databases of a data directory, dehydrates each into its
 * archive, hydrates each back, and reports statistics. Work on one database never stops the others: errors are
 * collected into the result (seed Property 10).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { ArchiveNameError, HydrationError, PathError, toErrorDetail, type ErrorDetail } from './errors.js';
import {
  MANIFEST_FILE,
  archiveFileNameFor,
  databaseNameOf,
  hasDatabaseExtension,
  isSafeFileName,
  type ArchiveHeader,
} from './archive/format.js';
import { scanDatabases, scanNonFiles } from './dehydrate/scan-databases.js';
import { dehydrateDatabase } from './dehydrate/dehydrate-database.js';
import { compareNames } from './dehydrate/read-schema.js';
import { assertBusyTimeout, DEFAULT_BUSY_TIMEOUT_MS } from './sqlite/busy-timeout.js';
import { buildDatabase } from './hydrate/hydrate-database.js';
import { readArchive } from './hydrate/read-archive.js';
import type { RejectedRow } from './hydrate/import-rows.js';
import { commitTempFile, fsyncFile, removeStaleTempFiles, tempPathFor } from './files/atomic-file.js';
import { readManifest, writeManifest, type ManifestEntry } from './manifest/manifest.js';
import type { ProgressListener } from './progress.js';
import { fixDatabases, type FixResult, type FixTarget } from './integrity/fix-databases.js';
import { checkDatabase } from './integrity/classify-database.js';
import { isBusyCode, sqliteCodeOf } from './sqlite/error-codes.js';

/** Options of {@link DBHydrationManager}. */
export interface HydrationManagerOptions {
  /** Directory holding the database files. Default `data`. */
  readonly dataDir?: string;
  /** Directory holding the archives and the manifest. Default `<dataDir>/json_archives`. */
  readonly archiveDir?: string;
  /**
   * Database file names (inside dataDir) to work on, like the seed's DB_FILES. Default: every `*.db`, `*.sqlite` and
   * `*.sqlite3` file directly in dataDir (for hydration: every archive in archiveDir).
   */
  readonly databases?: readonly string[];
  /** How long to wait for a database locked by another connection, in milliseconds. Default 5000. */
  readonly busyTimeoutMs?: number;
  /** How many backups to keep per database when `hydrateAll({ force: true })` replaces it. Default 5. */
  readonly backupsKept?: number;
  /** Receives progress of long work. */
  readonly onProgress?: ProgressListener;
}

/** One database in a {@link DehydrationResult} (the seed's DatabaseResult). */
export interface DatabaseResult {
  readonly archivePath: string;
  readonly tablesExported: number;
  readonly totalRows: number;
  /** Whether the archive file was rewritten (false: the database had not changed since). */
  readonly changed: boolean;
  readonly sha256: string;
}

/** Result of {@link DBHydrationManager.dehydrateAll} (the seed's DehydrationResult). */
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
  /** Rows that violated a constraint and were skipped (seed: "Constraint violations → skip row"). */
  readonly rejectedRows: readonly RejectedRow[];
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
  readonly bytes: number;
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
  readonly totalBytes: number;
  readonly errors: readonly string[];
  readonly errorDetails: readonly ErrorDetail[];
}

/** Options of {@link DBHydrationManager.hydrateAll}. */
export interface HydrateAllOptions {
  /** Replace existing databases (each is backed up first). Default false: existing databases are skipped. */
  readonly force?: boolean;
}

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
  private readonly options: HydrationManagerOptions;

  constructor(options: HydrationManagerOptions = {}) {
    this.options = options;
    this.dataDir = options.dataDir ?? 'data';
    this.archiveDir = options.archiveDir ?? join(this.dataDir, 'json_archives');
    this.manifestPath = join(this.archiveDir, MANIFEST_FILE);
    for (const name of options.databases ?? []) checkDatabaseFileName(name);
    assertBusyTimeout(options.busyTimeoutMs);
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
    const kind = kindOf(this.dataDir);
    if (kind === 'directory') return;
    throw new PathError(
      kind === 'missing'
        ? 'the data directory does not exist'
        : `the data directory is ${kind === 'file' ? 'a file, not a directory' : 'not a directory'}`,
      {
        file: this.dataDir,
        hint:
          kind === 'missing'
            ? 'check --data-dir (or "dataDir" in the config) and the working directory; in a fresh clone, `db-hydration hydrate` creates it from the archives'
            : 'give --data-dir (or "dataDir" in the config) a directory',
      },
    );
  }

  /** Throws a {@link PathError} when archiveDir exists but is not a directory (a missing one holds no archives). */
  private assertArchiveDir(): void {
    const kind = kindOf(this.archiveDir);
    if (kind === 'directory' || kind === 'missing') return;
    throw new PathError(
      `the archive directory is ${kind === 'file' ? 'a file, not a directory' : 'not a directory'}`,
      {
        file: this.archiveDir,
        hint: 'give --archive-dir (or "archiveDir" in the config) a directory, or move that file away',
      },
    );
  }

  /** The archive paths this manager hydrates: one per configured database, or every archive in archiveDir. */
  listArchives(): string[] {
    this.assertArchiveDir();
    if (this.options.databases !== undefined) {
      return this.options.databases.map((n) => join(this.archiveDir, archiveFileNameFor(n)));
    }
    let names: string[];
    try {
      names = readdirSync(this.archiveDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return names
      .filter((n) => n.endsWith('.json') && n !== MANIFEST_FILE && !n.startsWith('.'))
      .sort(compareNames)
      .map((n) => join(this.archiveDir, n));
  }

  /** The archive path for a database file name. */
  archivePathFor(fileName: string): string {
    return join(this.archiveDir, archiveFileNameFor(fileName));
  }

  /** Dehydrates every database into its archive, then updates the manifest. */
  // eslint-disable-next-line @typescript-eslint/require-await
  async dehydrateAll(): Promise<DehydrationResult> {
    return this.dehydrateAllSync();
  }

  /**
   * {@link dehydrateAll}, synchronously: for a `process.on('exit')` handler, which cannot wait for a promise. (All the
   * work is synchronous anyway; a parallel export's helper thread is waited for without the event loop.)
   */
  dehydrateAllSync(): DehydrationResult {
    const timestamp = new Date().toISOString();
    this.assertDataDir();
    this.assertArchiveDir();
    mkdirSync(this.archiveDir, { recursive: true });
    removeStaleTempFiles(this.archiveDir);
    const databases: Record<string, DatabaseResult> = {};
    const errorDetails: ErrorDetail[] = [];
    const entries = this.keptManifestEntries();
    const fileNames = this.listDatabases();
    const byArchive = new Map<string, string[]>();
    for (const f of fileNames)
      byArchive.set(archiveFileNameFor(f), [...(byArchive.get(archiveFileNameFor(f)) ?? []), f]);

    for (const fileName of fileNames) {
      const dbPath = join(this.dataDir, fileName);
      const archivePath = this.archivePathFor(fileName);
      const database = databaseNameOf(fileName);
      try {
        const clash = byArchive.get(archiveFileNameFor(fileName)) ?? [];
        if (clash.length > 1) {
          throw new ArchiveNameError(`${clash.join(' and ')} would share the archive ${archivePath}`, {
            file: dbPath,
            database,
            hint: 'rename one of the databases',
          });
        }
        const outcome = dehydrateDatabase({
          dbPath,
          archivePath,
          database,
          fileName,
          busyTimeoutMs: this.options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
          onProgress: this.options.onProgress,
        });
        databases[fileName] = {
          archivePath,
          tablesExported: outcome.tablesExported,
          totalRows: outcome.totalRows,
          changed: outcome.changed,
          sha256: outcome.sha256,
        };
        entries[fileName] = {
          archive_path: archiveFileNameFor(fileName),
          tables_exported: outcome.tablesExported,
          total_rows: outcome.totalRows,
          sha256: outcome.sha256,
          bytes: outcome.bytes,
          exported_at: outcome.exportedAt,
        };
      } catch (error) {
        // The archive was kept: so is its manifest entry (kept above), if it has one.
        errorDetails.push(toErrorDetail(error, { file: dbPath, database }));
      }
    }
    // The result counts what this run dehydrated; the manifest counts every archive it lists.
    const exported = Object.values(databases);
    const totalTables = exported.reduce((s, d) => s + d.tablesExported, 0);
    const totalRows = exported.reduce((s, d) => s + d.totalRows, 0);
    const errors = errorDetails.map((e) => e.message);
    const listed = Object.values(entries);
    const manifestChanged = writeManifest(this.manifestPath, {
      timestamp,
      databases: entries,
      total_tables: listed.reduce((s, e) => s + e.tables_exported, 0),
      total_rows: listed.reduce((s, e) => s + e.total_rows, 0),
      errors: [],
    });
    return {
      timestamp,
      databases,
      totalTables,
      totalRows,
      errors,
      errorDetails,
      manifestPath: this.manifestPath,
      manifestChanged,
    };
  }

  /**
   * The existing manifest's entries whose archive is still in archiveDir: a run updates the entries of the databases
   * it exports and leaves the others as they were (a `--db` run, a database that could not be read, an archive whose
   * database is not on this machine). `archive_path` is always the archive's file name, whatever an older version
   * wrote there.
   */
  private keptManifestEntries(): Record<string, ManifestEntry> {
    const entries: Record<string, ManifestEntry> = {};
    for (const [fileName, entry] of Object.entries(readManifest(this.manifestPath)?.databases ?? {})) {
      if (!isSafeFileName(fileName) || !hasDatabaseExtension(fileName)) continue;
      if (!existsSync(this.archivePathFor(fileName))) continue;
      entries[fileName] = { ...entry, archive_path: archiveFileNameFor(fileName) };
    }
    return entries;
  }

  /**
   * Hydrates every archive into its database file in dataDir. Missing databases are created; existing ones are
   * skipped unless `force` is given, in which case each is backed up (through SQLite, so WAL content is included)
   * and then replaced atomically.
   */
  async hydrateAll(options: HydrateAllOptions = {}): Promise<HydrationResult> {
    const timestamp = new Date().toISOString();
    // A fresh clone has no data directory yet: hydrate creates it (but not in place of a file).
    if (kindOf(this.dataDir) !== 'missing') this.assertDataDir();
    this.assertArchiveDir();
    mkdirSync(this.dataDir, { recursive: true });
    removeStaleTempFiles(this.dataDir);
    const databases: Record<string, HydratedDatabase> = {};
    const errorDetails: ErrorDetail[] = [];
    for (const archivePath of this.listArchives()) {
      const expectedName = basename(archivePath, '.json');
      let fileName = `${expectedName}.db`;
      try {
        if (!existsSync(archivePath)) {
          throw new ArchiveNameError('no archive for this database', {
            file: archivePath,
            database: expectedName,
            hint: 'run `db-hydration dehydrate` on a machine that has the database',
          });
        }
        const header = peekHeader(archivePath);
        fileName = targetFileName(header, archivePath);
        const dbPath = join(this.dataDir, fileName);
        if (existsSync(dbPath) && !statSync(dbPath).isFile()) {
          // A directory (or socket, ...) is not a database to skip or replace, even with force: it stays where it is.
          const check = checkDatabase(dbPath);
          throw new PathError(`${check.reason}, so it was not hydrated; it was left where it is`, {
            file: dbPath,
            database: header.database,
            hint: check.hint,
          });
        }
        if (existsSync(dbPath) && options.force !== true) {
          // Skipped, but not silently when the file is not a usable database: say so and point at `fix`. Pages are
          // checked (quick_check, one read of the file) when that is cheap; a large file only gets the open check.
          const check = checkDatabase(dbPath, {
            check: statSync(dbPath).size <= SKIP_CHECK_MAX_BYTES ? 'quick' : 'open',
            busyTimeoutMs: this.options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
            expectTables: true,
          });
          if (!check.usable && check.status !== 'locked') {
            errorDetails.push({
              code: 'DATABASE_READ',
              message: `${dbPath}: exists but is ${check.status === 'damaged' ? 'damaged' : 'not a usable database'} (${check.reason}), so it was not hydrated`,
              file: dbPath,
              database: header.database,
              hint: 'run `db-hydration fix` to restore it from its archive (the damaged file is kept aside)',
            });
          }
          databases[fileName] = {
            archivePath,
            dbPath,
            status: 'skipped',
            tablesImported: 0,
            totalRows: 0,
            rejectedRows: [],
          };
          continue;
        }
        let backupPath: string | undefined;
        const outcome = await buildDatabase({
          archivePath,
          dbPath,
          busyTimeoutMs: this.options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
          onProgress: this.options.onProgress,
          checkHeader: (h) => {
            if (targetFileName(h, archivePath) !== fileName)
              throw new ArchiveNameError('the archive changed while it was read', { file: archivePath });
          },
          beforeReplace: async () => {
            if (existsSync(dbPath)) backupPath = await this.backup(dbPath);
          },
        });
        databases[fileName] = {
          archivePath,
          dbPath,
          status: 'hydrated',
          tablesImported: outcome.tablesImported,
          totalRows: outcome.totalRows,
          rejectedRows: outcome.rejectedRows,
          ...(backupPath === undefined ? {} : { backupPath }),
        };
        for (const r of outcome.rejectedRows) {
          errorDetails.push({
            code: 'ROW_REJECTED',
            message: `${archivePath}: line ${r.line}: a row of table "${r.table}" was skipped: ${r.reason}`,
            file: archivePath,
            database: header.database,
            table: r.table,
          });
        }
      } catch (error) {
        errorDetails.push(toErrorDetail(error, { file: archivePath, database: expectedName }));
      }
    }
    const hydrated = Object.values(databases);
    return {
      timestamp,
      databases,
      totalTables: hydrated.reduce((s, d) => s + d.tablesImported, 0),
      totalRows: hydrated.reduce((s, d) => s + d.totalRows, 0),
      errors: errorDetails.map((e) => e.message),
      errorDetails,
    };
  }

  /**
   * Checks every database (those found in dataDir, those the archives hydrate into, or the configured list) and
   * repairs the missing and damaged ones (the seed's `fix_corrupted_dbs`): from the archive when there is one (the
   * damaged file is kept under a `<file>.corrupt-<timestamp>` name first), otherwise by salvaging the readable rows
   * (the damaged file is kept the same way); a missing database without an archive is created empty. Usable
   * databases and all archives are left byte for byte as they were. Problems with a database go into the result; it
   * throws a {@link PathError} only when the data directory does not exist (or the data or archive directory is a
   * file), as a typo in a path must not pass as a successful check.
   */
  async fixCorruptedDbs(): Promise<FixResult> {
    this.assertDataDir();
    this.assertArchiveDir();
    removeStaleTempFiles(this.dataDir);
    const targets = new Map<string, FixTarget>();
    const archiveProblems: ErrorDetail[] = [];
    const archiveFor = (fileName: string): string | undefined => {
      const archivePath = this.archivePathFor(fileName);
      if (!existsSync(archivePath)) return undefined;
      try {
        return targetFileName(peekHeader(archivePath), archivePath) === fileName ? archivePath : undefined;
      } catch (error) {
        archiveProblems.push(toErrorDetail(error, { file: archivePath, database: databaseNameOf(fileName) }));
        return undefined;
      }
    };
    const add = (fileName: string): void => {
      if (targets.has(fileName)) return;
      targets.set(fileName, {
        fileName,
        dbPath: join(this.dataDir, fileName),
        archivePath: archiveFor(fileName),
      });
    };
    if (this.options.databases !== undefined) {
      for (const name of this.options.databases) add(name);
    } else {
      for (const name of scanDatabases(this.dataDir)) add(name);
      for (const archivePath of this.listArchives()) {
        try {
          add(targetFileName(peekHeader(archivePath), archivePath));
        } catch (error) {
          archiveProblems.push(toErrorDetail(error, { file: archivePath }));
        }
      }
    }
    const result = await fixDatabases(
      [...targets.values()].sort((a, b) => compareNames(a.fileName, b.fileName)),
      {
        busyTimeoutMs: this.options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
        onProgress: this.options.onProgress,
      },
    );
    const seen = new Set<string>();
    const problems = archiveProblems.filter((e) => {
      const key = `${e.file ?? ''}\u0000${e.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    if (problems.length === 0) return result;
    const errorDetails = [...problems, ...result.errorDetails];
    return { ...result, errorDetails, errors: errorDetails.map((e) => e.message) };
  }

  /** Reads every archive's header and table sizes (rows are counted, not parsed). */
  // eslint-disable-next-line @typescript-eslint/require-await
  async getArchiveStats(): Promise<ArchiveStats> {
    const archives: ArchiveStat[] = [];
    const errorDetails: ErrorDetail[] = [];
    for (const archivePath of this.listArchives()) {
      try {
        if (!existsSync(archivePath)) {
          throw new PathError('there is no archive for this database', {
            file: archivePath,
            hint: 'check the name (--db or "databases" in the config); `db-hydration dehydrate` creates the archive',
          });
        }
        let header: ArchiveHeader | undefined;
        const tables: Record<string, number> = {};
        for (const event of readArchive(archivePath, { skipRows: true })) {
          if (event.kind === 'header') header = event.header;
          else if (event.kind === 'tableEnd') tables[event.table.name] = event.rows;
        }
        if (header === undefined) continue;
        const fileName = targetFileName(header, archivePath);
        const counts = Object.values(tables);
        archives.push({
          database: header.database,
          fileName,
          archivePath,
          exportedAt: header.exported_at,
          tables,
          tableCount: counts.length,
          totalRows: counts.reduce((s, n) => s + n, 0),
          bytes: statSync(archivePath).size,
          databaseExists: existsSync(join(this.dataDir, fileName)),
        });
      } catch (error) {
        errorDetails.push(toErrorDetail(error, { file: archivePath }));
      }
    }
    return {
      archiveDir: this.archiveDir,
      archives,
      totalArchives: archives.length,
      totalTables: archives.reduce((s, a) => s + a.tableCount, 0),
      totalRows: archives.reduce((s, a) => s + a.totalRows, 0),
      totalBytes: archives.reduce((s, a) => s + a.bytes, 0),
      errors: errorDetails.map((e) => e.message),
      errorDetails,
    };
  }

  /**
   * Backs up a database before it is replaced: `<file>.<timestamp>.bak` beside it (a name no scan picks up), made
   * through SQLite's backup API so content still in a -wal file is included. A file SQLite cannot read is copied
   * byte for byte instead. Older backups beyond `backupsKept` are removed.
   */
  async backup(dbPath: string): Promise<string> {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    let backupPath = `${dbPath}.${stamp}.bak`;
    for (let i = 1; existsSync(backupPath); i++) backupPath = `${dbPath}.${stamp}-${i}.bak`;
    // Written to a temp file and renamed, so a crash never leaves a partial backup that looks complete.
    const temp = tempPathFor(backupPath);
    try {
      try {
        const source = new Database(dbPath, {
          readonly: true,
          fileMustExist: true,
          timeout: this.options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
        });
        try {
          // better-sqlite3 builds SQLite with a 16 MB default page cache; the backup reads each page once, so a small
          // cache costs nothing and keeps the copy out of peak memory.
          source.pragma('cache_size = -1024');
          await source.backup(temp);
        } finally {
          source.close();
        }
      } catch (error) {
        rmSync(temp, { force: true });
        if (isBusyCode(sqliteCodeOf(error))) {
          // A byte copy of a file another connection is writing could be torn: refuse instead.
          throw new HydrationError(
            'DATABASE_LOCKED',
            `the database is in use by another connection (waited ${this.options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS} ms), so it was not backed up or replaced`,
            { file: dbPath, cause: error, hint: 'close the programs using it and run again' },
          );
        }
        // Not a database SQLite can read (damaged, or not SQLite at all): keep its bytes as they are.
        copyFileSync(dbPath, temp);
      }
      fsyncFile(temp);
      commitTempFile(temp, backupPath);
    } catch (error) {
      rmSync(temp, { force: true });
      throw error;
    }
    this.pruneBackups(dbPath);
    return backupPath;
  }

  private pruneBackups(dbPath: string): void {
    const keep = this.options.backupsKept ?? 5;
    const dir = resolve(dbPath, '..');
    const prefix = `${basename(dbPath)}.`;
    // `<file>.<stamp>.bak`, or `<file>.<stamp>-<n>.bak` for the n-th more in the same millisecond: oldest first.
    const backups = readdirSync(dir)
      .filter((n) => n.startsWith(prefix))
      .map((name) => ({
        name,
        m: /^(\d{4}-\d\d-\d\dT[\d-]+Z)(?:-(\d+))?\.bak$/.exec(name.slice(prefix.length)),
      }))
      .filter((b) => b.m !== null)
      .map((b) => ({ name: b.name, stamp: b.m?.[1] ?? '', n: Number(b.m?.[2] ?? 0) }))
      .sort((a, b) => compareNames(a.stamp, b.stamp) || a.n - b.n);
    for (const old of backups.slice(0, Math.max(0, backups.length - keep)))
      rmSync(join(dir, old.name), { force: true });
  }
}

/**
 * The largest database whose pages `hydrateAll` checks (quick_check) before skipping it, so that a damaged one is
 * reported and pointed at `fix`: 64 MiB, a fraction of a second to read. Larger ones get the O(1) open check only.
 */
const SKIP_CHECK_MAX_BYTES = 64 * 1024 * 1024;

/** What stands at a path: a directory, nothing, or something else (a file, ...). */
function kindOf(path: string): 'directory' | 'missing' | 'file' | 'other' {
  try {
    const st = statSync(path);
    return st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'other';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'missing' : 'other';
  }
}

/** The first event of an archive: its header. */
export function peekHeader(archivePath: string): ArchiveHeader {
  const events = readArchive(archivePath, { skipRows: true });
  try {
    const first = events.next();
    if (first.done === true || first.value.kind !== 'header')
      throw new ArchiveNameError('the archive has no header', { file: archivePath });
    return first.value.header;
  } finally {
    events.return(undefined);
  }
}

/**
 * The database file name an archive hydrates into: its `file_name`, or `<archive name>.db` for a plain archive. It
 * must be a plain file name with a database ending whose name part is the archive's own name, so an archive can only
 * ever write its own database inside dataDir.
 */
export function targetFileName(header: ArchiveHeader, archivePath: string): string {
  const archiveName = basename(archivePath, '.json');
  if (!isSafeFileName(header.database)) {
    throw new ArchiveNameError(`the "database" field ${JSON.stringify(header.database)} is not a safe name`, {
      file: archivePath,
    });
  }
  const fileName = header.file_name ?? `${archiveName}.db`;
  if (!isSafeFileName(fileName) || !hasDatabaseExtension(fileName)) {
    throw new ArchiveNameError(
      `"file_name" ${JSON.stringify(fileName)} is not a database file name inside the data directory`,
      { file: archivePath },
    );
  }
  if (databaseNameOf(fileName) !== archiveName) {
    throw new ArchiveNameError(
      `"file_name" ${JSON.stringify(fileName)} does not belong to the archive ${basename(archivePath)}`,
      {
        file: archivePath,
        hint: 'an archive <name>.json hydrates only <name>.db, <name>.sqlite or <name>.sqlite3',
      },
    );
  }
  return fileName;
}

function checkDatabaseFileName(name: string): void {
  if (!isSafeFileName(name) || !hasDatabaseExtension(name)) {
    throw new ArchiveNameError(
      `${JSON.stringify(name)} is not a database file name (a plain name ending in .db, .sqlite or .sqlite3)`,
    );
  }
}

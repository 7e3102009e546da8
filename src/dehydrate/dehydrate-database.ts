/**
 * Dehydration of one database: open it read-only, read everything inside one read transaction (one consistent
 * snapshot, WAL content included), stream it into a temp archive, and put that in place only if it changed.
 */
import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { codecForFileName, IDENTITY_CODEC } from '../archive/codec.js';
import { isEncryptedCodec } from '../archive/age-codec.js';
import type Database from 'better-sqlite3';
import { recoverHotJournal, sizeProblem } from '../sqlite/file-header.js';
import { DatabaseReadError, HydrationError, DatabaseLockedError } from '../errors.js';
import { quoteIdent } from '../sqlite/identifiers.js';
import { checkProblems, checkTables } from '../sqlite/check.js';
import {
  ArchiveWriter,
  SectionMismatchError,
  type ArchiveWriteOutcome,
  type KnownArchive,
} from '../archive/write-archive.js';
import { ARCHIVE_WRITER_REVISION } from '../archive/format.js';
import {
  hashTablePagesNow,
  PageHashing,
  provenUnchanged,
  tablePagesMinBytes,
  type TablePageEntry,
  type TablePageHashes,
  type TablePagesRecord,
} from './table-pages.js';
import type { PageTree } from './page-hash-protocol.js';
import { tableRecords, tableTrees } from './table-records.js';
import type { TableContentHash } from '../archive/table-hashes.js';
import { readDatabasePlan, type DatabasePlan } from './read-schema.js';
import { readSequences, writeTables } from './export-tables.js';
import { describe, openForExport, statDatabaseFile, type ExportContext } from './open-database.js';
import { beginSnapshot } from './parallel-export.js';
import type { ExportHelper } from './export-helper.js';
import type { ExportFaults, ExportUnit } from './parallel-protocol.js';
import type { ProgressListener } from '../progress.js';
import { isBusyCode, isDamageCode, sqliteCodeOf } from '../sqlite/error-codes.js';
import { readFileStamp, stampVouches, type DatabaseFileStamp } from '../sqlite/file-stamp.js';

/** Input of {@link dehydrateDatabase}. */
export interface DehydrateDatabaseOptions {
  readonly dbPath: string;
  readonly archivePath: string;
  /** The database name written to the archive's `database` field. */
  readonly database: string;
  /** The database's file name, written to `file_name`. */
  readonly fileName: string;
  /** How long to wait for a lock held by another connection, in milliseconds. */
  readonly busyTimeoutMs: number;
  readonly onProgress?: ProgressListener | undefined;
  /**
   * Whether a large database may be read by a helper thread too (default true). `verify` reads on one thread: it runs
   * a hydrate and two exports in one process, and the helper's heap would add to its peak RSS.
   */
  readonly parallel?: boolean | undefined;
  /** Faults injected into a parallel export's helper thread: for tests only. */
  readonly faults?: ExportFaults | undefined;
  /** The sync state's hashes of the archive: they tell an unchanged encrypted archive that cannot be decrypted here. */
  readonly known?: KnownArchive | undefined;
  /**
   * The page hashes the last export of this database recorded (the sync state), when `archivePath` is still the
   * archive it wrote: tables whose pages are unchanged are copied from it instead of read (see table-pages.ts).
   */
  readonly previousTables?: TablePagesRecord | undefined;
  /**
   * The manifest's table hashes of that archive, when the manifest lists them for its content: a copied table whose
   * indexes and triggers are unchanged keeps its hash, and only the tables read are hashed again.
   */
  readonly previousTableHashes?: Readonly<Record<string, TableContentHash>> | undefined;
}

/** Result of dehydrating one database. */
export interface DehydrateDatabaseOutcome extends ArchiveWriteOutcome {
  /** Table name → rows exported (plain and shadow tables; virtual tables count 0). */
  readonly rowsPerTable: Readonly<Record<string, number>>;
  readonly tablesExported: number;
  readonly totalRows: number;
  /** Rows read by the helper thread of a parallel export (0 when the export ran on one thread). */
  readonly helperRows: number;
  /**
   * The database file's stamp, taken inside the export's read transaction, when it vouches for the content that was
   * exported (see src/sqlite/file-stamp.ts): while the file keeps this stamp, exporting it again gives the same
   * archive.
   */
  readonly fileStamp?: DatabaseFileStamp;
  /** What to record for the next export: each table's page hash and section (absent when they could not be taken). */
  readonly tablePages?: TablePagesRecord;
  /** Tables whose section was copied from the existing archive, their pages being unchanged (see table-pages.ts). */
  readonly tablesCopied: readonly string[];
  /** The manifest's table hashes of the archive, when tables were copied (else the manifest reads the archive). */
  readonly tableHashes?: Record<string, TableContentHash>;
}

/**
 * A database file this large that may copy tables has its archive hashed on a second thread: copying leaves this
 * thread with little but hashing to do, and a thread costs ~10 ms to start.
 */
const THREAD_HASH_MIN_FILE_BYTES = 32 << 20;

/** The export may not copy tables after all: it starts again as a full export. */
class ReadInFull extends Error {}

/**
 * Dehydrates one database file into its archive.
 * @throws {HydrationError} when the database cannot be read; the existing archive is then left as it was
 */
export function dehydrateDatabase(options: DehydrateDatabaseOptions): DehydrateDatabaseOutcome {
  for (let attempt = 0; ; attempt++) {
    try {
      try {
        return dehydrateOnce(options);
      } catch (error) {
        if (!(error instanceof ReadInFull) && !(error instanceof SectionMismatchError)) throw error;
        return dehydrateOnce({ ...options, previousTables: undefined });
      }
    } catch (error) {
      // A read-only connection cannot roll back a hot journal (SQLITE_READONLY_ROLLBACK). While another process
      // writes, one can be seen for an instant; after a crashed writer it stays. Retry, then let SQLite recover it
      // with a read-write connection (rolling back an unfinished transaction changes no committed content).
      const cause =
        error instanceof HydrationError ? (error.cause as { code?: unknown } | undefined) : undefined;
      if (cause?.code !== 'SQLITE_READONLY_ROLLBACK' || attempt >= 3) throw error;
      if (attempt < 2) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      else recoverHotJournal(options.dbPath, options.busyTimeoutMs);
    }
  }
}

function dehydrateOnce(options: DehydrateDatabaseOptions): DehydrateDatabaseOutcome {
  const { dbPath, archivePath, database } = options;
  const context = { file: dbPath, database };
  const { size, inode } = statDatabaseFile(dbPath, context);
  const db = openForExport(dbPath, options.busyTimeoutMs, context);
  let writer: ArchiveWriter | undefined;
  let helper: ExportHelper | undefined;
  let hashing: PageHashing | undefined;
  try {
    // An export that may copy tables of a large archive hashes the file on a second thread (hash-thread.ts).
    const mayCopy = options.previousTables !== undefined && size >= THREAD_HASH_MIN_FILE_BYTES;
    writer = new ArchiveWriter(archivePath, { known: options.known, hashOnThread: mayCopy });
    db.defaultSafeIntegers(true);
    // Rows are read once, in order: a small page cache (2 MiB instead of 16) serves that as well and keeps peak memory
    // down; the OS page cache holds the file anyway.
    db.pragma('cache_size = -2048');
    // The read transaction, and a helper thread on the same snapshot when the database is large. An encrypted archive
    // is exported on one thread (the helper's part files would be plaintext on disk), and so is one that may copy
    // tables (it checks only the tables it reads). Tables are copied from a plain archive only, and a small
    // database is read in full (the child would cost more).
    const codec = codecForFileName(basename(archivePath));
    const minBytes = tablePagesMinBytes();
    const pagesApply = codec === IDENTITY_CODEC && minBytes !== undefined && size >= minBytes;
    const previous = pagesApply ? options.previousTables : undefined;
    const parallel = !isEncryptedCodec(codec) && options.parallel !== false && previous === undefined;
    helper = beginSnapshot(db, dbPath, size, options.faults, parallel);
    const problems = checkSnapshot(db, dbPath, helper, context, previous === undefined);
    if (problems !== undefined) throwIfDamaged(problems, context);
    // Inside the read transaction: no commit can land between this stamp and the rows read below. Page hashes are only
    // the snapshot's while the file alone holds the database (no -journal, no -wal frames): the stamp is taken only then.
    const stamp = readFileStamp(dbPath);
    const fileStamp = stamp !== undefined && stampVouches(stamp, Date.now()) ? { fileStamp: stamp } : {};
    const plan = readDatabasePlan(db);
    const trees = pagesApply && stamp !== undefined ? tableTrees(db, plan) : [];
    // With a record of the last export: the tables to copy, checking the others; else the hashes to record, taken by a
    // child process while the rows are read.
    const chosen =
      previous === undefined
        ? undefined
        : chooseCopies({ db, plan, trees, previous, dbPath, ino: inode, context });
    const copied = chosen?.copied ?? new Map<string, TablePageEntry>();
    let hashes = chosen?.hashes;
    if (previous === undefined && trees.length >= 2)
      hashing = PageHashing.start(dbPath, trees, writer.tempPath, size);
    const counts = countRows(db, plan, copied);
    const shared = shareUnits(helper, db, plan, counts, writer.tempPath, context);
    const units = shared.units;
    helper = shared.helper;

    writer.writeHeader(database, options.fileName, plan.pragmas);
    const written = writeTables({
      db,
      writer,
      plan,
      counts,
      units,
      helper,
      context,
      onProgress: options.onProgress,
      copied: new Map([...copied].map(([name, e]) => [name, { path: archivePath, ...e }])),
    });
    if (helper !== undefined) {
      finishHelper(helper, db, { dbPath, inode, helperRows: written.helperRows, context });
      helper = undefined;
    }
    writer.writeFooter(readSequences(db, plan, context), plan.objects, plan.schemaOrder);
    // Before the read transaction ends: the child's answer is about this snapshot only while it lasts.
    hashes ??= hashing?.wait();
    hashing = undefined;
    db.exec('COMMIT');
    db.close();
    const outcome = writer.commit();
    const tables = tableRecords(hashes, { trees, plan, writer, copied, written, options });
    return {
      ...outcome,
      ...written,
      tablesExported: plan.tables.length,
      ...fileStamp,
      ...tables,
      tablesCopied: [...copied.keys()],
    };
  } catch (error) {
    hashing?.cancel();
    return failed(error, { db, writer, helper, busyTimeoutMs: options.busyTimeoutMs, context });
  }
}

/**
 * Checks the snapshot before any row is read: the header and the size, and (on one thread) every page with
 * quick_check. Returns quick_check's problems, or `undefined` when the helper thread runs the check.
 * @throws {DatabaseReadError} when the header or the size show damage
 */
function checkSnapshot(
  db: Database.Database,
  dbPath: string,
  helper: ExportHelper | undefined,
  context: ExportContext,
  wholeFile: boolean,
): readonly string[] | undefined {
  // A damaged file must never replace a good archive (Property 5). Reading rows proves little: damaged index
  // or interior pages can go unnoticed, so every page is checked, inside the same snapshot. quick_check is O(N),
  // about the cost of one more scan; integrity_check would add an index lookup per row. On one thread it runs
  // first; with a helper thread, the helper runs it while this thread reads rows.
  // An export that may copy tables checks the tables it reads, once it knows them.
  const problems = helper === undefined && wholeFile ? checkProblems(db, 'quick_check', 5) : undefined;
  // SQLite reads a page missing from a cut file as zeros, which quick_check can miss; the header and size show it.
  // The read transaction holds the shared lock here, so no writer is half-way through a commit.
  const headerProblem = sizeProblem(db, dbPath);
  if (headerProblem !== undefined) {
    throw new DatabaseReadError(
      `the database is damaged (${headerProblem}); its archive was kept as it was`,
      {
        ...context,
        hint: 'run `db-hydration fix` to restore it from its archive',
      },
    );
  }
  return problems;
}

/**
 * The units of work, shared with the helper thread when there is one; without it (it could not take them) every page
 * is checked here.
 */
function shareUnits(
  helper: ExportHelper | undefined,
  db: Database.Database,
  plan: DatabasePlan,
  counts: readonly number[],
  tempPath: string,
  context: ExportContext,
): { units: readonly ExportUnit[]; helper: ExportHelper | undefined } {
  const units = plan.tables.map((_, index) => ({ table: index }));
  if (helper === undefined) return { units, helper };
  const shared = helper.share(db, plan.tables, counts, plan.pragmas.encoding, tempPath);
  if (shared !== undefined) return { units: shared, helper };
  throwIfDamaged(checkProblems(db, 'quick_check', 5), context);
  return { units, helper: undefined };
}

/**
 * The tables whose sections are copied from the last export's archive (their pages and schema unchanged: see
 * table-pages.ts), with the page hashes now; the tables to be read are checked with quick_check.
 * @throws {ReadInFull} when no table can be copied (the export then starts again, in full)
 * @throws {DatabaseReadError} when a table to be read is damaged
 */
function chooseCopies(run: {
  db: Database.Database;
  plan: DatabasePlan;
  trees: readonly (PageTree & { sql: string })[];
  previous: TablePagesRecord;
  dbPath: string;
  ino: number;
  context: ExportContext;
}): { copied: Map<string, TablePageEntry>; hashes: TablePageHashes } {
  const hashes = run.trees.length >= 2 ? hashTablePagesNow(run.dbPath, run.ino, run.trees) : undefined;
  if (hashes === undefined) throw new ReadInFull();
  const current = new Map(run.trees.map((t) => [t.name, { root: t.root, sql: t.sql }]));
  const copied = provenUnchanged(run.previous, hashes, current, ARCHIVE_WRITER_REVISION);
  if (copied.size === 0) throw new ReadInFull();
  const read = run.plan.tables
    .filter((t) => t.selectSql !== undefined && !copied.has(t.name))
    .map((t) => t.name);
  throwIfDamaged(checkTables(run.db, read, 5), run.context);
  return { copied, hashes };
}

/** Rows per table of the plan (0 for virtual tables; a copied table's as recorded, its pages being unchanged). */
function countRows(
  db: Database.Database,
  plan: DatabasePlan,
  copied: ReadonlyMap<string, TablePageEntry>,
): number[] {
  return plan.tables.map((table) =>
    table.selectSql === undefined
      ? 0
      : (copied.get(table.name)?.rows ??
        Number(
          db
            .prepare(`SELECT count(*) FROM main.${quoteIdent(table.name)}`)
            .pluck()
            .get(),
        )),
  );
}

/**
 * Takes the helper's quick_check result and stops it; then the file must still be the one this connection has open.
 * @throws {DatabaseReadError} when the check found damage or the file was replaced
 */
function finishHelper(
  helper: ExportHelper,
  db: Database.Database,
  run: { dbPath: string; inode: number; helperRows: number; context: ExportContext },
): void {
  const problems = helper.checkResult() ?? checkProblems(db, 'quick_check', 5);
  helper.stop();
  throwIfDamaged(problems, run.context);
  // The helper opened the file by its path: it must still be the file this connection has open.
  if (run.helperRows > 0 && statSync(run.dbPath).ino !== run.inode) {
    throw new DatabaseReadError(
      'the database file was replaced while it was read; its archive was kept as it was',
      { ...run.context, hint: 'run the command again' },
    );
  }
}

/**
 * Cleans up after a failed export (helper, temp archive, connection) and throws the error in words.
 * @throws {HydrationError} always
 */
function failed(
  error: unknown,
  run: {
    db: Database.Database;
    writer: ArchiveWriter | undefined;
    helper: ExportHelper | undefined;
    busyTimeoutMs: number;
    context: ExportContext;
  },
): never {
  const { db, helper, context } = run;
  if (error instanceof ReadInFull || error instanceof SectionMismatchError) {
    // Not a failure: the export starts again, in full.
    helper?.stop();
    run.writer?.abort();
    if (db.open) db.close();
    throw error;
  }
  // Reading may meet damage before quick_check has reported it (with a helper thread, the check runs alongside):
  // report it as the check words it.
  const damage = isCorruption(error) ? damageFound(helper, db) : undefined;
  helper?.stop();
  run.writer?.abort();
  if (db.open) db.close();
  if (damage !== undefined) throwIfDamaged(damage, context);
  if (error instanceof HydrationError) throw error;
  if (isBusy(error)) {
    throw new DatabaseLockedError(
      `the database is locked by another connection (waited ${run.busyTimeoutMs} ms); it was skipped and its archive was kept as it was`,
      {
        ...context,
        cause: error,
        hint: 'close the program holding the lock, or raise busyTimeoutMs, and run again',
      },
    );
  }
  throw new DatabaseReadError(`cannot dehydrate: ${describe(error)}; the archive was kept as it was`, {
    ...context,
    cause: error,
    hint: isCorruption(error) ? 'the database looks damaged: run `db-hydration fix`' : undefined,
  } as const);
}

/** quick_check's problems, from the helper if it ran the check, else checked here; `undefined` if unknown. */
function damageFound(helper: ExportHelper | undefined, db: Database.Database): readonly string[] | undefined {
  try {
    const problems = helper?.checkResult() ?? (db.open ? checkProblems(db, 'quick_check', 5) : undefined);
    return problems !== undefined && problems.length > 0 ? problems : undefined;
  } catch {
    return undefined;
  }
}

function throwIfDamaged(problems: readonly string[], context: { file: string; database: string }): void {
  if (problems.length === 0) return;
  throw new DatabaseReadError(
    `the database is damaged (quick_check: ${problems.join('; ')}); it was not exported and its archive was kept as it was`,
    { ...context, hint: 'run `db-hydration fix` to restore it from its archive' },
  );
}

function isBusy(error: unknown): boolean {
  return isBusyCode(sqliteCodeOf(error));
}

function isCorruption(error: unknown): boolean {
  return isDamageCode(sqliteCodeOf(error));
}

/**
 * Repair of damaged and missing databases.
 *
 * For each database: classify it; leave usable ones alone (byte for byte). A missing or damaged one is restored from
 * its archive when there is one: the damaged file (with its -wal, -shm and -journal) is first kept under a quarantine
 * name, then the new database is built in a temp file, checked, and renamed into place, then checked again with
 * `integrity_check`. Without an archive, the readable rows of a damaged database are salvaged into a rebuilt one and
 * the damaged file is kept the same way; a missing database is created empty. Archives are only read.
 */
import { existsSync, rmSync, statSync } from 'node:fs';
import Database from 'better-sqlite3';
import { checkProblems } from '../sqlite/check.js';
import { DEFAULT_BUSY_TIMEOUT_MS } from '../sqlite/busy-timeout.js';
import {
  HydrationError,
  PathError,
  toErrorDetail,
  type ErrorContext,
  type ErrorDetail,
  type HydrationErrorCode,
} from '../errors.js';
import { commitTempFile, fsyncFile, tempPathFor } from '../files/atomic-file.js';
import { buildDatabase } from '../hydrate/hydrate-database.js';
import { assertReplaceable } from '../hydrate/replace-database.js';
import { readArchive } from '../archive/read-archive.js';
import type { ProgressListener } from '../progress.js';
import { checkDatabase, isNotAFile, type DatabaseCheck } from './classify-database.js';
import { quarantine } from './quarantine.js';
import { salvageDatabase, type SalvageOutcome } from './salvage-rows.js';

/** One database to check and, if needed, repair. */
export interface FixTarget {
  /** The database file name, e.g. `shop.db`. */
  readonly fileName: string;
  readonly dbPath: string;
  /** Its archive, when one exists and belongs to this database file. */
  readonly archivePath?: string | undefined;
}

/** What was done to one database. */
export type FixAction =
  /** Usable as it is: not touched. */
  | 'none'
  /** Replaced by a fresh build from its archive. */
  | 'restored'
  /** Rebuilt from the rows that could still be read (no archive). */
  | 'salvaged'
  /** Created empty (missing, no archive). */
  | 'created'
  /** Not repaired (locked, unreadable, not a file, or nothing to repair it from); see the errors. */
  | 'skipped'
  /** The repair failed; the file is as it was. */
  | 'failed';

/** The outcome for one database. */
export interface FixDetail {
  readonly fileName: string;
  readonly dbPath: string;
  readonly archivePath?: string;
  /** The classification before any repair. */
  readonly check: DatabaseCheck;
  readonly action: FixAction;
  /** Where the damaged file and its -wal/-shm/-journal were kept. */
  readonly quarantined: readonly string[];
  /** Per-table result of a salvage. */
  readonly salvage?: SalvageOutcome;
  /** `integrity_check` of the repaired database: 'ok' or the first problem. */
  readonly integrity?: string;
}

/** Result of a fix run: `checked`, `corrupted`, `fixed`, `errors` plus details. */
export interface FixResult {
  readonly timestamp: string;
  /** File names of every database checked. */
  readonly checked: readonly string[];
  /** File names of the databases found missing or damaged. */
  readonly corrupted: readonly string[];
  /** File names of the databases repaired (restored, salvaged or created). */
  readonly fixed: readonly string[];
  /** One message per error, each naming the file. */
  readonly errors: readonly string[];
  readonly errorDetails: readonly ErrorDetail[];
  /** Keyed by database file name. */
  readonly details: Readonly<Record<string, FixDetail>>;
}

/** Options of {@link fixDatabases}. */
export interface FixDatabasesOptions {
  readonly busyTimeoutMs?: number;
  readonly onProgress?: ProgressListener | undefined;
  /** Called right before a database file is replaced, with the connection-free path (e.g. to back it up). */
  readonly beforeReplace?: (dbPath: string) => void | Promise<void>;
}

/** What a fix run collects, target by target. */
interface FixRun {
  readonly timestamp: string;
  readonly busyTimeoutMs: number;
  readonly options: FixDatabasesOptions;
  readonly checked: string[];
  readonly corrupted: string[];
  readonly fixed: string[];
  readonly errorDetails: ErrorDetail[];
  readonly details: Record<string, FixDetail>;
}

/** One target being fixed: where it is, what the check found, and how its outcome is recorded. */
interface FixStep {
  readonly target: FixTarget;
  readonly context: ErrorContext;
  readonly check: DatabaseCheck;
  readonly record: (detail: Omit<FixDetail, 'fileName' | 'dbPath' | 'check' | 'archivePath'>) => void;
}

/** Checks each target and repairs the missing and damaged ones. Never throws: every problem goes into the result. */
export async function fixDatabases(
  targets: readonly FixTarget[],
  options: FixDatabasesOptions = {},
): Promise<FixResult> {
  const run: FixRun = {
    timestamp: new Date().toISOString(),
    busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
    options,
    checked: [],
    corrupted: [],
    fixed: [],
    errorDetails: [],
    details: {},
  };
  for (const target of targets) await fixOne(run, target);
  const { timestamp, checked, corrupted, fixed, errorDetails, details } = run;
  return {
    timestamp,
    checked,
    corrupted,
    fixed,
    errors: errorDetails.map((e) => e.message),
    errorDetails,
    details,
  };
}

/** Checks one target and, when it is missing or damaged, repairs it. */
async function fixOne(run: FixRun, target: FixTarget): Promise<void> {
  const { fileName, dbPath, archivePath } = target;
  const database = fileName.replace(/\.(db|sqlite3?)$/i, '');
  const context = { file: dbPath, database };
  let check: DatabaseCheck;
  try {
    const expectTables = archivePath !== undefined && archiveHasTables(archivePath);
    check = checkDatabase(dbPath, { busyTimeoutMs: run.busyTimeoutMs, expectTables });
  } catch (error) {
    run.errorDetails.push(toErrorDetail(error, { file: archivePath ?? dbPath, database }));
    return;
  }
  run.checked.push(fileName);
  const base = { fileName, dbPath, check, ...(archivePath === undefined ? {} : { archivePath }) };
  const step: FixStep = {
    target,
    context,
    check,
    record: (detail) => {
      run.details[fileName] = { ...base, ...detail };
    },
  };
  if (check.usable) step.record({ action: 'none', quarantined: [] });
  else if (!leaveAlone(run, step)) await repair(run, step);
}

/**
 * The states fix must not touch: a locked or unreadable file (it was not checked), and something that is not a file
 * (a directory is someone's, not a damaged database). Reports them and returns true.
 */
function leaveAlone(run: FixRun, { check, context, record }: FixStep): boolean {
  if (check.status === 'locked' || check.status === 'unreadable') {
    run.errorDetails.push(
      problem(
        check.status === 'locked' ? 'DATABASE_LOCKED' : 'DATABASE_READ',
        `${check.reason}; it was not checked or changed`,
        { ...context, hint: check.hint },
      ),
    );
  } else if (isNotAFile(check)) {
    run.errorDetails.push(
      toErrorDetail(
        new PathError(`${check.reason}; it was left where it is and no database was created`, {
          ...context,
          hint: check.hint,
        }),
      ),
    );
  } else return false;
  record({ action: 'skipped', quarantined: [] });
  return true;
}

/** Repairs a missing or damaged database: from its archive, as a new empty file, or by salvaging its rows. */
async function repair(run: FixRun, step: FixStep): Promise<void> {
  const { target, check, context, record } = step;
  const { fileName, dbPath, archivePath } = target;
  run.corrupted.push(fileName);
  const quarantined: string[] = [];
  try {
    if (archivePath !== undefined) await restore(run, step, archivePath, quarantined);
    else if (check.status === 'missing') {
      // A -wal left without its database would be applied to the new file by SQLite: keep it aside first.
      quarantined.push(...quarantine(dbPath, run.timestamp));
      createEmpty(dbPath);
      const integrity = integrityOf(dbPath);
      if (integrity !== 'ok') {
        run.errorDetails.push(
          problem('DATABASE_WRITE', `created empty, but integrity_check says: ${integrity}`, context),
        );
      } else run.fixed.push(fileName);
      record({ action: 'created', quarantined, integrity });
    } else if (check.status === 'damaged' && existsSync(dbPath) && statSync(dbPath).size > 0) {
      salvage(run, step, quarantined);
    } else {
      run.errorDetails.push(
        problem(
          'DATABASE_READ',
          `${check.reason}, and there is no archive to restore it from; it was left as it is`,
          {
            ...context,
            hint: check.hint,
          },
        ),
      );
      record({ action: 'skipped', quarantined });
    }
  } catch (error) {
    run.errorDetails.push(toErrorDetail(error, { ...context, code: 'DATABASE_WRITE' }));
    record({ action: 'failed', quarantined });
  }
}

/** Rebuilds the database from its archive; the damaged file goes to quarantine right before the replace. */
async function restore(
  run: FixRun,
  step: FixStep,
  archivePath: string,
  quarantined: string[],
): Promise<void> {
  const { dbPath, fileName } = step.target;
  await buildDatabase({
    archivePath,
    dbPath,
    busyTimeoutMs: run.busyTimeoutMs,
    onProgress: run.options.onProgress,
    beforeReplace: async () => {
      await run.options.beforeReplace?.(dbPath);
      quarantined.push(...quarantine(dbPath, run.timestamp));
    },
  });
  const integrity = integrityOf(dbPath);
  if (integrity !== 'ok') {
    run.errorDetails.push(
      problem(
        'DATABASE_WRITE',
        `restored from ${archivePath}, but integrity_check says: ${integrity}`,
        step.context,
      ),
    );
  } else run.fixed.push(fileName);
  step.record({ action: 'restored', quarantined, integrity });
}

/** Salvages the readable rows of a damaged database without an archive, reporting each table that lost rows. */
function salvage(run: FixRun, step: FixStep, quarantined: string[]): void {
  const { dbPath, fileName } = step.target;
  const result = salvageInto(dbPath, run.timestamp, run.busyTimeoutMs, quarantined);
  const integrity = integrityOf(dbPath);
  for (const t of result.tables) {
    if (t.complete && t.lost === 0) continue;
    run.errorDetails.push(
      problem(
        'DATABASE_READ',
        `salvaged ${t.recovered} rows of table "${t.table}"; ${t.lost === null ? 'an unknown number of rows' : `${t.lost} rows`} could not be read (${t.problems[0] ?? 'damaged pages'})`,
        { ...step.context, table: t.table, hint: `the damaged file is kept as ${quarantined[0] ?? ''}` },
      ),
    );
  }
  for (const o of result.failedObjects) {
    run.errorDetails.push(
      problem('DATABASE_WRITE', `${o.type} "${o.name}" could not be recreated: ${o.reason}`, step.context),
    );
  }
  run.fixed.push(fileName);
  step.record({ action: 'salvaged', quarantined, salvage: result, integrity });
}

function problem(code: HydrationErrorCode, message: string, context: ErrorContext): ErrorDetail {
  return toErrorDetail(new HydrationError(code, message, context));
}

function salvageInto(
  dbPath: string,
  timestamp: string,
  busyTimeoutMs: number,
  quarantined: string[],
): SalvageOutcome {
  const temp = tempPathFor(dbPath);
  try {
    const outcome = salvageDatabase(dbPath, temp, busyTimeoutMs);
    fsyncFile(temp);
    assertReplaceable(dbPath, busyTimeoutMs);
    quarantined.push(...quarantine(dbPath, timestamp));
    commitTempFile(temp, dbPath);
    return outcome;
  } catch (error) {
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(temp + suffix, { force: true });
    throw error;
  }
}

function createEmpty(dbPath: string): void {
  const temp = tempPathFor(dbPath);
  try {
    const db = new Database(temp);
    // Writing the header makes it a one-page SQLite file rather than a zero-byte one.
    db.pragma('user_version = 0');
    db.close();
    fsyncFile(temp);
    commitTempFile(temp, dbPath);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/** `PRAGMA integrity_check` of a database: 'ok' or its first problem. */
export function integrityOf(dbPath: string): string {
  try {
    const db = new Database(dbPath, { readonly: true, fileMustExist: true });
    try {
      const problems = checkProblems(db, 'integrity_check', 10);
      return problems.length === 0 ? 'ok' : problems.join('; ');
    } finally {
      db.close();
    }
  } catch (error) {
    return (error as Error).message;
  }
}

function archiveHasTables(archivePath: string): boolean {
  try {
    for (const event of readArchive(archivePath, { skipRows: true })) if (event.kind === 'table') return true;
  } catch {
    // A bad archive holds no usable tables; hydration from it reports the problem.
  }
  return false;
}

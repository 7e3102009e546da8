/**
 * Writing the tables' rows and the AUTOINCREMENT counters into the archive, inside the export's read transaction.
 * Rows come from this thread's connection, or from the part files of a helper thread (see parallel-export.ts).
 */
import { rmSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { DatabaseReadError } from '../errors.js';
import { encodeValue, type SqliteValue } from '../codec/value-codec.js';
import type { ProgressListener } from '../progress.js';
import type { ArchiveWriter } from '../archive/write-archive.js';
import { exportRows } from './export-rows.js';
import type { DatabasePlan, TablePlan } from './read-schema.js';
import type { ExportHelper } from './export-helper.js';
import type { ExportUnit } from './parallel-protocol.js';
import type { ExportContext } from './open-database.js';

/** What {@link writeTables} needs. */
export interface TablesExport {
  readonly db: Database.Database;
  readonly writer: ArchiveWriter;
  readonly plan: DatabasePlan;
  /** Rows per table, counted in the snapshot. */
  readonly counts: readonly number[];
  /** The units of work, in archive order. */
  readonly units: readonly ExportUnit[];
  readonly helper: ExportHelper | undefined;
  readonly context: ExportContext;
  readonly onProgress?: ProgressListener | undefined;
  /** Tables whose section is copied from an archive (their pages unchanged since it was written), by name. */
  readonly copied?: ReadonlyMap<string, { path: string; start: number; end: number; rows: number }>;
}

/** Rows written. */
export interface TablesWritten {
  readonly rowsPerTable: Readonly<Record<string, number>>;
  readonly totalRows: number;
  /** Rows the helper thread read. */
  readonly helperRows: number;
}

/**
 * Writes every table, unit by unit: the units the helper claimed are appended from its part files, the others read
 * here.
 * @throws {DatabaseReadError} when a table holds another number of rows than was counted
 */
export function writeTables(job: TablesExport): TablesWritten {
  const rowsPerTable: Record<string, number> = {};
  let totalRows = 0;
  let helperRows = 0;
  let next = 0;
  for (const [index, table] of job.plan.tables.entries()) {
    const rowTotal = job.counts[index] ?? 0;
    const progress = (rowsDone: number): void =>
      job.onProgress?.({
        phase: 'dehydrate',
        database: job.context.database,
        table: table.name,
        rowsDone,
        rowsTotal: rowTotal,
      });
    progress(0);
    const meta = {
      name: table.name,
      schema: table.sql,
      type: table.kind,
      ...(table.rowidKey === undefined ? {} : { rowid_key: table.rowidKey }),
      row_count: rowTotal,
    };
    const copy = job.copied?.get(table.name);
    if (copy !== undefined) {
      // Its units (one: a database that copies tables is read on one thread) are not read.
      while (job.units[next]?.table === index) next++;
      job.writer.copyTable(meta, copy);
      rowsPerTable[table.name] = copy.rows;
      totalRows += copy.rows;
      progress(copy.rows);
      continue;
    }
    job.writer.beginTable(meta);
    let written = 0;
    for (let unit = job.units[next]; unit?.table === index; unit = job.units[++next]) {
      const fromHelper = takeFromHelper(job.helper, next, () => written, progress);
      if (fromHelper !== undefined) {
        job.writer.appendRowsFile(fromHelper.path, fromHelper.rows);
        rmSync(fromHelper.path, { force: true });
        written += fromHelper.rows;
        helperRows += fromHelper.rows;
        progress(written);
        continue;
      }
      written += readUnit(job, table, unit, written, progress);
    }
    if (written !== rowTotal) {
      throw new DatabaseReadError(
        `table "${table.name}" changed while it was read (${rowTotal} rows counted, ${written} read)`,
        job.context,
      );
    }
    job.writer.endTable();
    rowsPerTable[table.name] = written;
    totalRows += written;
    progress(written);
  }
  return { rowsPerTable, totalRows, helperRows };
}

/** The helper's rows of unit `index`, when the helper claimed it and finished it. */
function takeFromHelper(
  helper: ExportHelper | undefined,
  index: number,
  written: () => number,
  progress: (rowsDone: number) => void,
): { rows: number; path: string } | undefined {
  if (helper?.claim(index) !== false) return undefined;
  return helper.takeUnit(index, () => {
    progress(written() + helper.rowsInFlight());
  });
}

/** Reads one unit on this thread, straight into the archive; returns the rows read. */
function readUnit(
  job: TablesExport,
  table: TablePlan,
  unit: ExportUnit,
  before: number,
  progress: (rowsDone: number) => void,
): number {
  const writer = job.writer;
  return exportRows(
    job.db,
    table,
    job.plan.pragmas.encoding,
    (line) => {
      writer.writeRow(line);
    },
    (rowsDone) => {
      progress(before + rowsDone);
    },
    unit.range,
    // Beside a helper thread, this thread reads row by row: its heap then stays small (see exportRows).
    job.helper === undefined,
  );
}

/**
 * The AUTOINCREMENT counters, as the archive keeps them.
 * @throws {DatabaseReadError} when sqlite_sequence holds a row SQLite never writes
 */
export function readSequences(
  db: Database.Database,
  plan: DatabasePlan,
  context: ExportContext,
): (readonly [string, string])[] {
  const sequenceRows = plan.hasSequenceTable
    ? (db.prepare('SELECT name, seq FROM main.sqlite_sequence ORDER BY name, rowid').raw(true).all() as [
        SqliteValue,
        SqliteValue,
      ][])
    : [];
  // The archive keeps the counters as an object keyed by table name: SQLite writes one row per table, named as
  // text. A row edited into another shape cannot be kept as it is, and is not dropped silently either.
  const seen = new Set<string>();
  for (const [name] of sequenceRows) {
    if (typeof name !== 'string' || seen.has(name)) {
      throw new DatabaseReadError(
        `sqlite_sequence holds ${typeof name === 'string' ? `two rows for "${name}"` : `a row whose name is not text (${String(name)})`}, which SQLite never writes; the archive was kept as it was`,
        {
          ...context,
          hint: 'delete the stray row (DELETE FROM sqlite_sequence WHERE ...) and run again',
        },
      );
    }
    seen.add(name);
  }
  return sequenceRows.map(([name, seq]) => [name as string, encodeValue(seq, false)] as const);
}

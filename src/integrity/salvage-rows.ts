/**
 * Salvage: rebuilds a damaged database that has no archive from whatever can still be read.
 *
 * The schema is read from sqlite_schema and recreated in a new file; then each table's rows are copied in rowid
 * order with `SELECT rowid, * ... WHERE rowid >= ? ORDER BY rowid`. When reading stops with an error (a corrupt page
 * raises SQLITE_CORRUPT), the copy re-seeks past the failing rowid: it probes ever larger rowids until one can be
 * read again, narrows the gap by bisection, and goes on from there. Rows on damaged pages are lost; everything else
 * is kept. (Debian's `sqlite3 .recover` failed on such files, and this build has no `sqlite_dbpage`, so the recovery
 * works through ordinary queries.) Indexes, views and triggers are recreated after the rows.
 *
 * Values are copied through JavaScript with BigInt integers, so they are exact, except TEXT that is not valid UTF-8,
 * which comes back with U+FFFD replacement characters.
 */
import Database from 'better-sqlite3';
import { quoteIdent, unshadowedRowidName } from '../sqlite/identifiers.js';
import { DEFAULT_BUSY_TIMEOUT_MS } from '../sqlite/busy-timeout.js';

/** What the salvage of one table achieved. */
export interface TableSalvage {
  readonly table: string;
  /** Rows copied into the rebuilt database. */
  readonly recovered: number;
  /** Rows the damaged file claims to hold (`count(*)`), or null when even that cannot be read. */
  readonly expected: number | null;
  /** Rows that could not be recovered (`expected - recovered`), or null when unknown. */
  readonly lost: number | null;
  /** Whether every row was read without an error. */
  readonly complete: boolean;
  /** What went wrong, in order. */
  readonly problems: readonly string[];
}

/** The result of {@link salvageDatabase}. */
export interface SalvageOutcome {
  readonly tables: readonly TableSalvage[];
  /** Schema objects (tables, indexes, views, triggers) that could not be recreated, with the reason. */
  readonly failedObjects: readonly {
    readonly type: string;
    readonly name: string;
    readonly reason: string;
  }[];
  /** Whether everything was recovered. */
  readonly complete: boolean;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const MAX_PASSES = 1_000_000;

interface SchemaEntry {
  readonly type: string;
  readonly name: string;
  readonly tbl_name: string;
  readonly sql: string | null;
}

/**
 * Copies every readable row of `sourcePath` into a new database at `targetPath` (which must not exist). The source is
 * opened read-only and never changed.
 * @throws when the source cannot be opened at all or the target cannot be written
 */
export function salvageDatabase(
  sourcePath: string,
  targetPath: string,
  busyTimeoutMs = DEFAULT_BUSY_TIMEOUT_MS,
): SalvageOutcome {
  const source = new Database(sourcePath, { readonly: true, fileMustExist: true, timeout: busyTimeoutMs });
  let target: Database.Database;
  try {
    target = new Database(targetPath);
  } catch (error) {
    source.close();
    throw error;
  }
  try {
    source.defaultSafeIntegers(true);
    target.defaultSafeIntegers(true);
    const failedObjects: { type: string; name: string; reason: string }[] = [];
    const schemaProblems: string[] = [];
    const schema = readSchema(source, schemaProblems);
    copyFileSettings(source, target);
    target.pragma('journal_mode = MEMORY');
    target.pragma('synchronous = OFF');
    target.pragma('foreign_keys = OFF');
    target.unsafeMode(true);
    target.exec('BEGIN');

    const results = copyTables(source, target, schema, failedObjects);
    createObjects(target, schema, failedObjects);
    for (const p of ['user_version', 'application_id']) {
      try {
        target.pragma(`${p} = ${Number(source.pragma(p, { simple: true }))}`);
      } catch {
        // The header of a damaged file may not answer; the default stays.
      }
    }
    target.exec('COMMIT');
    target.unsafeMode(false);
    if (schemaProblems.length > 0) {
      results.unshift({
        table: 'sqlite_schema',
        recovered: schema.length,
        expected: null,
        lost: null,
        complete: false,
        problems: schemaProblems,
      });
    }
    return {
      tables: results,
      failedObjects,
      complete: failedObjects.length === 0 && results.every((r) => r.complete && r.lost === 0),
    };
  } finally {
    if (target.inTransaction) target.exec('ROLLBACK');
    target.close();
    source.close();
  }
}

/** Creates every table of the damaged file's schema in the new file and copies the rows it can read. */
function copyTables(
  source: Database.Database,
  target: Database.Database,
  schema: readonly SchemaEntry[],
  failedObjects: { type: string; name: string; reason: string }[],
): TableSalvage[] {
  const kinds = tableKinds(source);
  const tables = schema.filter((e) => e.type === 'table' && e.sql !== null && !e.name.startsWith('sqlite_'));
  // Virtual tables first: creating one creates its shadow tables, which are then refilled like any table.
  const ordered = [
    ...tables.filter((t) => kinds.get(t.name) === 'virtual'),
    ...tables.filter((t) => kinds.get(t.name) !== 'virtual' && kinds.get(t.name) !== 'shadow'),
  ];
  for (const t of ordered) {
    try {
      target.exec(t.sql ?? '');
    } catch (error) {
      failedObjects.push({ type: 'table', name: t.name, reason: (error as Error).message });
    }
  }
  const results: TableSalvage[] = [];
  const copied = [
    ...tables.filter((t) => kinds.get(t.name) !== 'virtual'),
    ...schema.filter((e) => e.type === 'table' && e.name === 'sqlite_sequence'),
  ];
  for (const t of copied) {
    if (!existsIn(target, t.name)) continue;
    target.exec(`DELETE FROM main.${quoteIdent(t.name)}`);
    results.push(copyTable(source, target, t.name));
  }
  return results;
}

/** Creates the indexes, views and triggers after the rows, so triggers never fire while rows are copied. */
function createObjects(
  target: Database.Database,
  schema: readonly SchemaEntry[],
  failedObjects: { type: string; name: string; reason: string }[],
): void {
  for (const e of schema) {
    if (e.type === 'table' || e.sql === null) continue;
    try {
      target.exec(e.sql);
    } catch (error) {
      failedObjects.push({ type: e.type, name: e.name, reason: (error as Error).message });
    }
  }
}

function readSchema(source: Database.Database, problems: string[]): SchemaEntry[] {
  try {
    return source
      .prepare('SELECT type, name, tbl_name, sql FROM main.sqlite_schema ORDER BY rowid')
      .all() as SchemaEntry[];
  } catch (error) {
    problems.push(`sqlite_schema cannot be read in full: ${(error as Error).message}`);
  }
  // Read the schema table around its damaged pages, like any other table.
  const out: SchemaEntry[] = [];
  readAround(source, 'sqlite_schema', 'rowid', ['type', 'name', 'tbl_name', 'sql'], problems, (row) => {
    const [, type, name, tbl_name, sql] = row as [bigint, string, string, string, string | null];
    out.push({ type, name, tbl_name, sql });
  });
  return out;
}

function tableKinds(source: Database.Database): Map<string, string> {
  const kinds = new Map<string, string>();
  try {
    const rows = source
      .prepare("SELECT name, type FROM pragma_table_list WHERE schema = 'main'")
      .raw(true)
      .all() as [string, string][];
    for (const [name, type] of rows) kinds.set(name, type);
  } catch {
    // Unknown kinds are copied as plain tables.
  }
  return kinds;
}

function copyFileSettings(source: Database.Database, target: Database.Database): void {
  for (const p of ['encoding', 'page_size', 'auto_vacuum']) {
    try {
      const v = source.pragma(p, { simple: true }) as string | bigint;
      target.pragma(typeof v === 'string' ? `${p} = '${v}'` : `${p} = ${v}`);
    } catch {
      // Keep SQLite's default.
    }
  }
}

function existsIn(db: Database.Database, name: string): boolean {
  return (
    db.prepare("SELECT 1 FROM main.sqlite_schema WHERE type = 'table' AND name = ?").get(name) !== undefined
  );
}

function copyTable(source: Database.Database, target: Database.Database, table: string): TableSalvage {
  const problems: string[] = [];
  let columns: string[];
  let withoutRowid: boolean;
  try {
    const info = source
      .prepare("SELECT name, hidden FROM pragma_table_xinfo(?, 'main')")
      .raw(true)
      .all(table) as [string, bigint][];
    columns = info.filter(([, hidden]) => hidden === 0n).map(([n]) => n);
    const wr = source
      .prepare("SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?")
      .pluck()
      .get(table);
    withoutRowid = wr === 1n;
  } catch (error) {
    return {
      table,
      recovered: 0,
      expected: null,
      lost: null,
      complete: false,
      problems: [`the columns cannot be read: ${(error as Error).message}`],
    };
  }
  let expected: number | null = null;
  try {
    expected = Number(
      source
        .prepare(`SELECT count(*) FROM main.${quoteIdent(table)}`)
        .pluck()
        .get(),
    );
  } catch (error) {
    problems.push(`count(*) fails: ${(error as Error).message}`);
  }
  const rowidName = withoutRowid ? undefined : unshadowedRowidName(columns);
  const names = [...(rowidName === undefined ? [] : [rowidName]), ...columns.map(quoteIdent)];
  const insert = target.prepare(
    `INSERT INTO main.${quoteIdent(table)} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`,
  );
  let recovered = 0;
  const put = (row: unknown[]): void => {
    try {
      insert.run(row);
      recovered++;
    } catch (error) {
      problems.push(`a row could not be written: ${(error as Error).message}`);
    }
  };
  let complete: boolean;
  if (rowidName !== undefined) {
    complete = readAround(source, table, rowidName, columns, problems, put);
  } else {
    complete = true;
    try {
      const select = `SELECT ${columns.map(quoteIdent).join(', ')} FROM main.${quoteIdent(table)}`;
      for (const row of source.prepare(select).raw(true).iterate() as IterableIterator<unknown[]>) put(row);
    } catch (error) {
      complete = false;
      problems.push(
        `reading stopped after ${recovered} rows (a table without rowid cannot be re-sought): ${(error as Error).message}`,
      );
    }
  }
  const lost = expected === null ? null : Math.max(0, expected - recovered);
  return { table, recovered, expected, lost, complete: complete && problems.length === 0, problems };
}

/**
 * Reads a rowid table in rowid order, skipping what cannot be read. Returns whether it read everything without an
 * error.
 */
function readAround(
  source: Database.Database,
  table: string,
  rowidName: string,
  columns: readonly string[],
  problems: string[],
  onRow: (row: unknown[]) => void,
): boolean {
  const from = `FROM main.${quoteIdent(table)} WHERE ${rowidName} >= ? ORDER BY ${rowidName}`;
  const select = source
    .prepare(`SELECT ${[rowidName, ...columns.map(quoteIdent)].join(', ')} ${from}`)
    .raw(true);
  const probe = source.prepare(`SELECT ${rowidName} ${from} LIMIT 1`).pluck();
  const readable = (start: bigint): 'row' | 'end' | 'error' => {
    try {
      return probe.get(start) === undefined ? 'end' : 'row';
    } catch {
      return 'error';
    }
  };
  let start = INT64_MIN;
  let clean = true;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    let last: bigint | undefined;
    try {
      for (const row of select.iterate(start) as IterableIterator<unknown[]>) {
        last = row[0] as bigint;
        onRow(row);
      }
      return clean;
    } catch (error) {
      clean = false;
      const failedAt = last === undefined ? start : last + 1n;
      if (failedAt > INT64_MAX) return false;
      // Probe failedAt+1, +2, +4, ... until reading works again, then bisect back towards failedAt.
      let bad = failedAt;
      let good: bigint | undefined;
      for (let step = 1n; ; step *= 2n) {
        const candidate = failedAt + step > INT64_MAX ? INT64_MAX : failedAt + step;
        const r = readable(candidate);
        if (r === 'end') {
          problems.push(`rows from rowid ${failedAt} on could not be read: ${(error as Error).message}`);
          return false;
        }
        if (r === 'row') {
          good = candidate;
          break;
        }
        bad = candidate;
        if (candidate === INT64_MAX) break;
      }
      if (good === undefined) {
        problems.push(`rows from rowid ${failedAt} on could not be read: ${(error as Error).message}`);
        return false;
      }
      let lo: bigint = bad;
      let hi: bigint = good;
      while (hi - lo > 1n) {
        const mid: bigint = lo + (hi - lo) / 2n;
        if (readable(mid) === 'error') lo = mid;
        else hi = mid;
      }
      good = hi;
      problems.push(
        `rows with rowid ${failedAt} to ${good - 1n} could not be read: ${(error as Error).message}`,
      );
      start = good;
    }
  }
  problems.push('gave up after too many damaged regions');
  return false;
}

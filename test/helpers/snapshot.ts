/**
 * Content snapshots of SQLite databases for tests: every schema object, every row of every table (shadow tables
 * included, rowids included) with its storage class and exact value, sqlite_sequence, and the file settings.
 * Two databases are "the same database" when their snapshots are deeply equal.
 */
import Database from 'better-sqlite3';

export interface DatabaseSnapshot {
  readonly pragmas: Readonly<Record<string, unknown>>;
  readonly schema: readonly (readonly [string, string, string, string | null])[];
  readonly tables: Readonly<Record<string, readonly string[]>>;
  readonly virtualRows: Readonly<Record<string, readonly string[]>>;
}

const q = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** Renders one value exactly: storage class plus a lossless representation. */
function cell(type: string, value: unknown, hex: string | null): string {
  switch (type) {
    case 'null':
      return 'null';
    case 'integer':
      return `i:${String(value)}`;
    case 'real':
      return `r:${Object.is(value, -0) ? '-0' : String(value)}`;
    case 'text':
      return `t:${hex ?? ''}`;
    case 'blob':
      return `b:${hex ?? ''}`;
    default:
      return `?:${type}`;
  }
}

/** Values read per SELECT: 3 result columns each, under SQLite's limit of 2000 result columns. */
const CHUNK = 600;

export function snapshot(path: string): DatabaseSnapshot {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.defaultSafeIntegers(true);
    const pragmas: Record<string, unknown> = {};
    for (const p of [
      'application_id',
      'auto_vacuum',
      'encoding',
      'journal_mode',
      'page_size',
      'user_version',
    ]) {
      const v = db.pragma(p, { simple: true });
      pragmas[p] = typeof v === 'bigint' ? Number(v) : v;
    }
    const schema = (
      db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_schema').raw(true).all() as [
        string,
        string,
        string,
        string | null,
      ][]
    ).sort((a, b) => (a[0] + '\u0000' + a[1] < b[0] + '\u0000' + b[1] ? -1 : 1));
    const list = db
      .prepare("SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main'")
      .raw(true)
      .all() as [string, string, bigint][];
    const tables: Record<string, string[]> = {};
    const virtualRows: Record<string, string[]> = {};
    for (const [name, type, wr] of list) {
      if (type === 'view' || name === 'sqlite_schema') continue;
      const cols = (
        db.prepare('SELECT name, hidden FROM pragma_table_xinfo(?)').raw(true).all(name) as [string, bigint][]
      ).map(([n, hidden]) => ({ n, hidden: Number(hidden) }));
      const visible = cols.filter((c) => (type === 'virtual' ? c.hidden === 0 : true));
      const hasRowid = type !== 'virtual' && wr === 0n;
      const taken = new Set(cols.map((c) => c.n.toLowerCase()));
      const rowidName = ['rowid', '_rowid_', 'oid'].find((r) => !taken.has(r));
      const exprs: string[] = [];
      if (hasRowid && rowidName !== undefined) exprs.push(rowidName);
      else if (type === 'virtual') exprs.push('rowid');
      exprs.push(...visible.map((c) => q(c.n)));
      const selectOf = (part: readonly string[]): string =>
        part
          .map((e) => `typeof(${e}), ${e}, CASE WHEN typeof(${e}) IN ('text','blob') THEN hex(${e}) END`)
          .join(', ');
      let rows: unknown[][];
      try {
        if (exprs.length <= CHUNK) {
          rows = db
            .prepare(`SELECT ${selectOf(exprs)} FROM ${q(name)}`)
            .raw(true)
            .all() as unknown[][];
        } else {
          // Three result columns per value: wide tables are read in slices of columns (SQLite allows at most 2000
          // result columns), each slice in the same order (by every value), and the slices joined row by row.
          rows = [];
          for (let start = 0; start < exprs.length; start += CHUNK) {
            const slice = db
              .prepare(
                `SELECT ${selectOf(exprs.slice(start, start + CHUNK))} FROM ${q(name)} ORDER BY ${exprs.join(', ')}`,
              )
              .raw(true)
              .all() as unknown[][];
            slice.forEach((part, i) => {
              rows[i] = [...(rows[i] ?? []), ...part];
            });
          }
        }
      } catch (error) {
        rows = [[`error: ${(error as Error).message}`]];
      }
      const rendered = rows
        .map((r) => {
          const parts: string[] = [];
          for (let i = 0; i < r.length; i += 3)
            parts.push(cell(String(r[i]), r[i + 1], r[i + 2] as string | null));
          return parts.join('|');
        })
        .sort();
      // defineProperty, not assignment: a table named __proto__ must become a key, not the object's prototype.
      Object.defineProperty(type === 'virtual' ? virtualRows : tables, name, {
        value: rendered,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return { pragmas, schema, tables, virtualRows };
  } finally {
    db.close();
  }
}

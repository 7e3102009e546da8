/**
 * Content hashing for the benchmark's exactness check, streaming (constant memory at any size): a SHA-256 over the
 * file settings, sqlite_schema (without root pages), and every row of every table in key order, each value written
 * by SQLite's `quote()` (which keeps the storage class: `1` vs `1.0`, text vs `X'..'` blobs, and prints REALs with
 * enough digits to round-trip). Two databases with equal hashes hold the same content.
 */
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';

const PRAGMAS = ['encoding', 'page_size', 'auto_vacuum', 'user_version', 'application_id', 'journal_mode'];

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** Per-part hashes of one database's content: `schema`, `pragmas` and one entry per table. */
export function contentHashes(path: string): Record<string, string> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.defaultSafeIntegers(true);
    db.exec('BEGIN');
    const out: Record<string, string> = {};
    out.pragmas = hash(PRAGMAS.map((p) => `${p}=${String(db.pragma(p, { simple: true }))}`));
    const schema = db
      .prepare(
        "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_autoindex%' ORDER BY type, name",
      )
      .raw(true)
      .all() as [string, string, string, string | null][];
    out.schema = hash(schema.map((r) => JSON.stringify(r)));
    for (const [type, name, , sql] of schema) {
      if (type !== 'table' || (sql ?? '').startsWith('CREATE VIRTUAL')) continue;
      const withoutRowid = /\bWITHOUT\s+ROWID\b/i.test(sql ?? '');
      const columns = db
        .prepare(`SELECT name, pk FROM pragma_table_xinfo(?) WHERE hidden = 0`)
        .raw(true)
        .all(name) as [string, bigint][];
      const values = columns.map(([c]) => `quote(${quoteIdent(c)})`);
      const order = withoutRowid
        ? columns
            .filter(([, pk]) => pk > 0n)
            .sort((a, b) => Number(a[1] - b[1]))
            .map(([c]) => quoteIdent(c))
            .join(', ')
        : '_rowid_';
      const select = `SELECT ${withoutRowid ? '' : "quote(_rowid_) || '|' || "}${values.join(" || '|' || ")} FROM ${quoteIdent(name)} ORDER BY ${order}`;
      const h = createHash('sha256');
      let rows = 0;
      for (const line of db.prepare(select).pluck().iterate() as IterableIterator<string>) {
        h.update(line);
        h.update('\n');
        rows++;
      }
      out[`table ${name}`] = `${rows} rows ${h.digest('hex')}`;
    }
    db.exec('COMMIT');
    return out;
  } finally {
    db.close();
  }
}

function hash(lines: readonly string[]): string {
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}

/** The parts whose hashes differ (empty: same content). */
export function differingParts(a: Record<string, string>, b: Record<string, string>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => a[k] !== b[k]).sort();
}

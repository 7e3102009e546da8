/**
 * After a merge, the merged rows are checked against the schema's constraints: two branches that each add a row
 * with the same unique name merge textually but not logically. The merged archive is built into a private temp
 * database by the hydration loader (which records rows refused by UNIQUE, PRIMARY KEY and NOT NULL constraints), and
 * SQLite's own checks then find CHECK and foreign key violations. Each violation becomes a `constraint` conflict
 * naming the rows involved.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { readArchive } from '../archive/read-archive.js';
import { decodeValue, TextBytes } from '../codec/value-codec.js';
import { loadArchive } from '../hydrate/load-archive.js';
import { quoteIdent } from '../sqlite/identifiers.js';
import type { MergeConflict } from './merge-types.js';

/** Checks the merged archive at `archivePath`, given the tables each side changed. */
export function checkMergedConstraints(
  archivePath: string,
  database: string,
  changedOurs: ReadonlySet<string>,
  changedTheirs: ReadonlySet<string>,
): MergeConflict[] {
  const changed = new Set([...changedOurs, ...changedTheirs]);
  const dir = mkdtempSync(join(tmpdir(), 'db-hydration-merge-'));
  const db = new Database(join(dir, 'merged.db'));
  try {
    const outcome = loadArchive(db, { archivePath });
    db.defaultSafeIntegers(true);
    const conflicts: MergeConflict[] = [];
    const rejectedLines = new Map(outcome.rejectedRows.map((r) => [r.line, r]));
    for (const [row, line] of rowsAt(archivePath, new Set(rejectedLines.keys()))) {
      const rejected = rejectedLines.get(line);
      if (rejected === undefined) continue;
      const other = collidingRow(db, rejected.table, rejected.reason, row);
      conflicts.push({
        kind: 'constraint',
        database,
        table: rejected.table,
        ours: JSON.stringify(row),
        theirs: other,
        message: `table "${rejected.table}": the merged rows break a constraint (${rejected.reason}): ${JSON.stringify(row)}${other === undefined ? '' : ` and ${other}`}`,
      });
    }
    for (const table of changedOurs) {
      if (changedTheirs.has(table)) conflicts.push(...checkViolations(db, database, table));
    }
    conflicts.push(...foreignKeyViolations(db, database, changed));
    return conflicts;
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The archive rows on the given lines. */
function* rowsAt(
  path: string,
  lines: ReadonlySet<number>,
): Generator<[Readonly<Record<string, unknown>>, number]> {
  if (lines.size === 0) return;
  for (const event of readArchive(path)) {
    if (event.kind === 'row' && lines.has(event.line)) yield [event.row, event.line];
  }
}

/** For a UNIQUE or PRIMARY KEY violation, the row already in the table with the same values, as JSON. */
function collidingRow(
  db: Database.Database,
  table: string,
  reason: string,
  row: Readonly<Record<string, unknown>>,
): string | undefined {
  const match = /(?:UNIQUE|PRIMARY KEY) constraint failed: (.+?)(?: \(SQLITE_\w+\))?$/.exec(reason);
  if (match === null) return undefined;
  const columns = (match[1] ?? '').split(', ').map((c) => c.slice(c.indexOf('.') + 1));
  if (columns.some((c) => !Object.hasOwn(row, c))) return undefined;
  const where = columns.map((c) => `${quoteIdent(c)} IS ?`).join(' AND ');
  const values = columns.map((c) => {
    const v = decodeValue(row[c] ?? null);
    return v instanceof TextBytes ? v.bytes : v;
  });
  const found = db
    .prepare(`SELECT * FROM main.${quoteIdent(table)} WHERE ${where} LIMIT 1`)
    .get(...values) as Record<string, unknown> | undefined;
  return found === undefined
    ? undefined
    : JSON.stringify(found, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v));
}

/** Rows of `table` that fail a CHECK or NOT NULL constraint (the loader skips CHECK constraints while loading). */
function checkViolations(db: Database.Database, database: string, table: string): MergeConflict[] {
  const rows = db
    .prepare(`PRAGMA main.integrity_check(${quoteIdent(table)})`)
    .pluck()
    .all() as string[];
  return rows
    .filter((r) => r !== 'ok' && /CHECK|NULL/.test(r))
    .map((r) => ({
      kind: 'constraint' as const,
      database,
      table,
      message: `table "${table}": the merged rows break a constraint: ${r}`,
    }));
}

/** Foreign keys the merged rows break: a row one side added whose parent the other side deleted, and the like. */
function foreignKeyViolations(
  db: Database.Database,
  database: string,
  changed: ReadonlySet<string>,
): MergeConflict[] {
  const rows = db.prepare('PRAGMA main.foreign_key_check').all() as {
    table: string;
    rowid: bigint | null;
    parent: string;
  }[];
  // Violations between tables neither side changed were in the base already: not the merge's doing.
  return rows
    .filter((r) => changed.has(r.table) || changed.has(r.parent))
    .map((r) => ({
      kind: 'constraint' as const,
      database,
      table: r.table,
      key: r.rowid === null ? undefined : `rowid=${String(r.rowid)}`,
      message: `table "${r.table}"${r.rowid === null ? '' : `, rowid ${String(r.rowid)}`}: its parent row in "${r.parent}" is gone in the merged rows (foreign key)`,
    }));
}

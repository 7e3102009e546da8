/**
 * After a merge, the merged rows are checked against the schema's constraints: two branches that each add a row
 * with the same unique name merge textually but not logically. Only what the merge can have broken is checked: a
 * table only one side changed is that side's table, valid on its own, so UNIQUE, NOT NULL and CHECK can only break in
 * tables both sides changed, and a foreign key only between a child and a parent that came from different sides
 * (or one that both changed). Those tables are built from the merged archive into a private temp database by the
 * hydration loader (which records rows refused by UNIQUE, PRIMARY KEY and NOT NULL constraints), and SQLite's own
 * checks then find CHECK and foreign key violations. Each violation becomes a `constraint` conflict naming the rows.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { scratchArchivePath } from '../archive/keys.js';
import { codecForFileName } from '../archive/codec.js';
import { isEncryptedCodec } from '../archive/age-codec.js';
import Database from 'better-sqlite3';
import { readArchive } from '../archive/read-archive.js';
import { decodeValue, encodeValue, TextBytes, type SqliteValue } from '../codec/value-codec.js';
import { TableFactsCache, type TableFacts } from './table-facts.js';
import { loadArchive } from '../hydrate/load-archive.js';
import { applyCreate } from '../hydrate/apply-schema.js';
import { ArchiveWriter } from '../archive/write-archive.js';
import type { ArchiveFooter, ArchiveHeader, ArchivePragmas, ArchiveTableMeta } from '../archive/format.js';
import { quoteIdent } from '../sqlite/identifiers.js';
import { ArchiveFormatError, ArchiveSchemaError, HydrationError } from '../errors.js';
import type { MergeConflict } from './merge-types.js';

/**
 * Builds the merged archive's schema alone (every table, index, view and trigger, no rows) in a private in-memory
 * database: two sides' schema changes that each build but not together (an index on a table or column the other
 * side dropped, `Users` and `users`) are a `schema` conflict.
 */
export function checkMergedSchema(
  archivePath: string,
  database: string,
  sides: readonly string[] = [],
  outline: ArchiveOutline = readOutline(archivePath),
): MergeConflict[] {
  const dir = mkdtempSync(join(tmpdir(), 'db-hydration-merge-'));
  const db = new Database(':memory:');
  try {
    // Scratch archives of an encrypted archive are encrypted too (keys.ts scratchArchivePath).
    const empty = scratchArchivePath(dir, archivePath, { prefix: 'schema.' });
    writeOutline(outline, empty, new Map());
    try {
      loadArchive(db, { archivePath: empty });
      // SQLite accepts a view on a missing table at CREATE time; it fails only when read. A view that reads on
      // each side but not in the merge (the other side dropped what it reads) is a conflict. The sides' schemas are
      // only built when the merged one has a view that does not read.
      const unreadable = brokenViews(db);
      const working =
        unreadable.length === 0
          ? []
          : sides.map((side, i) =>
              workingViews(side, scratchArchivePath(dir, side, { prefix: `side${i}.` })),
            );
      // Broken in the merge, and reading on every side that has it.
      const broken = unreadable.filter((v) => working.every((w) => w?.get(v.name) !== false));
      if (broken.length > 0) {
        return broken.map((v) => ({
          kind: 'schema' as const,
          database,
          message: `the merged schema cannot be built: the schema of view "${v.name.replace(/"/g, '\\"')}" is rejected: ${v.error}`,
        }));
      }
    } catch (error) {
      if (!(error instanceof HydrationError)) throw error;
      return [
        {
          kind: 'schema',
          database,
          table: error.table,
          message: `the merged schema cannot be built: ${error.message}`,
        },
      ];
    }
    return [];
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The views of a database that cannot be read (`SELECT … LIMIT 0` fails), with SQLite's message. */
function brokenViews(db: Database.Database): { name: string; error: string }[] {
  const views = db
    .prepare("SELECT name FROM main.sqlite_schema WHERE type = 'view'")
    .pluck()
    .all() as string[];
  return views.flatMap((name) => {
    try {
      db.prepare(`SELECT * FROM main.${quoteIdent(name)} LIMIT 0`).all();
      return [];
    } catch (error) {
      return [{ name, error: (error as Error).message }];
    }
  });
}

/**
 * The views of one side's archive (schema only), each with whether it reads, or `undefined` when the schema cannot be
 * built.
 */
function workingViews(archivePath: string, scratch: string): Map<string, boolean> | undefined {
  const db = new Database(':memory:');
  try {
    writeTables(archivePath, scratch, new Set());
    loadArchive(db, { archivePath: scratch });
    const all = db
      .prepare("SELECT name FROM main.sqlite_schema WHERE type = 'view'")
      .pluck()
      .all() as string[];
    const broken = new Set(brokenViews(db).map((v) => v.name));
    return new Map(all.map((n) => [n, !broken.has(n)]));
  } catch {
    return undefined;
  } finally {
    db.close();
  }
}

/** Checks the merged archive at `archivePath`, given the tables each side changed. */
export function checkMergedConstraints(
  archivePath: string,
  database: string,
  changedOurs: ReadonlySet<string>,
  changedTheirs: ReadonlySet<string>,
  changedRows: ReadonlyMap<string, RowTexts> = new Map(),
  outline: ArchiveOutline = readOutline(archivePath),
): MergeConflict[] {
  // The merged archive without its rows (read once for both checks): its tables' schemas give the foreign keys, and
  // when no table needs all its rows the checked copy is written from it and the changed rows the merge collected.
  const scope = checkScope(outline, changedOurs, changedTheirs);
  if (scope.load.size === 0) return [];
  const dir = mkdtempSync(join(tmpdir(), 'db-hydration-merge-'));
  // The merged rows of an encrypted archive are checked in memory: no plaintext database file in the temp directory.
  const encrypted = isEncryptedCodec(codecForFileName(basename(archivePath)));
  const db = new Database(encrypted ? ':memory:' : join(dir, 'merged.db'));
  try {
    const filtered = scratchArchivePath(dir, archivePath, { prefix: 'checked.' });
    // A table both sides changed needs only its rows that are not the base's (each side's table was valid), unless a
    // foreign key ties it to another table: then all its rows.
    const linked = new Set(scope.edges.flatMap((e) => [e.child, e.parent]));
    const only = new Map([...changedRows].filter(([t]) => scope.both.has(t) && !linked.has(t)));
    if ([...scope.load].every((t) => only.has(t))) writeOutline(outline, filtered, only);
    else writeTables(archivePath, filtered, scope.load, only);
    let outcome;
    try {
      outcome = loadArchive(db, { archivePath: filtered });
    } catch (error) {
      // A UNIQUE index the merged rows break cannot even be built.
      if (error instanceof ArchiveSchemaError && /constraint failed/i.test(error.message)) {
        return [
          {
            kind: 'constraint',
            database,
            table: error.table,
            message: `the merged rows break a constraint: ${error.message}`,
          },
        ];
      }
      throw error;
    }
    // The loader skips CHECK constraints while loading; the checks below must see them.
    db.pragma('ignore_check_constraints = OFF');
    db.defaultSafeIntegers(true);
    const conflicts: MergeConflict[] = [];
    const rejectedLines = new Map(outcome.rejectedRows.map((r) => [r.line, r]));
    const facts = new TableFactsCache(archivePath);
    try {
      for (const [row, line, text, meta] of rowsAt(filtered, new Set(rejectedLines.keys()))) {
        const rejected = rejectedLines.get(line);
        if (rejected === undefined) continue;
        const other = collidingRow(db, rejected.table, rejected.reason, row, facts.of(meta));
        conflicts.push({
          kind: 'constraint',
          database,
          table: rejected.table,
          rows: [text, ...(other === undefined ? [] : [other.key])],
          message: `table "${rejected.table}": the merged rows break a constraint (${rejected.reason}): ${text}${other === undefined ? '' : ` and ${other.json}`}`,
        });
      }
    } finally {
      facts.close();
    }
    for (const table of scope.both) conflicts.push(...checkViolations(db, database, table));
    conflicts.push(...foreignKeyViolations(db, database, scope.edges));
    return conflicts;
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The archive rows on the given lines, with their text and their table. */
function* rowsAt(
  path: string,
  lines: ReadonlySet<number>,
): Generator<[Readonly<Record<string, unknown>>, number, string, ArchiveTableMeta]> {
  if (lines.size === 0) return;
  let meta: ArchiveTableMeta | undefined;
  for (const event of readArchive(path)) {
    if (event.kind === 'table') meta = event.table;
    if (event.kind === 'row' && lines.has(event.line) && meta !== undefined) {
      yield [event.row, event.line, event.text ?? JSON.stringify(event.row), meta];
    }
  }
}

/**
 * For a UNIQUE or PRIMARY KEY violation, the row already in the table with the same values: as JSON for the
 * message, and its key as {@link keyText} writes it, to find its line in the merged archive.
 */
function collidingRow(
  db: Database.Database,
  table: string,
  reason: string,
  row: Readonly<Record<string, unknown>>,
  facts: TableFacts,
): { json: string; key: string } | undefined {
  const match = /(?:UNIQUE|PRIMARY KEY) constraint failed: (.+?)(?: \(SQLITE_\w+\))?$/.exec(reason);
  if (match === null) return undefined;
  const columns = (match[1] ?? '').split(', ').map((c) => c.slice(c.indexOf('.') + 1));
  if (columns.some((c) => !Object.hasOwn(row, c))) return undefined;
  const where = columns.map((c) => `${quoteIdent(c)} IS ?`).join(' AND ');
  const values = columns.map((c) => {
    const v = decodeValue(row[c] ?? null);
    return v instanceof TextBytes ? v.bytes : v;
  });
  const keyColumns = facts.key?.columns.map((c) => c.name) ?? [];
  const found = db
    .prepare(
      `SELECT ${[...keyColumns.map(quoteIdent), '*'].join(', ')} FROM main.${quoteIdent(table)} WHERE ${where} LIMIT 1`,
    )
    .raw(true)
    .get(...values) as unknown[] | undefined;
  if (found === undefined) return undefined;
  // The key as the archive writes it (each value encoded, `id=3` or `(a=1, b="x")`).
  const parts = keyColumns.map((c, i) => `${c}=${encodeValue(found[i] as SqliteValue, false)}`);
  const key = parts.length === 1 ? (parts[0] ?? '') : `(${parts.join(', ')})`;
  const rest = found.slice(keyColumns.length);
  return {
    json: JSON.stringify(rest, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
    key: `key:${key}`,
  };
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
  edges: readonly ForeignKeyEdge[],
): MergeConflict[] {
  const rows = [...new Set(edges.map((e) => e.child))].flatMap(
    (child) =>
      db.prepare(`PRAGMA main.foreign_key_check(${quoteIdent(child)})`).all() as {
        table: string;
        rowid: bigint | null;
        parent: string;
      }[],
  );
  return rows
    .filter((r) => edges.some((e) => e.child === r.table && e.parent === r.parent))
    .map((r) => ({
      kind: 'constraint' as const,
      database,
      table: r.table,
      key: r.rowid === null ? undefined : `rowid=${String(r.rowid)}`,
      message: `table "${r.table}"${r.rowid === null ? '' : `, rowid ${String(r.rowid)}`}: its parent row in "${r.parent}" is gone in the merged rows (foreign key)`,
    }));
}

/** A foreign key from a child table to a parent table. */
interface ForeignKeyEdge {
  readonly child: string;
  readonly parent: string;
}

/** What to check: the tables to build, those both sides changed, and the foreign keys the merge may have broken. */
interface CheckScope {
  readonly load: ReadonlySet<string>;
  readonly both: ReadonlySet<string>;
  readonly edges: readonly ForeignKeyEdge[];
}

function checkScope(
  outline: ArchiveOutline,
  changedOurs: ReadonlySet<string>,
  changedTheirs: ReadonlySet<string>,
): CheckScope {
  const both = new Set([...changedOurs].filter((t) => changedTheirs.has(t)));
  const origin = (t: string): string =>
    both.has(t) ? 'both' : changedOurs.has(t) ? 'ours' : changedTheirs.has(t) ? 'theirs' : 'none';
  // A child and a parent from the same side (or unchanged) are as valid as that side was.
  const edges = foreignKeys(outline).filter(({ child, parent }) => {
    const [c, p] = [origin(child), origin(parent)];
    return c === 'both' || p === 'both' || (c !== 'none' && p !== 'none' && c !== p);
  });
  return { load: new Set([...both, ...edges.flatMap((e) => [e.child, e.parent])]), both, edges };
}

/** The foreign keys of the archive's tables, learned by creating the tables in a private in-memory database. */
function foreignKeys(outline: ArchiveOutline): ForeignKeyEdge[] {
  const db = new Database(':memory:');
  try {
    const tables: string[] = [];
    for (const table of outline.tables) {
      if (table.type !== 'table' || table.name.startsWith('sqlite_')) continue;
      try {
        applyCreate(db, 'table', table.name, table.schema, outline.path);
        tables.push(table.name);
      } catch {
        // A table this SQLite cannot create has no foreign keys to check here.
      }
    }
    return tables.flatMap((child) =>
      (
        db.prepare('SELECT DISTINCT "table" AS parent FROM pragma_foreign_key_list(?)').all(child) as {
          parent: string;
        }[]
      ).map((r) => ({ child, parent: r.parent })),
    );
  } finally {
    db.close();
  }
}

/** Row texts in the merged archive's order (a set of them, or the merge's {@link RowList}), read once each. */
export interface RowTexts extends Iterable<string> {
  readonly size: number;
}

/** An archive without its rows: what a copy needs besides them. */
export interface ArchiveOutline {
  readonly path: string;
  readonly header: ArchiveHeader;
  readonly tables: readonly ArchiveTableMeta[];
  readonly footer: ArchiveFooter;
}

/** Reads an archive's outline (the rows are stepped over, still checked to be row lines). */
export function readOutline(archivePath: string): ArchiveOutline {
  let header: ArchiveHeader | undefined;
  let footer: ArchiveFooter | undefined;
  const tables: ArchiveTableMeta[] = [];
  for (const event of readArchive(archivePath, { skipRows: true })) {
    if (event.kind === 'header') header = event.header;
    else if (event.kind === 'table') tables.push(event.table);
    else if (event.kind === 'footer') footer = event.footer;
  }
  if (header === undefined || footer === undefined) {
    throw new ArchiveFormatError('the merged archive has no header or footer', { file: archivePath });
  }
  return { path: archivePath, header, tables, footer };
}

/**
 * Writes a copy of an outlined archive whose tables in `rows` hold those row texts (in their order) and every other
 * table none.
 */
function writeOutline(outline: ArchiveOutline, target: string, rows: ReadonlyMap<string, RowTexts>): void {
  const writer = new ArchiveWriter(target);
  try {
    writeHeaderOf(writer, outline.header);
    for (const table of outline.tables) {
      const kept = rows.get(table.name);
      writer.beginTable({ ...table, row_count: kept?.size ?? 0 });
      for (const text of kept ?? []) writer.writeRow(text);
      writer.endTable();
    }
    writeFooterOf(writer, outline.footer);
    writer.commit();
  } catch (error) {
    writer.abort();
    throw error;
  }
}

function writeHeaderOf(writer: ArchiveWriter, h: ArchiveHeader): void {
  writer.writeHeader(h.database, h.file_name ?? `${h.database}.db`, h.pragmas as ArchivePragmas);
}

function writeFooterOf(writer: ArchiveWriter, f: ArchiveFooter): void {
  writer.writeFooter(
    Object.entries(f.sequences).map(([name, value]) => [name, JSON.stringify(value)] as const),
    f.objects,
    f.schema_order ?? [],
  );
}

/**
 * Copies the archive with only the rows of `tables` (the others keep their schema, with no rows); for a table in
 * `only`, only the rows it holds (rows of the archive, in its order: they are written in place of the table's rows).
 */
function writeTables(
  archivePath: string,
  target: string,
  tables: ReadonlySet<string>,
  only: ReadonlyMap<string, RowTexts> = new Map(),
): void {
  const writer = new ArchiveWriter(target);
  let keep = false;
  let rows: RowTexts | undefined;
  try {
    // With no table to keep, the rows are only stepped over (still checked to be row lines).
    for (const event of readArchive(archivePath, { lazyRows: true, skipRows: tables.size === 0 })) {
      if (event.kind === 'header') {
        writeHeaderOf(writer, event.header);
      } else if (event.kind === 'table') {
        keep = tables.has(event.table.name);
        rows = keep ? only.get(event.table.name) : undefined;
        const count = rows === undefined ? event.table.row_count : rows.size;
        writer.beginTable({ ...event.table, row_count: keep ? count : 0 });
        if (rows !== undefined) for (const text of rows) writer.writeRow(text);
      } else if (event.kind === 'row') {
        if (keep && rows === undefined) writer.writeRow(event.text ?? JSON.stringify(event.row));
      } else if (event.kind === 'tableEnd') {
        writer.endTable();
      } else {
        writeFooterOf(writer, event.footer);
      }
    }
    writer.commit();
  } catch (error) {
    writer.abort();
    throw error;
  }
}

/**
 * A row-level diff of two archives, keyed by primary key: which rows were added, removed or changed (and in which
 * columns), and which tables, settings, objects and counters differ. Both archives are read side by side, table by
 * table in name order and row by row in key order (a merge-join), so memory stays flat in the table size.
 */
import { ArchiveFormatError } from '../errors.js';
import type { ArchiveFooter, ArchiveHeader, ArchivePragmas, ArchiveTableMeta } from '../archive/format.js';
import { keyText as keyOfRow, rowComparator, type RowComparator } from '../merge/key-order.js';
import { TableFactsCache, type TableFacts } from '../merge/table-facts.js';
import { ArchiveCursor, type CursorRow } from '../archive/archive-cursor.js';
import type { CellChange, CellText, DiffChange, DiffSummary } from './diff-types.js';

/**
 * Yields the changes that turn archive `oldPath` into archive `newPath`, in archive order: settings, then each table
 * (its schema, then its rows in key order), then counters and objects.
 * @throws {ArchiveFormatError} when either archive is malformed, naming the file and line
 */
export function* diffArchives(oldPath: string, newPath: string): Generator<DiffChange, void, undefined> {
  const a = new ArchiveCursor(oldPath, { lazyRows: true });
  let b: ArchiveCursor | undefined;
  const facts = new TableFactsCache(newPath);
  try {
    b = new ArchiveCursor(newPath, { lazyRows: true });
    for (const cursor of [a, b]) {
      if (cursor.plain) {
        throw new ArchiveFormatError(
          'a diff needs archives written by db-hydration (this one has the plain shape)',
          {
            file: cursor.path,
            hint: 'hydrate it and dehydrate it again to rewrite it in db-hydration’s layout',
          },
        );
      }
    }
    yield* diffPragmas(a.header, b.header);
    yield* diffTables(a, b, facts);
    yield* diffFooters(a.footer(), b.footer());
  } finally {
    a.close();
    b?.close();
    facts.close();
  }
}

/** Adds up a list of changes. */
export function summarize(changes: Iterable<DiffChange>): DiffSummary {
  let rowsAdded = 0;
  let rowsRemoved = 0;
  let rowsChanged = 0;
  let otherChanges = 0;
  const tables = new Set<string>();
  for (const c of changes) {
    if (c.kind === 'row-added') rowsAdded++;
    else if (c.kind === 'row-removed') rowsRemoved++;
    else if (c.kind === 'row-changed') rowsChanged++;
    else otherChanges++;
    if ('table' in c && c.kind !== 'sequence') tables.add(c.table);
  }
  return { rowsAdded, rowsRemoved, rowsChanged, tables: [...tables].sort(byCodeUnit), otherChanges };
}

function byCodeUnit(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

function* diffPragmas(a: ArchiveHeader, b: ArchiveHeader): Generator<DiffChange, void, undefined> {
  const old = { ...a.pragmas } as Readonly<Record<string, unknown>>;
  const next = { ...b.pragmas } as Readonly<Record<string, unknown>>;
  for (const name of [...new Set([...Object.keys(old), ...Object.keys(next)])].sort(byCodeUnit)) {
    const o = cellText(old[name]);
    const n = cellText(next[name]);
    if (o !== n) yield { kind: 'pragma', name, ...side('old', o), ...side('new', n) };
  }
}

/** Walks the tables of both archives in name order (the order archives list them in). */
function* diffTables(
  a: ArchiveCursor,
  b: ArchiveCursor,
  facts: TableFactsCache,
): Generator<DiffChange, void, undefined> {
  let ta = a.nextTable();
  let tb = b.nextTable();
  while (ta !== undefined || tb !== undefined) {
    const order = ta === undefined ? 1 : tb === undefined ? -1 : byCodeUnit(ta.name, tb.name);
    if (order < 0 && ta !== undefined) {
      yield { kind: 'table-removed', table: ta.name, schema: ta.schema };
      const f = facts.of(ta);
      let i = 0;
      for (let r = a.nextRow(); r !== undefined; r = a.nextRow())
        yield rowOnly('row-removed', ta.name, f, r, i++);
      ta = a.nextTable();
    } else if (order > 0 && tb !== undefined) {
      yield { kind: 'table-added', table: tb.name, schema: tb.schema };
      const f = facts.of(tb);
      let i = 0;
      for (let r = b.nextRow(); r !== undefined; r = b.nextRow())
        yield rowOnly('row-added', tb.name, f, r, i++);
      tb = b.nextTable();
    } else if (ta !== undefined && tb !== undefined) {
      if (ta.schema !== tb.schema) yield { kind: 'schema', table: ta.name, old: ta.schema, new: tb.schema };
      yield* diffRows(a, b, ta, tb, facts);
      ta = a.nextTable();
      tb = b.nextTable();
    }
  }
}

/**
 * How the rows of a table are compared: by key in key order, when both sides have the same key and its order is
 * known; otherwise `undefined` (matched by position).
 */
function matcherFor(
  ta: ArchiveTableMeta,
  tb: ArchiveTableMeta,
  encoding: ArchivePragmas['encoding'],
  facts: TableFactsCache,
): RowComparator | undefined {
  const fa = facts.of(ta);
  const fb = facts.of(tb);
  if (fa.key === undefined || JSON.stringify(fa.key) !== JSON.stringify(fb.key)) return undefined;
  return rowComparator(fb, encoding);
}

/**
 * The merge-join of one table's rows. A table whose key is unreadable, or whose key changed between the two sides,
 * is matched by position (its rows are in the table's scan order on both sides).
 */
function* diffRows(
  a: ArchiveCursor,
  b: ArchiveCursor,
  ta: ArchiveTableMeta,
  tb: ArchiveTableMeta,
  facts: TableFactsCache,
): Generator<DiffChange, void, undefined> {
  const compare = matcherFor(ta, tb, b.header.pragmas?.encoding ?? 'UTF-8', facts);
  const f = facts.of(tb);
  let ra = a.nextRow();
  let rb = b.nextRow();
  let position = 0;
  while (ra !== undefined || rb !== undefined) {
    let order: number;
    if (ra === undefined) order = 1;
    else if (rb === undefined) order = -1;
    else order = compare === undefined ? 0 : compare(ra, rb);
    if (order < 0 && ra !== undefined) {
      yield rowOnly('row-removed', ta.name, f, ra, position);
      ra = a.nextRow();
    } else if (order > 0 && rb !== undefined) {
      yield rowOnly('row-added', tb.name, f, rb, position);
      rb = b.nextRow();
    } else if (ra !== undefined && rb !== undefined) {
      const cells = ra.text === rb.text ? [] : changedCells(ra.values, rb.values);
      if (cells.length > 0)
        yield { kind: 'row-changed', table: ta.name, key: keyText(f, ra, position), cells };
      ra = a.nextRow();
      rb = b.nextRow();
    }
    position++;
  }
}

/** The columns whose cells differ, in the new row's column order, then columns the new row no longer has. */
function changedCells(
  old: Readonly<Record<string, unknown>>,
  next: Readonly<Record<string, unknown>>,
): CellChange[] {
  const cells: CellChange[] = [];
  for (const column of Object.keys(next)) {
    const n = cellText(next[column]);
    const o = Object.hasOwn(old, column) ? cellText(old[column]) : undefined;
    if (o !== n) cells.push({ column, ...side('old', o), ...side('new', n) });
  }
  for (const column of Object.keys(old)) {
    if (!Object.hasOwn(next, column)) cells.push({ column, ...side('old', cellText(old[column])) });
  }
  return cells;
}

function rowOnly(
  kind: 'row-added' | 'row-removed',
  table: string,
  facts: TableFacts,
  row: CursorRow,
  position: number,
): DiffChange {
  const cells: Record<string, CellText> = Object.create(null) as Record<string, CellText>;
  for (const [column, value] of Object.entries(row.values)) cells[column] = cellText(value) ?? 'null';
  return { kind, table, key: keyText(facts, row, position), cells };
}

/**
 * A row's key as a person reads it: `id=3`, `(k="BTC", v=1)`, or, for a table without a readable key, its position
 * (`#12`, counted from 1).
 */
function keyText(facts: TableFacts, row: CursorRow, position: number): string {
  return facts.key === undefined ? `#${position + 1}` : keyOfRow(facts, row.values);
}

function* diffFooters(a: ArchiveFooter, b: ArchiveFooter): Generator<DiffChange, void, undefined> {
  for (const table of [...new Set([...Object.keys(a.sequences), ...Object.keys(b.sequences)])].sort(
    byCodeUnit,
  )) {
    const o = Object.hasOwn(a.sequences, table) ? cellText(a.sequences[table]) : undefined;
    const n = Object.hasOwn(b.sequences, table) ? cellText(b.sequences[table]) : undefined;
    if (o !== n) yield { kind: 'sequence', table, ...side('old', o), ...side('new', n) };
  }
  const key = (o: { type: string; name: string }): string => `${o.type}\u0000${o.name}`;
  const old = new Map(a.objects.map((o) => [key(o), o]));
  const next = new Map(b.objects.map((o) => [key(o), o]));
  for (const k of [...new Set([...old.keys(), ...next.keys()])].sort(byCodeUnit)) {
    const o = old.get(k);
    const n = next.get(k);
    const type = (o ?? n)?.type;
    const name = (o ?? n)?.name;
    if (type === undefined || name === undefined || o?.sql === n?.sql) continue;
    yield { kind: 'object', type, name, ...side('old', o?.sql), ...side('new', n?.sql) };
  }
}

/** A value as the archive writes it. */
function cellText(value: unknown): CellText | undefined {
  return value === undefined ? undefined : JSON.stringify(value);
}

/** `{ [name]: value }`, or nothing when the value is absent (exactOptionalPropertyTypes). */
function side<K extends 'old' | 'new'>(name: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [name]: value }) as { [P in K]?: string };
}

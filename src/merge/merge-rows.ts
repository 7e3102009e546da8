/**
 * The three-way merge of one table's rows by key: a merge-join over the key-ordered rows of base, ours and theirs,
 * one row of each in memory at a time. Per key: a row changed on one side only takes that side; the same change on
 * both sides is no conflict; rows changed on both sides merge cell by cell, and a cell changed differently on the two
 * sides, a delete against a change, or the same new key with different content is a conflict.
 */
import { ArchiveFormatError } from '../errors.js';
import type { ArchiveCursor, CursorRow } from '../archive/archive-cursor.js';
import type { RowComparator } from './key-order.js';
import { keyText } from './key-order.js';
import type { TableFacts } from './table-facts.js';
import type { ItemList } from './merge-output.js';
import type { MergeConflict } from './merge-types.js';

/** One input's rows of the current table, checked to ascend strictly by key as they are read. */
export class OrderedRows {
  private head: CursorRow | undefined;

  constructor(
    private readonly cursor: ArchiveCursor | undefined,
    private readonly compare: RowComparator,
    private readonly table: string,
  ) {
    this.head = cursor?.nextRow();
  }

  peek(): CursorRow | undefined {
    return this.head;
  }

  take(): CursorRow | undefined {
    const row = this.head;
    if (row === undefined || this.cursor === undefined) return row;
    const next = this.cursor.nextRow();
    if (next !== undefined && this.compare(row, next) >= 0) {
      throw new ArchiveFormatError(
        `line ${next.line}: the rows of table "${this.table}" are not in key order (a text merge may have moved them)`,
        {
          file: this.cursor.path,
          table: this.table,
          hint: 'take the archive from before the merge and merge again with the db-hydration driver (`db-hydration git install`), or dehydrate the database it was made from',
        },
      );
    }
    this.head = next;
    return row;
  }
}

/** What the row merge needs to know about the table and where to report. */
export interface RowMergeContext {
  readonly database: string;
  readonly table: string;
  /** The merged table's facts: its row members (in order) and key. */
  readonly facts: TableFacts;
  /** Whether the three sides' schemas of the table differ (rows may then have different members). */
  readonly schemasDiffer: boolean;
  readonly conflicts: MergeConflict[];
  /** Collects the texts of merged rows that differ from the base's, for the constraint check. */
  readonly changed?: { add(text: string): void } | undefined;
}

/** How a table's rows merged: rows written (a conflict block counts if its ours side has a row) and whether any
 * conflicted. */
export interface RowMergeOutcome {
  readonly rows: number;
  readonly conflicted: boolean;
  /** Whether each side changed rows of this table (the merged rows are then checked against constraints). */
  readonly oursChanged: boolean;
  readonly theirsChanged: boolean;
}

/** Merges the rows of one table into `out`. */
export function mergeRows(
  ctx: RowMergeContext,
  sides: { base: OrderedRows; ours: OrderedRows; theirs: OrderedRows },
  compare: RowComparator,
  out: ItemList,
): RowMergeOutcome {
  let rows = 0;
  let conflicted = false;
  let oursChanged = false;
  let theirsChanged = false;
  for (;;) {
    // The smallest key among the three heads, and which heads hold it (no allocation per key: this is the hot loop).
    const bh = sides.base.peek();
    const oh = sides.ours.peek();
    const th = sides.theirs.peek();
    let b: CursorRow | undefined;
    let o: CursorRow | undefined;
    let t: CursorRow | undefined;
    if (
      bh !== undefined &&
      oh !== undefined &&
      th !== undefined &&
      bh.text === oh.text &&
      bh.text === th.text
    ) {
      // The same row on the three sides (almost every row): one key, no comparison needed.
      b = sides.base.take();
      o = sides.ours.take();
      t = sides.theirs.take();
    } else {
      let min = bh;
      if (oh !== undefined && (min === undefined || compare(oh, min) < 0)) min = oh;
      if (th !== undefined && (min === undefined || compare(th, min) < 0)) min = th;
      if (min === undefined) break;
      const at = min;
      const holds = (head: CursorRow | undefined): boolean =>
        head !== undefined && (head === at || compare(head, at) === 0);
      b = holds(bh) ? sides.base.take() : undefined;
      o = holds(oh) ? sides.ours.take() : undefined;
      t = holds(th) ? sides.theirs.take() : undefined;
    }
    if (!same(b, o)) oursChanged = true;
    if (!same(b, t)) theirsChanged = true;
    const merged = mergeRow(ctx, b, o, t);
    if (merged.kind === 'row') {
      out.add(merged.text);
      rows++;
      // A row that is not the base's: what the constraint check needs to look at in a table both sides changed.
      if (ctx.changed !== undefined && (b === undefined || merged.text !== b.text))
        ctx.changed.add(merged.text);
    } else if (merged.kind === 'conflict') {
      out.addBlock({ ours: o?.text, base: b?.text, theirs: t?.text });
      if (o !== undefined) rows++;
      conflicted = true;
    }
  }
  out.end();
  return { rows, conflicted, oursChanged, theirsChanged };
}

function same(a: CursorRow | undefined, b: CursorRow | undefined): boolean {
  return a === undefined ? b === undefined : b !== undefined && a.text === b.text;
}

type RowOutcome = { kind: 'row'; text: string } | { kind: 'none' } | { kind: 'conflict' };

function mergeRow(
  ctx: RowMergeContext,
  b: CursorRow | undefined,
  o: CursorRow | undefined,
  t: CursorRow | undefined,
): RowOutcome {
  const take = (row: CursorRow | undefined): RowOutcome =>
    row === undefined ? { kind: 'none' } : fitting(ctx, row, b, o, t);
  if (same(o, t)) return take(o);
  if (same(b, o)) return take(t);
  if (same(b, t)) return take(o);
  const key = keyText(ctx.facts, (o ?? t ?? b)?.values ?? {});
  const replaced = replacedRow(ctx, key, b, o, t);
  if (replaced !== undefined) return replaced;
  if (b === undefined || o === undefined || t === undefined) {
    const kind = b === undefined ? 'insert-insert' : 'delete-change';
    const message =
      b === undefined
        ? `table "${ctx.table}", key ${key}: both sides inserted this key with different content`
        : `table "${ctx.table}", key ${key}: ${o === undefined ? 'ours deleted' : 'theirs deleted'} a row the other side changed`;
    report(ctx, { kind, key, base: b?.text, ours: o?.text, theirs: t?.text, message });
    return { kind: 'conflict' };
  }
  return mergeCells(ctx, key, b, o, t);
}

/** A row's declared key (see {@link TableFacts.identity}) as text, for messages and comparison. */
function identityOf(facts: TableFacts, row: CursorRow | undefined): string | undefined {
  if (row === undefined || facts.identity === undefined) return undefined;
  return facts.identity.map((c) => `${c}=${JSON.stringify(row.values[c] ?? null)}`).join(', ');
}

/**
 * Both sides changed the row at this rowid, and on one of them it is another row (its declared key differs): one
 * side deleted a row and inserted another at its rowid, or both inserted different rows there. Never merged cell
 * by cell; a conflict naming both keys.
 */
function replacedRow(
  ctx: RowMergeContext,
  key: string,
  b: CursorRow | undefined,
  o: CursorRow | undefined,
  t: CursorRow | undefined,
): RowOutcome | undefined {
  const [bi, oi, ti] = [b, o, t].map((r) => identityOf(ctx.facts, r));
  const reference = bi ?? oi;
  if (ctx.facts.identity === undefined || [oi, ti].every((x) => x === undefined || x === reference))
    return undefined;
  // Whether a side changed the key of the same row or put another row at its rowid cannot be told from the
  // archives: both readings must agree for a clean merge, and here they do not.
  const message =
    b === undefined
      ? `table "${ctx.table}", ${key}: both sides inserted a row at this rowid, ours (${String(oi)}) and theirs (${String(ti)}); keep both by giving one a new rowid by hand`
      : `table "${ctx.table}", ${key}: the row (${String(bi)}) was replaced on one side (ours: ${oi ?? 'deleted'}, theirs: ${ti ?? 'deleted'}) and changed or replaced on the other`;
  report(ctx, {
    kind: b === undefined ? 'insert-insert' : 'delete-change',
    key,
    base: b?.text,
    ours: o?.text,
    theirs: t?.text,
    message,
  });
  return { kind: 'conflict' };
}

/**
 * A row taken whole from one side must have the merged table's members; where the sides' schemas differ and it has
 * not (a row inserted before a column was added on the other side), it is a conflict, never a silent loss.
 */
function fitting(
  ctx: RowMergeContext,
  row: CursorRow,
  b: CursorRow | undefined,
  o: CursorRow | undefined,
  t: CursorRow | undefined,
): RowOutcome {
  if (!ctx.schemasDiffer || sameMembers(Object.keys(row.values), ctx.facts.members))
    return { kind: 'row', text: row.text };
  if (b !== undefined && o !== undefined && t !== undefined)
    return mergeCells(ctx, keyText(ctx.facts, row.values), b, o, t);
  const key = keyText(ctx.facts, row.values);
  report(ctx, {
    kind: 'schema',
    key,
    base: b?.text,
    ours: o?.text,
    theirs: t?.text,
    message: `table "${ctx.table}", key ${key}: the row does not have the columns of the merged schema (${ctx.facts.members.join(', ')}); fill them in by hand`,
  });
  return { kind: 'conflict' };
}

/** The same member names (as sets: `Object.keys` lists integer-like names first, whatever the row's order). */
function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return a.length === b.length && b.every((m) => set.has(m));
}

/** Both sides changed the row: merge it column by column. */
function mergeCells(ctx: RowMergeContext, key: string, b: CursorRow, o: CursorRow, t: CursorRow): RowOutcome {
  // The row's text is built member by member in the table's column order, as the archive writer writes it
  // (an object would list integer-like names such as "1" first).
  const merged: string[] = [];
  let conflict = false;
  const cell = (row: CursorRow, m: string, fallback: string | undefined): string | undefined =>
    Object.hasOwn(row.values, m) ? JSON.stringify(row.values[m]) : fallback;
  for (const m of ctx.facts.members) {
    const bv = cell(b, m, undefined);
    // A member a side's schema lacks is a column the other side added: unchanged on this side.
    const ov = cell(o, m, bv);
    const tv = cell(t, m, bv);
    if (ov !== tv && tv !== bv && ov !== bv) {
      conflict = true;
      report(ctx, {
        kind: 'cell',
        key,
        column: m,
        base: bv,
        ours: ov,
        theirs: tv,
        message: `table "${ctx.table}", key ${key}, column "${m}": ours ${ov ?? '(none)'}, theirs ${tv ?? '(none)'}, base ${bv ?? '(none)'}`,
      });
      continue;
    }
    const chosen = ov === tv || tv === bv ? ov : tv;
    if (chosen !== undefined) merged.push(`${JSON.stringify(m)}:${chosen}`);
  }
  for (const [side, row] of [
    ['ours', o],
    ['theirs', t],
  ] as const) {
    for (const m of Object.keys(row.values)) {
      if (ctx.facts.members.includes(m) || cell(row, m, undefined) === cell(b, m, undefined)) continue;
      conflict = true;
      report(ctx, {
        kind: 'schema',
        key,
        column: m,
        message: `table "${ctx.table}", key ${key}: ${side} changed column "${m}", which the merged schema no longer has`,
      });
    }
  }
  if (conflict) return { kind: 'conflict' };
  return { kind: 'row', text: `{${merged.join(',')}}` };
}

function report(ctx: RowMergeContext, conflict: Omit<MergeConflict, 'database' | 'table'>): void {
  ctx.conflicts.push({ database: ctx.database, table: ctx.table, ...conflict });
}

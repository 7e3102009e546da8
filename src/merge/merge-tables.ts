/**
 * The three-way merge of one table: by key when ours and theirs both have it with a schema that merges and a key
 * whose order is known (src/merge/merge-rows.ts); otherwise as a whole (a table added, dropped, rebuilt on both
 * sides, or one without a usable key): a side that left the table as the base had it gives way to the other, and a
 * table both sides changed differently is one conflict block holding both versions.
 */
import { createHash } from 'node:crypto';
import type { ArchiveCursor } from '../archive/archive-cursor.js';
import type { ArchiveTableMeta } from '../archive/format.js';
import { tableOpening } from '../archive/write-archive.js';
import { rowComparator, type TextEncoding } from './key-order.js';
import { ItemList, type BlockStyle, type MergedFile, type PartFile, type RowList } from './merge-output.js';
import { mergeRows, OrderedRows } from './merge-rows.js';
import type { TableFactsCache } from './table-facts.js';
import type { MergeConflict } from './merge-types.js';

/** What every table's merge shares. */
export interface TableMergeRun {
  readonly database: string;
  readonly style: BlockStyle;
  readonly encoding: TextEncoding;
  readonly facts: TableFactsCache;
  readonly file: MergedFile;
  readonly conflicts: MergeConflict[];
  /** Rows written per table. */
  readonly rowCounts: Record<string, number>;
  /** Tables each side changed: the merged rows are checked against the schema's constraints when both changed some. */
  readonly changedOurs: Set<string>;
  readonly changedTheirs: Set<string>;
  /**
   * Per table merged by key: the texts of its merged rows that are not the base's (in a part file, see
   * {@link RowList}). In a table both sides changed,
   * only those rows can break a UNIQUE, NOT NULL or CHECK constraint (each side's table was valid), so only they are
   * checked. Absent for a table with too many such rows to hold (all its rows are checked then).
   */
  readonly changedRows: Map<string, RowList>;
}

/** One table in each input, positioned at its rows (absent where the input does not have the table). */
export interface TableSides {
  readonly base: { cursor: ArchiveCursor; meta: ArchiveTableMeta } | undefined;
  readonly ours: { cursor: ArchiveCursor; meta: ArchiveTableMeta } | undefined;
  readonly theirs: { cursor: ArchiveCursor; meta: ArchiveTableMeta } | undefined;
}

/** The most changed rows of one table held for the constraint check; more, and the whole table is checked. */
const CHANGED_ROWS_HELD = 100_000;

/** Which side a three-way choice takes. */
export type Pick = 'ours' | 'theirs' | 'conflict';

/** The three-way choice over values compared by identity (undefined: absent). */
export function pick3<T>(base: T | undefined, ours: T | undefined, theirs: T | undefined): Pick {
  if (ours === theirs || base === theirs) return 'ours';
  if (base === ours) return 'theirs';
  return 'conflict';
}

/** A table's definition apart from its rows. */
function definitionOf(meta: ArchiveTableMeta | undefined): string | undefined {
  return meta === undefined ? undefined : JSON.stringify([meta.schema, meta.type, meta.rowid_key ?? null]);
}

/** Merges one table into the merged archive's table list. */
export function mergeTable(run: TableMergeRun, name: string, sides: TableSides, tables: ItemList): void {
  const { base, ours, theirs } = sides;
  const schemaPick = pick3(definitionOf(base?.meta), definitionOf(ours?.meta), definitionOf(theirs?.meta));
  if (ours !== undefined && theirs !== undefined && schemaPick !== 'conflict') {
    const meta = schemaPick === 'ours' ? ours.meta : theirs.meta;
    const facts = run.facts.of(meta);
    const compare = rowComparator(facts, run.encoding);
    const sameKey = [base?.meta, ours.meta, theirs.meta].every(
      (m) => m === undefined || JSON.stringify(run.facts.of(m).key) === JSON.stringify(facts.key),
    );
    if (compare !== undefined && sameKey) {
      const part = run.file.newPart();
      const list = new ItemList(part.write, run.style);
      const changed = run.file.newRowList();
      const outcome = mergeRows(
        {
          database: run.database,
          table: name,
          facts,
          schemasDiffer:
            definitionOf(ours.meta) !== definitionOf(theirs.meta) ||
            definitionOf(base?.meta) !== definitionOf(ours.meta),
          conflicts: run.conflicts,
          changed,
        },
        {
          base: new OrderedRows(base?.cursor, compare, name),
          ours: new OrderedRows(ours.cursor, compare, name),
          theirs: new OrderedRows(theirs.cursor, compare, name),
        },
        compare,
        list,
      );
      if (changed.size <= CHANGED_ROWS_HELD) run.changedRows.set(name, changed);
      else changed.remove();
      if (outcome.oursChanged) run.changedOurs.add(name);
      if (outcome.theirsChanged) run.changedTheirs.add(name);
      writeTable(run, tables, { ...meta, row_count: outcome.rows }, part);
      return;
    }
  }
  mergeWholeTable(run, name, sides, tables);
}

/** A table with its rows from a part file, as one item of the table list. */
function writeTable(run: TableMergeRun, tables: ItemList, meta: ArchiveTableMeta, part: PartFile): void {
  run.rowCounts[meta.name] = meta.row_count;
  tables.addWith(() => {
    run.file.write(tableOpening(meta));
    if (meta.row_count > 0 || part.written) {
      run.file.write('\n');
      run.file.appendPart(part);
      run.file.write('\n]}');
    } else {
      part.remove();
      run.file.write(']}');
    }
  });
}

/** A side's copy of a table: its rows in a part file, and a hash of its definition and rows. */
interface TableCopy {
  readonly meta: ArchiveTableMeta;
  readonly part: PartFile | undefined;
  readonly rows: number;
  readonly hash: string;
}

function copyTable(run: TableMergeRun, side: TableSides['ours'], keep: boolean): TableCopy | undefined {
  if (side === undefined) return undefined;
  const hash = createHash('sha256').update(definitionOf(side.meta) ?? '');
  const part = keep ? run.file.newPart() : undefined;
  let rows = 0;
  for (let row = side.cursor.nextRow(); row !== undefined; row = side.cursor.nextRow()) {
    hash.update('\n').update(row.text);
    part?.write(rows === 0 ? row.text : `,\n${row.text}`);
    rows++;
  }
  return { meta: side.meta, part, rows, hash: hash.digest('hex') };
}

function mergeWholeTable(run: TableMergeRun, name: string, sides: TableSides, tables: ItemList): void {
  const base = copyTable(run, sides.base, false);
  const ours = copyTable(run, sides.ours, true);
  const theirs = copyTable(run, sides.theirs, true);
  const pick = pick3(base?.hash, ours?.hash, theirs?.hash);
  if (base?.hash !== ours?.hash) run.changedOurs.add(name);
  if (base?.hash !== theirs?.hash) run.changedTheirs.add(name);
  if (pick !== 'conflict') {
    const chosen = pick === 'ours' ? ours : theirs;
    (pick === 'ours' ? theirs : ours)?.part?.remove();
    if (chosen?.part !== undefined)
      writeTable(run, tables, { ...chosen.meta, row_count: chosen.rows }, chosen.part);
    return;
  }
  const text = (copy: TableCopy | undefined): string | undefined => {
    if (copy?.part === undefined) return undefined;
    const rows = copy.part.readBack();
    copy.part.remove();
    const opening = tableOpening({ ...copy.meta, row_count: copy.rows });
    return copy.rows === 0 ? `${opening}]}` : `${opening}\n${rows}\n]}`;
  };
  const definitionsDiffer = definitionOf(ours?.meta) !== definitionOf(theirs?.meta);
  run.conflicts.push({
    kind: ours === undefined || theirs === undefined || definitionsDiffer ? 'schema' : 'table',
    database: run.database,
    table: name,
    message:
      ours === undefined || theirs === undefined
        ? `table "${name}": ${ours === undefined ? 'ours' : 'theirs'} dropped the table, the other side changed it`
        : definitionsDiffer
          ? `table "${name}": both sides changed its schema differently`
          : `table "${name}": both sides changed it, and it has no key to merge its rows by (shadow, statistics or hidden-rowid table)`,
  });
  run.rowCounts[name] = ours?.rows ?? 0;
  tables.addBlock({ ours: text(ours), base: undefined, theirs: text(theirs) });
}

/**
 * The three-way merge of archives, cell by cell by primary key (the way Dolt merges tables): what the git merge
 * driver and `db-hydration sync` run. Every input is streamed: tables are walked in name order and rows in key order
 * side by side, so memory stays flat in the table size.
 *
 * A clean merge writes exactly the archive `dehydrate` writes for the merged database (`exported_at` being the later
 * of the two sides'); with conflicts, each conflicting item stands between git's conflict markers and every conflict
 * is reported.
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { ArchiveCursor } from '../archive/archive-cursor.js';
import { CONFLICT_MARKERS } from '../archive/conflict-markers.js';
import { archiveFileBytes, codecOfFile } from '../archive/archive-file.js';
import { codecForFileName, IDENTITY_CODEC, type ArchiveCodec } from '../archive/codec.js';
import type {
  ArchiveFooter,
  ArchiveHeader,
  ArchiveObject,
  ArchivePragmas,
  ArchiveSchemaEntry,
} from '../archive/format.js';
import {
  arrayMember,
  headerOpening,
  objectLine,
  pragmasMember,
  schemaEntryLine,
  sequencesMember,
} from '../archive/write-archive.js';
import { ArchiveFormatError } from '../errors.js';
import { compareNames } from '../sqlite/names.js';
import { compareNumbers } from './key-order.js';
import { checkMergedConstraints, checkMergedSchema, readOutline } from './check-constraints.js';
import { markConstraintRows, markSchemaItem } from './mark-rows.js';
import { ItemList, MergedFile, type BlockStyle, type RowList } from './merge-output.js';
import { mergeTable, pick3, type TableMergeRun, type TableSides } from './merge-tables.js';
import { TableFactsCache } from './table-facts.js';
import type { MergeArchivesOptions, MergeConflict, MergeResult } from './merge-types.js';
import { decodeValue } from '../codec/value-codec.js';

/**
 * Merges `theirs` into `ours` with `base` as the common ancestor and writes the result to `output`.
 * @throws {ArchiveFormatError} when an input is not a valid archive (conflict markers, rows out of key order); the
 *   output is then not written
 */
export function mergeArchives(options: MergeArchivesOptions): MergeResult {
  const style: BlockStyle = {
    ours: options.labels?.ours ?? 'ours',
    base: options.labels?.base ?? 'base',
    theirs: options.labels?.theirs ?? 'theirs',
    diff3: options.diff3 === true,
  };
  const cursors: ArchiveCursor[] = [];
  const open = (path: string): ArchiveCursor => {
    const c = new ArchiveCursor(path, { lazyRows: true });
    cursors.push(c);
    if (c.plain) {
      throw new ArchiveFormatError('only archives in db-hydration’s own layout can be merged', {
        file: path,
        hint: 'hydrate it and dehydrate it again (that writes the streaming layout), then merge',
      });
    }
    return c;
  };
  const facts = new TableFactsCache(options.ours);
  const changedRows = new Map<string, RowList>();
  let file: MergedFile | undefined;
  try {
    const base = existsSync(options.base) && sizeOf(options.base) ? open(options.base) : undefined;
    const ours = open(options.ours);
    const theirs = open(options.theirs);
    file = new MergedFile(options.output, outputCodec(options));
    const conflicts: MergeConflict[] = [];
    const database = ours.header.database;
    const pragmas = writeHeader(file, style, conflicts, database, [base?.header, ours.header, theirs.header]);
    const run: TableMergeRun = {
      database,
      style,
      encoding: pragmas.encoding,
      facts,
      file,
      conflicts,
      // No prototype: a table may be named `__proto__`.
      rowCounts: Object.create(null) as Record<string, number>,
      changedOurs: new Set(),
      changedTheirs: new Set(),
      changedRows,
    };
    mergeAllTables(run, base, ours, theirs);
    writeFooter(run, [base?.footer(), ours.footer(), theirs.footer()]);
    file.finish();
    // The merged rows are checked before the output is put in place: an error leaves the output as it was.
    if (
      conflicts.length === 0 &&
      run.changedOurs.size > 0 &&
      run.changedTheirs.size > 0 &&
      options.skipConstraintCheck !== true
    ) {
      const outline = readOutline(file.tempPath);
      const schema = checkMergedSchema(file.tempPath, database, [options.ours, options.theirs], outline);
      conflicts.push(...schema);
      for (const c of schema) markSchemaItem(file.tempPath, options.ours, c.message, style);
      if (schema.length === 0) {
        conflicts.push(
          ...checkMergedConstraints(
            file.tempPath,
            database,
            run.changedOurs,
            run.changedTheirs,
            run.changedRows,
            outline,
          ),
        );
        markConstraintRows(file.tempPath, options.ours, conflicts, style);
      }
    }
    file.commit();
    file = undefined;
    return { clean: conflicts.length === 0, conflicts, database, rowCounts: run.rowCounts };
  } finally {
    file?.abort();
    for (const list of changedRows.values()) list.remove();
    for (const c of cursors) c.close();
    facts.close();
  }
}

/**
 * The merged archive's codec: the one given, else its name's (`merged.shop.json.gz`), else, for an output with no
 * codec ending (git's temp file for `%A`, which is OURS), the codec OURS is in, so a `.json.gz` archive stays gzip.
 */
function outputCodec(options: MergeArchivesOptions): ArchiveCodec {
  if (options.codec !== undefined) return options.codec;
  const byName = codecForFileName(basename(options.output));
  if (byName !== IDENTITY_CODEC || !existsSync(options.output)) return byName;
  return codecOfFile(options.output);
}

/** Git passes an empty file as the base when the two sides have no common ancestor version. */
function sizeOf(path: string): boolean {
  return archiveFileBytes(path) > 0;
}

/** The header: ours' names, the later `exported_at`, pragmas merged one by one. Returns the merged pragmas. */
function writeHeader(
  file: MergedFile,
  style: BlockStyle,
  conflicts: MergeConflict[],
  database: string,
  [base, ours, theirs]: readonly (ArchiveHeader | undefined)[],
): ArchivePragmas {
  const o = ours as ArchiveHeader;
  const t = theirs as ArchiveHeader;
  const exportedAt = o.exported_at > t.exported_at ? o.exported_at : t.exported_at;
  const opening = headerOpening(database, exportedAt, o.file_name ?? `${database}.db`);
  file.write(opening.beforeExportedAt + opening.exportedAt + opening.afterExportedAt);
  const op = o.pragmas as ArchivePragmas;
  const tp = t.pragmas as ArchivePragmas;
  const merged: Record<string, unknown> = {};
  let conflict = false;
  for (const key of Object.keys(op) as (keyof ArchivePragmas)[]) {
    const [bv, ov, tv] = [base?.pragmas?.[key], op[key], tp[key]].map((v) =>
      v === undefined ? undefined : JSON.stringify(v),
    );
    const pick = pick3(bv, ov, tv);
    if (pick === 'conflict') {
      conflict = true;
      conflicts.push({
        kind: 'setting',
        database,
        column: key,
        base: bv,
        ours: ov,
        theirs: tv,
        message: `pragma ${key}: ours ${String(ov)}, theirs ${String(tv)}, base ${String(bv)}`,
      });
    }
    merged[key] = pick === 'theirs' ? tp[key] : op[key];
  }
  if (conflict) {
    const m = CONFLICT_MARKERS;
    const diff3 =
      style.diff3 && base?.pragmas !== undefined
        ? `${m.base} ${style.base}\n${pragmasMember(base.pragmas)}\n`
        : '';
    file.write(
      `${m.ours} ${style.ours}\n${pragmasMember(op)}\n${diff3}${m.separator}\n${pragmasMember(tp)}\n${m.theirs} ${style.theirs}\n`,
    );
  } else {
    file.write(`${pragmasMember(merged as unknown as ArchivePragmas)}\n`);
  }
  file.write('"tables": {');
  return merged as unknown as ArchivePragmas;
}

/** Walks the three inputs' tables in name order and merges each. */
function mergeAllTables(
  run: TableMergeRun,
  base: ArchiveCursor | undefined,
  ours: ArchiveCursor,
  theirs: ArchiveCursor,
): void {
  const inputs = [base, ours, theirs];
  const heads = inputs.map((c) => c?.nextTable());
  const tables = new ItemList((text) => {
    run.file.write(text);
  }, run.style);
  let any = false;
  for (;;) {
    const names = heads.flatMap((h) => (h === undefined ? [] : [h.name]));
    if (names.length === 0) break;
    const name = names.reduce((a, b) => (compareNames(a, b) <= 0 ? a : b));
    const side = (i: number): TableSides['ours'] => {
      const c = inputs[i];
      const h = heads[i];
      return c !== undefined && h?.name === name ? { cursor: c, meta: h } : undefined;
    };
    const sides: TableSides = { base: side(0), ours: side(1), theirs: side(2) };
    if (!any) run.file.write('\n');
    any = true;
    mergeTable(run, name, sides, tables);
    for (let i = 0; i < 3; i++) {
      const c = inputs[i];
      if (c === undefined || heads[i]?.name !== name) continue;
      const next = c.nextTable();
      if (next !== undefined && compareNames(name, next.name) >= 0) {
        throw new ArchiveFormatError(`the tables are not in name order ("${next.name}" after "${name}")`, {
          file: c.path,
        });
      }
      heads[i] = next;
    }
  }
  tables.end();
  run.file.write(tables.size === 0 ? '},\n' : '\n},\n');
}

const OBJECT_ORDER = { index: 0, view: 1, trigger: 2 } as const;

/** The footer: sequences (the larger counter wins), objects merged by type and name, the schema order. */
function writeFooter(run: TableMergeRun, [base, ours, theirs]: readonly (ArchiveFooter | undefined)[]): void {
  const o = ours as ArchiveFooter;
  const t = theirs as ArchiveFooter;
  const sequences = new Map<string, unknown>();
  for (const seq of [o.sequences, t.sequences]) {
    for (const [name, value] of Object.entries(seq)) {
      if (run.rowCounts[name] === undefined) continue;
      const had = sequences.get(name);
      if (had === undefined || compareNumbers(asNumber(value), asNumber(had)) > 0) sequences.set(name, value);
    }
  }
  const seqLines = [...sequences.entries()]
    .sort(([a], [b]) => compareNames(a, b))
    .map(([name, value]) => [name, JSON.stringify(value)] as const);
  run.file.write(`${sequencesMember(seqLines)}\n`);
  const objects = mergeObjects(run, base?.objects ?? [], o.objects, t.objects);
  writeObjects(run, objects);
  const order = mergeSchemaOrder(run, objects, sequences.size > 0, [
    base?.schema_order,
    o.schema_order,
    t.schema_order,
  ]);
  run.file.write(arrayMember('schema_order', order.map(schemaEntryLine), true));
  run.file.write('}\n');
}

function asNumber(value: unknown): number | bigint {
  const v = decodeValue(value);
  return typeof v === 'number' || typeof v === 'bigint' ? v : 0;
}

type MergedObject =
  | { kind: 'object'; object: ArchiveObject }
  | {
      kind: 'conflict';
      ours?: ArchiveObject;
      theirs?: ArchiveObject;
      base?: ArchiveObject;
      sortAs: ArchiveObject;
    };

function mergeObjects(
  run: TableMergeRun,
  base: readonly ArchiveObject[],
  ours: readonly ArchiveObject[],
  theirs: readonly ArchiveObject[],
): MergedObject[] {
  const id = (x: ArchiveObject): string => `${x.type}\u0000${x.name}`;
  const maps = [base, ours, theirs].map((list) => new Map(list.map((x) => [id(x), x])));
  const [bm, om, tm] = maps as [
    Map<string, ArchiveObject>,
    Map<string, ArchiveObject>,
    Map<string, ArchiveObject>,
  ];
  const out: MergedObject[] = [];
  for (const key of new Set([...om.keys(), ...tm.keys(), ...bm.keys()])) {
    const [b, o, t] = [bm.get(key), om.get(key), tm.get(key)];
    const pick = pick3(b && objectLine(b), o && objectLine(o), t && objectLine(t));
    if (pick === 'conflict') {
      const sortAs = (o ?? t ?? b) as ArchiveObject;
      run.conflicts.push({
        kind: 'schema',
        database: run.database,
        table: sortAs.tbl_name,
        message: `${sortAs.type} "${sortAs.name}": both sides changed it differently`,
        ours: o?.sql,
        theirs: t?.sql,
        base: b?.sql,
      });
      out.push({
        kind: 'conflict',
        ...(o && { ours: o }),
        ...(t && { theirs: t }),
        ...(b && { base: b }),
        sortAs,
      });
      continue;
    }
    const chosen = pick === 'ours' ? o : t;
    if (chosen !== undefined) out.push({ kind: 'object', object: chosen });
  }
  const sortKey = (m: MergedObject): ArchiveObject => (m.kind === 'object' ? m.object : m.sortAs);
  return out.sort((x, y) => {
    const a = sortKey(x);
    const b = sortKey(y);
    return OBJECT_ORDER[a.type] - OBJECT_ORDER[b.type] || compareNames(a.name, b.name);
  });
}

function writeObjects(run: TableMergeRun, objects: readonly MergedObject[]): void {
  if (objects.length === 0) {
    run.file.write('"objects": [],\n');
    return;
  }
  run.file.write('"objects": [\n');
  const list = new ItemList((text) => {
    run.file.write(text);
  }, run.style);
  for (const m of objects) {
    if (m.kind === 'object') list.add(objectLine(m.object));
    else {
      list.addBlock({
        ours: m.ours && objectLine(m.ours),
        base: m.base && objectLine(m.base),
        theirs: m.theirs && objectLine(m.theirs),
      });
    }
  }
  list.end();
  run.file.write('\n],\n');
}

/**
 * The creation order: the side that changed it, or ours followed by what only theirs created; always limited to
 * what the merged archive creates.
 */
function mergeSchemaOrder(
  run: TableMergeRun,
  objects: readonly MergedObject[],
  hasSequences: boolean,
  [base, ours, theirs]: readonly (readonly ArchiveSchemaEntry[] | undefined)[],
): ArchiveSchemaEntry[] {
  const exists = new Set<string>(Object.keys(run.rowCounts).map((n) => `table\u0000${n}`));
  for (const m of objects) {
    const x = m.kind === 'object' ? m.object : m.sortAs;
    exists.add(`${x.type}\u0000${x.name}`);
  }
  const text = (list: readonly ArchiveSchemaEntry[] | undefined): string | undefined =>
    list && JSON.stringify(list);
  const pick = pick3(text(base), text(ours), text(theirs));
  const first = (pick === 'theirs' ? theirs : ours) ?? [];
  const merged = pick === 'conflict' ? [...first, ...(theirs ?? [])] : [...first];
  const seen = new Set<string>();
  return merged.filter((e) => {
    const id = `${e.type}\u0000${e.name}`;
    const keep = !seen.has(id) && (exists.has(id) || (e.name === 'sqlite_sequence' && hasSequences));
    seen.add(id);
    return keep;
  });
}

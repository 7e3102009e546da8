/**
 * Marking the rows of a `constraint` conflict in the merged archive: each row that breaks a constraint together with
 * another goes between conflict markers on the side it came from (ours' row as `<<<<<<< ours` against nothing,
 * theirs' against nothing on ours' side), so `git resolve --ours` keeps ours' row and drops theirs', and every
 * reader, `git check` and `status` see the conflict until it is resolved.
 */
import { ArchiveCursor } from '../archive/archive-cursor.js';
import { BufferedWriter } from '../archive/buffered-writer.js';
import { CONFLICT_MARKERS } from '../archive/conflict-markers.js';
import { readLines } from '../archive/read-lines.js';
import { commitTempFile } from '../files/atomic-file.js';
import { codecForArchivePath, tempArchivePath } from '../archive/archive-file.js';
import { keyText } from './key-order.js';
import type { BlockStyle } from './merge-output.js';
import type { MergeConflict } from './merge-types.js';
import { tableOf } from './resolve-conflicts.js';
import { TableFactsCache } from './table-facts.js';

/** Table → row text → the side the row came from. */
type Marks = Map<string, Map<string, 'ours' | 'theirs'>>;

/** Marks the rows of the constraint conflicts in the merged archive at `merged` (rewritten in place). */
export function markConstraintRows(
  merged: string,
  oursPath: string,
  conflicts: readonly MergeConflict[],
  style: BlockStyle,
): void {
  const wanted = new Map<string, Set<string>>();
  for (const c of conflicts) {
    if (c.kind !== 'constraint' || c.table === undefined || c.rows === undefined) continue;
    const set = wanted.get(c.table) ?? new Set<string>();
    for (const r of c.rows) set.add(r);
    wanted.set(c.table, set);
  }
  if (wanted.size === 0) return;
  const texts = rowTexts(merged, wanted);
  const marks: Marks = new Map();
  const inOurs = rowTexts(oursPath, texts, true);
  for (const [table, set] of texts) {
    const ours = inOurs.get(table) ?? new Set<string>();
    marks.set(table, new Map([...set].map((t) => [t, ours.has(t) ? 'ours' : 'theirs'] as const)));
  }
  rewrite(merged, marks, style);
}

/**
 * The texts of the rows of `path` that `wanted` names, per table: by text, or by key (`key:<key>`). With `exact`,
 * only rows whose text is wanted.
 */
function rowTexts(
  path: string,
  wanted: ReadonlyMap<string, ReadonlySet<string>>,
  exact = false,
): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  const cursor = new ArchiveCursor(path, { lazyRows: true });
  const facts = new TableFactsCache(path);
  try {
    for (let table = cursor.nextTable(); table !== undefined; table = cursor.nextTable()) {
      const names = wanted.get(table.name);
      if (names === undefined) continue;
      const f = facts.of(table);
      const set = new Set<string>();
      for (let row = cursor.nextRow(); row !== undefined; row = cursor.nextRow()) {
        if (names.has(row.text) || (!exact && names.has(`key:${keyText(f, row.values)}`))) set.add(row.text);
      }
      found.set(table.name, set);
    }
  } finally {
    cursor.close();
    facts.close();
  }
  return found;
}

/** Rewrites the archive with each marked row line replaced by a conflict block on its side. */
function rewrite(path: string, marks: Marks, style: BlockStyle): void {
  let table: string | undefined;
  rewriteLines(
    path,
    (line) => {
      const name = tableOf(line);
      if (name !== undefined) table = name;
      const comma = line.endsWith(',');
      return table === undefined ? undefined : marks.get(table)?.get(comma ? line.slice(0, -1) : line);
    },
    style,
  );
}

/** Rewrites the archive, putting each line `sideOf` names a side for between conflict markers on that side. */
function rewriteLines(
  path: string,
  sideOf: (line: string) => 'ours' | 'theirs' | undefined,
  style: BlockStyle,
): void {
  const temp = tempArchivePath(path, '.marked');
  const writer = new BufferedWriter(temp, { hashed: false, codec: codecForArchivePath(temp) });
  const m = CONFLICT_MARKERS;
  try {
    for (const [, line] of readLines(path)) {
      const side = sideOf(line);
      if (side === undefined) {
        writer.write(`${line}\n`);
        continue;
      }
      const ours = side === 'ours' ? `${line}\n` : '';
      const theirs = side === 'theirs' ? `${line}\n` : '';
      const base = style.diff3 ? `${m.base} ${style.base}\n` : '';
      writer.write(
        `${m.ours} ${style.ours}\n${ours}${base}${m.separator}\n${theirs}${m.theirs} ${style.theirs}\n`,
      );
    }
    writer.finish();
  } catch (error) {
    writer.abort();
    throw error;
  }
  commitTempFile(temp, path);
}

/**
 * Marks the object (index, view, trigger) or table whose schema the merged archive cannot build, on the side that
 * brought it: its line between conflict markers against nothing, so resolving keeps or drops it and readers flag the
 * file until then. Returns whether a line was marked.
 */
export function markSchemaItem(
  merged: string,
  oursPath: string,
  message: string,
  style: BlockStyle,
): boolean {
  const m = /the schema of (table|virtual|index|view|trigger) "((?:[^"\\]|\\.)*)" is rejected/.exec(message);
  if (m === null) return false;
  const kind = m[1] === 'virtual' ? 'table' : (m[1] as string);
  const name = m[2] as string;
  const ours = new ArchiveCursor(oursPath, { lazyRows: true });
  let fromOurs: boolean;
  try {
    fromOurs =
      kind === 'table' ? false : ours.footer().objects.some((o) => o.type === kind && o.name === name);
  } finally {
    ours.close();
  }
  const matches = (line: string): boolean => {
    const text = line.endsWith(',') ? line.slice(0, -1) : line;
    if (kind === 'table') return tableOf(line) === name;
    if (!text.startsWith('{"type":')) return false;
    try {
      const o = JSON.parse(text) as { type?: unknown; name?: unknown };
      return o.type === kind && o.name === name;
    } catch {
      return false;
    }
  };
  let marked = false;
  rewriteLines(
    merged,
    (line) => {
      if (marked || kind === 'table' || !matches(line)) return undefined;
      marked = true;
      return fromOurs ? 'ours' : 'theirs';
    },
    style,
  );
  return marked;
}

/**
 * Comparing two archives by content: line by line, ignoring the `exported_at` line (the same rule the archive writer
 * uses to decide whether an archive changed). Because archives are deterministic (tables, rows and keys in a fixed
 * order), two databases with the same content dehydrate into the same lines.
 */
import { readLines } from '../hydrate/read-lines.js';

/** Where two archives first differ. */
export interface ArchiveDifference {
  /** 1-based line number, counted in the first archive. */
  readonly line: number;
  /** The table whose rows or header differ there; undefined for the file header or footer. */
  readonly table?: string;
}

/** Result of {@link compareArchives}. */
export interface ArchiveComparison {
  readonly same: boolean;
  readonly firstDifference?: ArchiveDifference;
}

const EXPORTED_AT = '"exported_at": ';
const TABLE_MARK = ': {"schema": ';

/** Compares two archive files by content (everything but `exported_at`), streaming both. */
export function compareArchives(a: string, b: string): ArchiveComparison {
  const left = contentLines(a);
  const right = contentLines(b);
  let table: string | undefined;
  try {
    for (;;) {
      const l = left.next();
      const r = right.next();
      if (l.done === true && r.done === true) return { same: true };
      const lineNumber = l.done === true ? undefined : l.value[0];
      if (l.done !== true)
        table = tableOf(l.value[1]) ?? (l.value[1].startsWith('"sequences"') ? undefined : table);
      if (l.done === true || r.done === true || l.value[1] !== r.value[1]) {
        return {
          same: false,
          firstDifference: { line: lineNumber ?? 0, ...(table === undefined ? {} : { table }) },
        };
      }
    }
  } finally {
    left.return(undefined);
    right.return(undefined);
  }
}

function* contentLines(path: string): Generator<readonly [number, string], void, undefined> {
  for (const entry of readLines(path)) {
    if (entry[0] <= 3 && entry[1].startsWith(EXPORTED_AT)) continue;
    yield entry;
  }
}

/** The table name of a table header line (`"name": {"schema": ...`), else undefined. */
function tableOf(line: string): string | undefined {
  if (!line.startsWith('"')) return undefined;
  const at = line.indexOf(TABLE_MARK);
  if (at < 0) return undefined;
  try {
    const name: unknown = JSON.parse(line.slice(0, at));
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined;
  }
}

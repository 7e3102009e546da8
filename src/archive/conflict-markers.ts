/**
 * Git's conflict markers, as the merge driver writes them around conflicting rows and as a text merge (a git host's
 * web merge, which never runs custom drivers) leaves them. Readers report them with the way out instead of as
 * invalid JSON.
 */
import { readLines } from './read-lines.js';
import { openArchiveSource } from './archive-file.js';

/** The marker strings, seven characters each (git's default `conflict-marker-size`). */
export const CONFLICT_MARKERS = {
  ours: '<<<<<<<',
  base: '|||||||',
  separator: '=======',
  theirs: '>>>>>>>',
} as const;

/** Whether a line is one of git's conflict markers. */
export function isConflictMarker(line: string): boolean {
  return /^(?:<{7}|>{7}|\|{7})(?: |$)/.test(line) || /^={7}$/.test(line);
}

/** The hint every reader gives for an archive with unresolved conflict markers. */
export const UNRESOLVED_CONFLICT_HINT =
  'the archive has unresolved merge conflicts: run `db-hydration git resolve --ours` (or `--theirs`) to pick a side, ' +
  'or edit the file (keep one row between each pair of markers, delete the marker lines); then `db-hydration git check`';

/**
 * The first line of an archive file that is a conflict marker, or undefined when it has none (or cannot be read as
 * lines: then the readers report what is wrong with it). Reads the file once, line by line.
 */
export function findConflictMarker(path: string): number | undefined {
  try {
    for (const [number, text] of readLines(path)) if (isConflictMarker(text)) return number;
  } catch {
    return undefined;
  }
  return undefined;
}

const OURS_MARKER = Buffer.from(`\n${CONFLICT_MARKERS.ours}`);

/**
 * Whether the archive has a line starting with `<<<<<<<`, scanned as bytes (fast enough to run before every
 * dehydrate: no line is decoded). A missing or unreadable file has none.
 */
export function hasConflictMarkers(path: string): boolean {
  let source;
  try {
    source = openArchiveSource(path);
  } catch {
    return false;
  }
  try {
    const chunk = Buffer.allocUnsafe(1 << 20);
    // The buffer starts with a newline, so a marker on the first line is found like any other; the last bytes of
    // each chunk are kept in front of the next, so a marker cut by a chunk boundary is found too.
    const keep = OURS_MARKER.length - 1;
    chunk[0] = 10;
    let used = 1;
    for (;;) {
      const n = source.read(chunk, used, chunk.length - used);
      if (n === 0) return false;
      const end = used + n;
      if (chunk.subarray(0, end).includes(OURS_MARKER)) return true;
      const from = Math.max(0, end - keep);
      chunk.copy(chunk, 0, from, end);
      used = end - from;
    }
  } catch {
    return false;
  } finally {
    source.close();
  }
}

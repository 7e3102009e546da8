/**
 * Git's conflict markers, as the merge driver writes them around conflicting rows and as a text merge (a git host's
 * web merge, which never runs custom drivers) leaves them. Readers report them with the way out instead of as
 * invalid JSON.
 */
import { readLines } from './read-lines.js';

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

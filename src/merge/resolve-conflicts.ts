/**
 * Resolving a merged archive's conflict blocks: keep one side of each block (`--ours`, `--theirs`), optionally only
 * in one table, then make the file valid again: a trailing comma left before a closing bracket is dropped, an array
 * left empty is closed on its line, and every table's `row_count` is counted anew. With no side given, only that
 * last step runs: it finishes a resolution made by hand in an editor.
 *
 * The file is streamed twice (resolve and count, then write the counts), and replaced atomically.
 */
import { rmSync } from 'node:fs';
import { BufferedWriter } from '../archive/buffered-writer.js';
import { CONFLICT_MARKERS, isConflictMarker, UNRESOLVED_CONFLICT_HINT } from '../archive/conflict-markers.js';
import { readLines } from '../archive/read-lines.js';
import { ArchiveFormatError } from '../errors.js';
import { commitTempFile } from '../files/atomic-file.js';
import { authenticateArchive, codecForArchivePath, tempArchivePath } from '../archive/archive-file.js';

/** Options of {@link resolveConflicts}. */
export interface ResolveOptions {
  /** The side each block keeps; absent: resolve nothing, only finish a resolution made by hand. */
  readonly side?: 'ours' | 'theirs' | undefined;
  /** Resolve only the blocks in this table (rows, or the whole table); others stay marked. */
  readonly table?: string | undefined;
}

/** What {@link resolveConflicts} did. */
export interface ResolveOutcome {
  /** Conflict blocks resolved. */
  readonly blocks: number;
  /** Conflict blocks left (in other tables than the one asked for). */
  readonly remaining: number;
  /** Whether the file changed. */
  readonly changed: boolean;
}

const TABLE_LINE = /^("(?:[^"\\]|\\.)*"): \{"schema": .*"row_count": (\d+), "rows": \[(\]\},?)?$/;
const CLOSING = new Set([']}', ']},', ']', '],', '}', '},']);

/**
 * Resolves the conflict blocks of the archive at `path` in place.
 * @throws {ArchiveFormatError} when a block is malformed, or (without a side) when blocks remain
 */
export function resolveConflicts(path: string, options: ResolveOptions = {}): ResolveOutcome {
  // An encrypted archive is authenticated whole before a temp file is begun: a tampered one is refused, naming it.
  authenticateArchive(path);
  // Temp files keep the archive's codec (an encrypted archive's are encrypted too) and are read back through it.
  const temp = tempArchivePath(path);
  const out = new LineWriter(new BufferedWriter(temp, { hashed: false, codec: codecForArchivePath(temp) }));
  let blocks = 0;
  let remaining = 0;
  try {
    const lines = readLines(path);
    for (let r = lines.next(); r.done !== true; r = lines.next()) {
      const [lineNumber, line] = r.value;
      if (!line.startsWith(CONFLICT_MARKERS.ours) || !isConflictMarker(line)) {
        out.emit(line);
        continue;
      }
      const block = readBlock(path, lineNumber, line, lines);
      const inTable = out.table ?? tableOf(block.ours[0] ?? block.theirs[0]);
      if (options.side === undefined || (options.table !== undefined && inTable !== options.table)) {
        if (options.side === undefined) {
          throw new ArchiveFormatError(`line ${lineNumber}: unresolved merge conflict marker`, {
            file: path,
            hint: UNRESOLVED_CONFLICT_HINT,
          });
        }
        remaining++;
        for (const l of block.raw) out.emitRaw(l);
        continue;
      }
      blocks++;
      for (const l of options.side === 'ours' ? block.ours : block.theirs) out.emit(l);
    }
    out.finish();
  } catch (error) {
    out.abort();
    throw error;
  }
  const counts = remaining === 0 ? out.counts : undefined;
  writeCounts(temp, path, counts);
  return { blocks, remaining, changed: true };
}

/** The name of the table whose header line this is, if it is one. */
export function tableOf(line: string | undefined): string | undefined {
  const m = line === undefined ? null : TABLE_LINE.exec(line);
  return m === null ? undefined : (JSON.parse(m[1] ?? '""') as string);
}

interface Block {
  readonly ours: string[];
  readonly theirs: string[];
  readonly raw: string[];
}

function readBlock(
  path: string,
  start: number,
  first: string,
  lines: Generator<readonly [number, string], void, undefined>,
): Block {
  const block: Block = { ours: [], theirs: [], raw: [first] };
  let part: 'ours' | 'base' | 'theirs' = 'ours';
  for (let r = lines.next(); r.done !== true; r = lines.next()) {
    const line = r.value[1];
    block.raw.push(line);
    if (line.startsWith(CONFLICT_MARKERS.base) && isConflictMarker(line)) part = 'base';
    else if (line === CONFLICT_MARKERS.separator) part = 'theirs';
    else if (line.startsWith(CONFLICT_MARKERS.theirs) && isConflictMarker(line)) return block;
    else if (isConflictMarker(line)) break;
    else if (part === 'ours') block.ours.push(line);
    else if (part === 'theirs') block.theirs.push(line);
  }
  throw new ArchiveFormatError(`line ${start}: a conflict block that does not end with ">>>>>>>"`, {
    file: path,
  });
}

/**
 * Writes lines with one line held back, so that a closing bracket can drop the comma before it, and counts each
 * table's rows.
 */
class LineWriter {
  private held: string | undefined;
  /** The table whose rows are being written. */
  table: string | undefined;
  readonly counts = new Map<string, number>();

  constructor(private readonly writer: BufferedWriter) {}

  emit(line: string): void {
    if (this.held !== undefined && CLOSING.has(line)) {
      if (this.held.endsWith('[')) {
        this.held = `${this.held}${line}`;
        this.track(this.held);
        return;
      }
      if (this.held.endsWith(',')) this.held = this.held.slice(0, -1);
    }
    this.track(line);
    this.push(line);
  }

  /** A line of a block left unresolved: written as it is. */
  emitRaw(line: string): void {
    this.push(line);
  }

  private track(line: string): void {
    const name = tableOf(line);
    if (name !== undefined) {
      this.counts.set(name, 0);
      this.table = line.endsWith('[') ? name : undefined;
    } else if (this.table !== undefined) {
      if (line === ']}' || line === ']},' || line.endsWith('[]}') || line.endsWith('[]},'))
        this.table = undefined;
      else this.counts.set(this.table, (this.counts.get(this.table) ?? 0) + 1);
    }
  }

  private push(line: string): void {
    if (this.held !== undefined) this.writer.write(`${this.held}\n`);
    this.held = line;
  }

  finish(): void {
    if (this.held !== undefined) this.writer.write(`${this.held}\n`);
    this.held = undefined;
    this.writer.finish();
  }

  abort(): void {
    this.writer.abort();
  }
}

/** Copies `temp` over `path`, with each table header's `row_count` set from `counts` (when given). */
function writeCounts(temp: string, path: string, counts: ReadonlyMap<string, number> | undefined): void {
  const final = tempArchivePath(path, '.counted');
  const writer = new BufferedWriter(final, { hashed: false, codec: codecForArchivePath(final) });
  try {
    const lines = readLines(temp);
    for (let r = lines.next(); r.done !== true; r = lines.next()) {
      const line = r.value[1];
      const name = counts === undefined ? undefined : tableOf(line);
      const count = name === undefined ? undefined : counts?.get(name);
      writer.write(
        `${count === undefined ? line : line.replace(/"row_count": \d+, "rows": \[(\]\},?)?$/, (_m, end: string | undefined) => `"row_count": ${count}, "rows": [${end ?? ''}`)}\n`,
      );
    }
    writer.finish();
    commitTempFile(final, path);
  } catch (error) {
    writer.abort();
    throw error;
  } finally {
    rmSync(temp, { force: true });
  }
}

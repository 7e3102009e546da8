/**
 * Writing a merged archive: the same bytes the archive writer produces (the line formats come from
 * src/archive/write-archive.ts), plus git's conflict markers around what could not be merged.
 *
 * A conflict block stands where one item (a row, a table, an object, the pragmas line) would be:
 *
 *     <<<<<<< ours
 *     {"id":3,"name":"a"},
 *     ||||||| base            (diff3 only)
 *     {"id":3,"name":"x"},
 *     =======
 *     {"id":3,"name":"b"},
 *     >>>>>>> theirs
 *
 * Each side's lines carry the comma the item would carry in its place, so keeping one side and deleting the marker
 * lines leaves valid JSON (`db-hydration git resolve` does exactly that and recounts rows).
 */
import { rmSync } from 'node:fs';
import { isEncryptedCodec } from '../archive/age-codec.js';
import { BufferedWriter } from '../archive/buffered-writer.js';
import { readLines } from '../archive/read-lines.js';
import {
  codecForArchivePath,
  readWholeArchive,
  tempArchivePath,
  transcodeArchive,
} from '../archive/archive-file.js';
import { IDENTITY_CODEC, type ArchiveCodec } from '../archive/codec.js';
import { PLAIN_ARCHIVE_MAX_BYTES } from '../archive/read-archive.js';
import { CONFLICT_MARKERS } from '../archive/conflict-markers.js';
import { commitTempFile, tempPathFor } from '../files/atomic-file.js';
import { HydrationError } from '../errors.js';

/** The labels and style of conflict blocks. */
export interface BlockStyle {
  readonly ours: string;
  readonly base: string;
  readonly theirs: string;
  readonly diff3: boolean;
}

/** One side of a conflict block: its item text (one or more lines, no trailing comma), or absent (deleted). */
export interface ConflictBlock {
  readonly ours: string | undefined;
  readonly base: string | undefined;
  readonly theirs: string | undefined;
}

/**
 * A JSON list whose items are written one after another, separated by `,\n`, where an item may be a conflict block.
 * A block is held until the next item (or the end) shows whether its sides need a trailing comma.
 */
export class ItemList {
  private count = 0;
  private pending: ConflictBlock | undefined;
  /** Whether a block that another item follows was just written: it ends with its own comma and newline. */
  private afterBlock = false;

  constructor(
    private readonly write: (text: string) => void,
    private readonly style: BlockStyle,
  ) {}

  /** Items written so far, blocks included. */
  get size(): number {
    return this.count;
  }

  add(text: string): void {
    this.flushPending(true);
    // The separator and the item are written apart: a joined string would be built, and copied flat, once per row.
    if (this.count > 0 && !this.afterBlock) this.write(',\n');
    this.write(text);
    this.afterBlock = false;
    this.count++;
  }

  /** Adds an item that `writeItem` writes itself (a table with its rows appended from a part file). */
  addWith(writeItem: () => void): void {
    this.flushPending(true);
    if (this.count > 0 && !this.afterBlock) this.write(',\n');
    this.afterBlock = false;
    writeItem();
    this.count++;
  }

  addBlock(block: ConflictBlock): void {
    this.flushPending(true);
    if (this.count > 0 && !this.afterBlock) this.write(',\n');
    this.afterBlock = false;
    this.pending = block;
    this.count++;
  }

  /** Ends the list (writes a held block). */
  end(): void {
    this.flushPending(false);
  }

  private flushPending(more: boolean): void {
    const block = this.pending;
    if (block === undefined) return;
    this.pending = undefined;
    const side = (text: string | undefined): string =>
      text === undefined ? '' : `${text}${more ? ',' : ''}\n`;
    const m = CONFLICT_MARKERS;
    let out = `${m.ours} ${this.style.ours}\n${side(block.ours)}`;
    if (this.style.diff3) out += `${m.base} ${this.style.base}\n${side(block.base)}`;
    out += `${m.separator}\n${side(block.theirs)}${m.theirs} ${this.style.theirs}`;
    this.write(more ? `${out}\n` : out);
    this.afterBlock = more;
  }
}

/** A temp file written through the byte seam, committed over its target at the end. */
export class MergedFile {
  private readonly writer: BufferedWriter;
  private parts = 0;
  private readonly open = new Set<PartFile>();
  private finished = false;

  /** An encrypted target's part files are kept in memory: on disk they would be plaintext. */
  private readonly memoryParts: boolean;

  /**
   * `codec`: the codec of the target. A plain or gzip target's temp file is plain (the checks read it) and encoded on
   * commit; an encrypted target's temp file is encrypted as it is written (to the target's recipients), and its part
   * files are kept in memory, so no plaintext reaches the disk.
   */
  constructor(
    readonly target: string,
    private readonly codec: ArchiveCodec = IDENTITY_CODEC,
  ) {
    this.memoryParts = isEncryptedCodec(codec);
    if (this.memoryParts) {
      const temp = tempArchivePath(target);
      this.writer = new BufferedWriter(temp, { codec: codecForArchivePath(temp) });
    } else {
      this.writer = new BufferedWriter(tempPathFor(target));
    }
  }

  /** The temp file's path: complete after {@link finish}, before {@link commit}. */
  get tempPath(): string {
    return this.writer.path;
  }

  write(text: string): void {
    this.writer.write(text);
  }

  /** A part file for a table's rows, written now and appended later (its row count goes before it). */
  newPart(): PartFile {
    this.parts++;
    const part = new PartFile(`${this.writer.path}.part${this.parts}`, this.memoryParts);
    this.open.add(part);
    return part;
  }

  /** A list of row texts kept beside the temp file (in memory for an encrypted target), removed with the parts. */
  newRowList(): RowList {
    return new RowList(this.memoryParts ? undefined : () => this.newPart());
  }

  appendPart(part: PartFile): void {
    part.finish();
    if (part.memory === undefined) this.writer.appendFile(part.path);
    else for (const text of part.memory) this.writer.write(text);
    part.remove();
    this.open.delete(part);
  }

  /** Completes the temp file (the target is not touched yet). */
  finish(): void {
    this.writer.finish();
    this.finished = true;
  }

  /** Puts the complete temp file in place of the target. */
  commit(): void {
    if (!this.finished) this.finish();
    if (this.codec === IDENTITY_CODEC || this.memoryParts) {
      commitTempFile(this.writer.path, this.target);
      return;
    }
    const encoded = tempPathFor(this.target);
    transcodeArchive(this.writer.path, encoded, this.codec);
    rmSync(this.writer.path, { force: true });
    commitTempFile(encoded, this.target);
  }

  /** Drops the temp file and every part file; the target stays as it was. */
  abort(): void {
    for (const part of this.open) part.remove();
    this.open.clear();
    if (this.finished) rmSync(this.writer.path, { force: true });
    else this.writer.abort();
  }
}

/** One table's rows, in a file of their own until the table's header (with its row count) can be written. */
export class PartFile {
  private readonly writer: BufferedWriter | undefined;
  private finished = false;
  /** The part's text, when it is kept in memory instead of a file. */
  readonly memory: string[] | undefined;

  constructor(
    readonly path: string,
    inMemory = false,
  ) {
    this.memory = inMemory ? [] : undefined;
    this.writer = inMemory
      ? undefined
      : new BufferedWriter(path, { hashed: false, buffer: Buffer.allocUnsafe(1 << 16) });
  }

  /** Whether anything was written. */
  written = false;

  write = (text: string): void => {
    if (text.length > 0) this.written = true;
    if (this.memory !== undefined) this.memory.push(text);
    else this.writer?.write(text);
  };

  /** The part's text (for a conflict block, which holds a whole table). */
  readBack(): string {
    this.finish();
    if (this.memory !== undefined) return this.memory.join('');
    const bytes = readWholeArchive(this.path, PLAIN_ARCHIVE_MAX_BYTES);
    if (bytes === undefined) {
      throw new HydrationError(
        'IO',
        `a conflicting table is too large to put both its versions in a conflict block`,
        {
          file: this.path,
          hint: 'merge that table by hand: take one side of the archive (`git checkout --ours` or `--theirs`) and re-apply the other side’s changes',
        },
      );
    }
    return bytes.toString('utf8');
  }

  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.writer?.finish(false);
  }

  remove(): void {
    if (!this.finished) this.writer?.abort();
    if (this.memory !== undefined) this.memory.length = 0;
    else rmSync(this.path, { force: true });
  }
}

/**
 * When the two sides cannot be merged at all (an input is not a valid archive), `ours` becomes one conflict block
 * holding both whole files, so that every reader, `git check` and `status` flag it until someone picks a side:
 * `db-hydration git resolve --ours` / `--theirs` (or `git checkout --ours` / `--theirs`) works on it as on any block.
 */
export function markWholeFileConflict(ours: string, theirs: string, style: BlockStyle): void {
  const read = (path: string): string => {
    const bytes = readWholeArchive(path, PLAIN_ARCHIVE_MAX_BYTES);
    if (bytes === undefined)
      throw new HydrationError('IO', 'too large to hold in a conflict block', { file: path });
    return bytes.toString('utf8').replace(/\n$/, '');
  };
  const m = CONFLICT_MARKERS;
  const text = `${m.ours} ${style.ours}\n${read(ours)}\n${m.separator}\n${read(theirs)}\n${m.theirs} ${style.theirs}\n`;
  const writer = new BufferedWriter(tempPathFor(ours), { hashed: false });
  try {
    writer.write(text);
    writer.finish();
  } catch (error) {
    writer.abort();
    throw error;
  }
  commitTempFile(writer.path, ours);
}

/**
 * Row texts collected while merging (a table's merged rows that are not the base's, for the constraint check), read
 * back in the order they were added. They go to a part file, one per line (JSON row texts hold no newline), not into
 * the JavaScript heap: held there, tens of thousands of rows that each survive the young generation's collections are
 * what made V8 grow it, and the merge's peak RSS with it, as the tables grow. An encrypted target's list stays in memory
 * (a file would be plaintext).
 */
export class RowList implements Iterable<string> {
  private count = 0;
  private readonly memory: string[] | undefined;
  /** The part file, opened at the first row (most tables of a merge have none). */
  private part: PartFile | undefined;

  /** `newPart`: where the texts go; absent, they are kept in memory. */
  constructor(private readonly newPart: (() => PartFile) | undefined) {
    this.memory = newPart === undefined ? [] : undefined;
  }

  /** How many texts were added. */
  get size(): number {
    return this.count;
  }

  add(text: string): void {
    this.count++;
    if (this.memory !== undefined) {
      this.memory.push(text);
      return;
    }
    this.part ??= this.newPart?.();
    this.part?.write(text);
    this.part?.write('\n');
  }

  *[Symbol.iterator](): Iterator<string> {
    if (this.memory !== undefined) {
      yield* this.memory;
      return;
    }
    if (this.part === undefined) return;
    this.part.finish();
    for (const [, text] of readLines(this.part.path)) yield text;
  }

  /** Drops the texts (deletes the part file). */
  remove(): void {
    this.part?.remove();
    if (this.memory !== undefined) this.memory.length = 0;
  }
}

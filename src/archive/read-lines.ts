/**
 * Synchronous line reading in large chunks. Splitting happens on the byte 0x0A, which never occurs inside a
 * multi-byte UTF-8 sequence, so each line decodes on its own. A trailing `\r` (a Windows checkout) is dropped.
 *
 * Archives are JSON, which must be UTF-8 (RFC 8259): bytes that are not valid UTF-8 are refused, never decoded with
 * U+FFFD in their place. The check runs once per chunk, over the complete lines it holds (up to its last newline, so
 * a character is never cut in two), with Node's native `isUtf8`; only when it fails are the lines checked one by one
 * to name the bad one.
 *
 * One buffer is reused for the whole file: the unfinished line at the end of a chunk is moved to the buffer's start and
 * the next chunk is read after it, so no memory is allocated per chunk (the buffer only grows for a line longer than
 * itself).
 */
import { isUtf8 } from 'node:buffer';
import { openArchiveSource } from './archive-file.js';
import type { ByteSource } from './codec.js';
import { ArchiveFormatError } from '../errors.js';

const CHUNK = 1 << 20;

/**
 * The lines of one file, pulled one at a time: {@link next} returns the next line's text (`undefined` at the end) and
 * {@link lineNumber} is its number. Nothing is allocated per line but the line's string (a generator's result object
 * and a `[number, text]` pair per line are, at three archives of millions of lines each, the bulk of what a merge
 * allocates, and what makes V8 grow its young generation as the file grows).
 */
export class LineReader {
  /** The 1-based number of the line {@link next} returned last. */
  lineNumber = 0;
  private readonly source: ByteSource;
  private buf = Buffer.allocUnsafe(CHUNK);
  /** The buffer holds bytes `[start, end)` not yet returned; `nl` is the first newline among them, or -1. */
  private start = 0;
  private end = 0;
  private nl = -1;
  private ended = false;
  /** The file's last line when no newline ends it, until {@link next} returns it. */
  private pendingLast: string | undefined;

  constructor(
    readonly path: string,
    private readonly onBytes?: (bytes: Buffer) => void,
  ) {
    this.source = openArchiveSource(path);
  }

  /** The next line, or `undefined` at the end of the file. @throws {ArchiveFormatError} on bytes that are not UTF-8 */
  next(): string | undefined {
    for (;;) {
      const buf = this.buf;
      const nl = this.nl;
      if (nl >= 0) {
        const start = this.start;
        const stop = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
        this.start = nl + 1;
        const next = this.start < this.end ? buf.indexOf(10, this.start) : -1;
        this.nl = next < this.end ? next : -1;
        this.lineNumber++;
        return buf.toString('utf8', start, stop);
      }
      if (this.ended) {
        const last = this.pendingLast;
        this.pendingLast = undefined;
        return last;
      }
      this.fill();
    }
  }

  /** Reads the next chunk after the unfinished line (moved to the buffer's start); at the end, that line is last. */
  private fill(): void {
    const kept = this.end - this.start;
    if (kept > 0 && this.start > 0) this.buf.copy(this.buf, 0, this.start, this.end);
    this.start = 0;
    this.end = kept;
    if (kept === this.buf.length) {
      const bigger = Buffer.allocUnsafe(this.buf.length * 2);
      this.buf.copy(bigger, 0, 0, kept);
      this.buf = bigger;
    }
    const buf = this.buf;
    const n = this.source.read(buf, kept, buf.length - kept);
    if (n === 0) {
      this.ended = true;
      if (kept > 0) {
        assertUtf8(buf, 0, kept, this.lineNumber, this.path);
        // The last line, without a newline: returned by `next` as if one followed it.
        const stop = buf[kept - 1] === 13 ? kept - 1 : kept;
        this.lineNumber++;
        this.pendingLast = buf.toString('utf8', 0, stop);
      }
      this.start = this.end = 0;
      return;
    }
    const end = kept + n;
    this.end = end;
    this.onBytes?.(buf.subarray(kept, end));
    // Only the new bytes can hold a newline: the kept bytes had none.
    const nl = buf.indexOf(10, kept);
    if (nl >= 0 && nl < end) {
      assertUtf8(buf, 0, buf.lastIndexOf(10, end - 1), this.lineNumber, this.path);
      this.nl = nl;
    } else {
      this.nl = -1;
    }
  }

  /** Releases the file; safe to call more than once. */
  close(): void {
    this.source.close();
  }
}

/** Yields `[lineNumber, text]` for each line of the file (1-based numbers). @throws {ArchiveFormatError} on bytes that are not UTF-8 */
export function* readLines(
  path: string,
  onBytes?: (bytes: Buffer) => void,
): Generator<readonly [number, string], void, undefined> {
  const reader = new LineReader(path, onBytes);
  try {
    for (let line = reader.next(); line !== undefined; line = reader.next()) yield [reader.lineNumber, line];
  } finally {
    reader.close();
  }
}

/**
 * Throws unless `buf[start, end)`, whole lines of which the first is line `linesBefore + 1`, is valid UTF-8.
 * @throws {ArchiveFormatError} naming the file and the first line that is not
 */
export function assertUtf8(buf: Buffer, start: number, end: number, linesBefore: number, file: string): void {
  if (isUtf8(buf.subarray(start, end))) return;
  let line = linesBefore + 1;
  let from = start;
  for (;;) {
    let nl = buf.indexOf(10, from);
    if (nl < 0 || nl >= end) nl = end;
    if (!isUtf8(buf.subarray(from, nl)) || nl >= end) break;
    from = nl + 1;
    line++;
  }
  throw new ArchiveFormatError(
    `line ${line}: the archive is not valid UTF-8 (JSON must be UTF-8; the file may have been re-encoded or damaged)`,
    { file },
  );
}

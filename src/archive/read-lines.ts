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
import { ArchiveFormatError } from '../errors.js';

const CHUNK = 1 << 20;

/** Yields `[lineNumber, text]` for each line of the file (1-based numbers). @throws {ArchiveFormatError} on bytes that are not UTF-8 */
export function* readLines(
  path: string,
  onBytes?: (bytes: Buffer) => void,
): Generator<readonly [number, string], void, undefined> {
  const source = openArchiveSource(path);
  try {
    let buf = Buffer.allocUnsafe(CHUNK);
    let kept = 0; // bytes of an unfinished line at the start of buf
    let lineNumber = 0;
    for (;;) {
      if (kept === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, kept);
        buf = bigger;
      }
      const n = source.read(buf, kept, buf.length - kept);
      if (n === 0) break;
      const end = kept + n;
      onBytes?.(buf.subarray(kept, end));
      // Only the new bytes can hold a newline: the kept bytes had none.
      let nl = buf.indexOf(10, kept);
      if (nl >= 0 && nl < end) {
        const last = buf.lastIndexOf(10, end - 1);
        assertUtf8(buf, 0, last, lineNumber, path);
      }
      let start = 0;
      while (nl >= 0 && nl < end) {
        const stop = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
        yield [++lineNumber, buf.toString('utf8', start, stop)];
        start = nl + 1;
        nl = start < end ? buf.indexOf(10, start) : -1;
      }
      kept = end - start;
      if (kept > 0 && start > 0) buf.copy(buf, 0, start, end);
    }
    if (kept > 0) {
      assertUtf8(buf, 0, kept, lineNumber, path);
      const stop = buf[kept - 1] === 13 ? kept - 1 : kept;
      yield [++lineNumber, buf.toString('utf8', 0, stop)];
    }
  } finally {
    source.close();
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

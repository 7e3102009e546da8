/**
 * Synchronous line reading in large chunks. Splitting happens on the byte 0x0A, which never occurs inside a
 * multi-byte UTF-8 sequence, so each line decodes on its own. A trailing `\r` (a Windows checkout) is dropped.
 *
 * One buffer is reused for the whole file: the unfinished line at the end of a chunk is moved to the buffer's start and
 * the next chunk is read after it, so no memory is allocated per chunk (the buffer only grows for a line longer than
 * itself).
 */
import { closeSync, openSync, readSync } from 'node:fs';

const CHUNK = 1 << 20;

/** Yields `[lineNumber, text]` for each line of the file (1-based numbers). */
export function* readLines(path: string): Generator<readonly [number, string], void, undefined> {
  const fd = openSync(path, 'r');
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
      const n = readSync(fd, buf, kept, buf.length - kept, null);
      if (n === 0) break;
      const end = kept + n;
      let start = 0;
      // Only the new bytes can hold a newline: the kept bytes had none.
      let nl = buf.indexOf(10, kept);
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
      const stop = buf[kept - 1] === 13 ? kept - 1 : kept;
      yield [++lineNumber, buf.toString('utf8', 0, stop)];
    }
  } finally {
    closeSync(fd);
  }
}

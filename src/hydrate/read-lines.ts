/**
 * Synchronous line reading in large chunks. Splitting happens on the byte 0x0A, which never occurs inside a
 * multi-byte UTF-8 sequence, so each line decodes on its own. A trailing `\r` (a Windows checkout) is dropped.
 */
import { closeSync, openSync, readSync } from 'node:fs';

const CHUNK = 1 << 20;

/** Yields `[lineNumber, text]` for each line of the file (1-based numbers). */
export function* readLines(path: string): Generator<readonly [number, string], void, undefined> {
  const fd = openSync(path, 'r');
  try {
    let carry: Buffer | undefined;
    let lineNumber = 0;
    const chunk = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = readSync(fd, chunk, 0, CHUNK, null);
      if (n === 0) break;
      let buf = chunk.subarray(0, n);
      if (carry !== undefined) {
        buf = Buffer.concat([carry, buf]);
        carry = undefined;
      }
      let start = 0;
      for (;;) {
        const nl = buf.indexOf(10, start);
        if (nl < 0) break;
        const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
        yield [++lineNumber, buf.toString('utf8', start, end)];
        start = nl + 1;
      }
      if (start < buf.length) carry = Buffer.from(buf.subarray(start));
    }
    if (carry !== undefined && carry.length > 0) {
      const end = carry[carry.length - 1] === 13 ? carry.length - 1 : carry.length;
      yield [++lineNumber, carry.toString('utf8', 0, end)];
    }
  } finally {
    closeSync(fd);
  }
}

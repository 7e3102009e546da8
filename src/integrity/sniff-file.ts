/**
 * What a file that SQLite cannot read looks like instead: a Git LFS pointer, merge-conflict text, other text, or
 * binary bytes. Reads the raw bytes, so it is only used when SQLite cannot read the file at all.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { HEADER_BYTES, SQLITE_MAGIC } from '../sqlite/file-header.js';
import { damaged, notSqlite, type DatabaseCheck } from './check-result.js';

const SNIFF_BYTES = 4096;
const LFS_POINTER = 'version https://git-lfs.github.com/spec/';

/** The first bytes of the file (up to 4 KiB). */
export function readHead(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(SNIFF_BYTES);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Classifies a file whose first bytes are `head` and that SQLite cannot read. */
export function sniffNotSqlite(path: string, head: Buffer, size: number): DatabaseCheck {
  const text = head.toString('utf8');
  if (text.startsWith(LFS_POINTER)) {
    return notSqlite(
      path,
      'git-lfs-pointer',
      'it is a Git LFS pointer file, not the database: the LFS object was never downloaded',
      size,
      'run `git lfs pull`, or restore the database from its archive with `db-hydration fix`',
    );
  }
  if (
    /(^|\n)<{7}( |\r?\n)/.test(text) ||
    (/(^|\n)={7}\r?\n/.test(text) && /(^|\n)>{7}( |\r?\n)/.test(text))
  ) {
    return notSqlite(
      path,
      'merge-conflict',
      'it contains git merge-conflict markers (<<<<<<< / ======= / >>>>>>>): a merge wrote text into it',
      size,
      'restore it from its archive with `db-hydration fix`, or check out one side of the merge',
    );
  }
  if (head.length >= 16 && head.subarray(0, 6).equals(SQLITE_MAGIC.subarray(0, 6))) {
    return damaged(path, size, 'the SQLite header is damaged (its magic string is wrong)', []);
  }
  const printable = [...head].filter((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b !== 127)).length;
  const isText = head.length > 0 && printable / head.length > 0.95;
  if (size < HEADER_BYTES && !isText) {
    return notSqlite(path, 'binary', `it is too short to be an SQLite database (${size} bytes)`, size);
  }
  return notSqlite(
    path,
    isText ? 'text' : 'binary',
    isText
      ? 'it is a text file, not an SQLite database'
      : 'it does not start with the SQLite header ("SQLite format 3")',
    size,
  );
}

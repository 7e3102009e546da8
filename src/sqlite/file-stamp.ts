/**
 * File stamps: what SQLite and the file system change on every commit to a database file, read without opening it,
 * so that an export can be skipped when the file provably did not change since it was last read in full.
 *
 * A stamp holds the file's identity (device and inode), its size, and its modification and change times in
 * nanoseconds: every write changes both times, and no tool can put the change time back. It is read with stat()
 * alone and never by opening the file: closing any descriptor of a file drops every POSIX lock the process holds on
 * it, SQLite's included (https://sqlite.org/howtocorrupt.html#_posix_advisory_locks_canceled_by_a_separate_thread_doing_close_),
 * and a stamp is taken inside a read transaction, in processes whose application may have the database open. A
 * stamp is only taken when the file alone holds the database: no `-wal` with frames in it (uncheckpointed
 * commits), no `-journal` (a transaction under way, or a hot journal). Two equal stamps mean the same content
 * when the first was taken long enough after the file's last modification that a later write could not have kept its
 * modification time ({@link stampVouches}): coarse file-system clocks, like Git's "racily clean" index entries.
 */
import { statSync, type BigIntStats } from 'node:fs';

/** See the module comment. Numbers that may exceed 2^53 are decimal strings. */
export interface DatabaseFileStamp {
  readonly dev: string;
  readonly ino: string;
  readonly size: number;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
}

/**
 * How long before a stamp was taken the file must have last been modified for the stamp to vouch for it (2 s: the
 * coarsest modification-time granularity of common file systems, FAT's, and well above the kernel's clock tick).
 */
export const RACY_WINDOW_MS = 2000;

/**
 * The stamp of a database file now, or `undefined` when the file alone does not hold the database (a `-wal` with
 * frames, a `-journal`) or it cannot be read.
 */
export function readFileStamp(dbPath: string): DatabaseFileStamp | undefined {
  if (sizeOrUndefined(`${dbPath}-journal`) !== undefined) return undefined;
  const walSize = sizeOrUndefined(`${dbPath}-wal`);
  if (walSize !== undefined && walSize > 0) return undefined;
  let st: BigIntStats;
  try {
    st = statSync(dbPath, { bigint: true });
  } catch {
    return undefined;
  }
  if (!st.isFile()) return undefined;
  // A -wal or -journal that appeared while the file was looked at: no stamp.
  if (sizeOrUndefined(`${dbPath}-journal`) !== undefined || (sizeOrUndefined(`${dbPath}-wal`) ?? 0) > 0)
    return undefined;
  return {
    dev: String(st.dev),
    ino: String(st.ino),
    size: Number(st.size),
    mtimeNs: String(st.mtimeNs),
    ctimeNs: String(st.ctimeNs),
  };
}

/**
 * Whether a stamp taken at `takenAtMs` can vouch for the file's content later: the file was last modified and
 * changed at least {@link RACY_WINDOW_MS} before, and not in the future (clock skew).
 */
export function stampVouches(stamp: DatabaseFileStamp, takenAtMs: number): boolean {
  const newest = Math.max(
    Number(BigInt(stamp.mtimeNs) / 1_000_000n),
    Number(BigInt(stamp.ctimeNs) / 1_000_000n),
  );
  return newest <= takenAtMs - RACY_WINDOW_MS;
}

/** Whether two stamps are of the same file in the same state. */
export function sameStamp(a: DatabaseFileStamp, b: DatabaseFileStamp): boolean {
  return (
    a.dev === b.dev &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mtimeNs === b.mtimeNs &&
    a.ctimeNs === b.ctimeNs
  );
}

function sizeOrUndefined(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

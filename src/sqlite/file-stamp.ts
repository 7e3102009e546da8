/**
 * File stamps: what SQLite and the file system change on every commit to a database file, read without opening it,
 * so that an export can be skipped when the file provably did not change since it was last read in full.
 *
 * A stamp holds the file's identity (device and inode), its size, its modification and change times in nanoseconds,
 * and the header's file change counter (bytes 24..27, which SQLite increments on every commit outside WAL mode). A
 * stamp is only taken when the file alone holds the database: no `-wal` with frames in it (uncheckpointed
 * commits), no `-journal` (a transaction under way, or a hot journal). Two equal stamps mean the same content
 * when the first was taken long enough after the file's last modification that a later write could not have kept its
 * modification time ({@link stampVouches}): coarse file-system clocks, like Git's "racily clean" index entries.
 */
import { closeSync, openSync, readSync, statSync, type BigIntStats } from 'node:fs';

/** See the module comment. Numbers that may exceed 2^53 are decimal strings. */
export interface DatabaseFileStamp {
  readonly dev: string;
  readonly ino: string;
  readonly size: number;
  readonly mtimeNs: string;
  readonly ctimeNs: string;
  /** The header's file change counter. */
  readonly changeCounter: number;
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
  const changeCounter = readChangeCounter(dbPath);
  if (changeCounter === undefined) return undefined;
  // The file may have changed between the stat and the header read: a second stat must agree.
  const again = statSync(dbPath, { bigint: true });
  if (again.mtimeNs !== st.mtimeNs || again.ctimeNs !== st.ctimeNs || again.size !== st.size)
    return undefined;
  return {
    dev: String(st.dev),
    ino: String(st.ino),
    size: Number(st.size),
    mtimeNs: String(st.mtimeNs),
    ctimeNs: String(st.ctimeNs),
    changeCounter,
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
    a.ctimeNs === b.ctimeNs &&
    a.changeCounter === b.changeCounter
  );
}

function sizeOrUndefined(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

function readChangeCounter(dbPath: string): number | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(dbPath, 'r');
    const head = Buffer.alloc(28);
    if (readSync(fd, head, 0, 28, 0) < 28) return undefined;
    return head.readUInt32BE(24);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Writing files so that a crash never leaves a half-written one: write to a temp file in the same directory,
 * fsync it, rename it over the target, fsync the directory. A reader sees the old file or the complete new one.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';

/** Marker in the names of our temp files; see {@link removeStaleTempFiles}. */
const TEMP_MARKER = '.dh-tmp-';

/** A temp path next to `target` that no database scan picks up (it does not end in .db/.sqlite/.sqlite3). */
export function tempPathFor(target: string): string {
  return join(
    dirname(target),
    `.${shortName(basename(target))}${TEMP_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`,
  );
}

/** Names longer than this (in UTF-8 bytes) are shortened in temp names, which must stay under 255 bytes. */
const TEMP_NAME_BYTES = 120;

/** The name itself, or for a long one its start and a hash of the whole (so temp names stay short and distinct). */
function shortName(name: string): string {
  if (Buffer.byteLength(name) <= TEMP_NAME_BYTES) return name;
  let start = '';
  for (const ch of name) {
    if (Buffer.byteLength(start + ch) > TEMP_NAME_BYTES - 17) break;
    start += ch;
  }
  return `${start}~${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
}

/** fsync a directory so a rename in it is durable. Some platforms cannot open directories; that is not an error. */
export function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Windows cannot fsync a directory handle; rename durability there is the file system's.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** fsync a file by path. */
export function fsyncFile(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Renames a complete, synced temp file over its target and makes the rename durable. */
export function commitTempFile(tempPath: string, target: string): void {
  renameSync(tempPath, target);
  fsyncDirectory(dirname(target));
}

/** Writes a whole small file atomically (manifest, config). */
export function writeFileAtomic(target: string, content: string): void {
  const temp = tempPathFor(target);
  const fd = openSync(temp, 'wx', 0o644);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  try {
    commitTempFile(temp, target);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/**
 * Removes temp files a crashed run of ours left in `dir`: names carrying our marker whose writing process is gone.
 * Returns the removed paths.
 */
export function removeStaleTempFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const at = name.indexOf(TEMP_MARKER);
    if (at < 0 || !name.startsWith('.')) continue;
    const pid = Number.parseInt(name.slice(at + TEMP_MARKER.length), 10);
    if (Number.isInteger(pid) && pid !== process.pid && isProcessAlive(pid)) continue;
    if (pid === process.pid) continue;
    const path = join(dir, name);
    try {
      if (statSync(path).isFile()) {
        rmSync(path, { force: true });
        removed.push(path);
      }
    } catch {
      // Raced with another cleaner; nothing to do.
    }
  }
  return removed;
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

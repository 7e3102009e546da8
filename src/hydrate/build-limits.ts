/**
 * How large a database built from an archive may grow, and why a build stopped with SQLITE_FULL: a full disk, a
 * file-size limit of the process, or the growth bound.
 */
import { readFileSync, statSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';

/** How many times its archive's size a database may grow to while it is built (indexes and page slack included). */
export const GROWTH_LIMIT = 32;

/** The smallest growth bound, whatever the archive's size: 1 GiB. */
export const GROWTH_FLOOR_BYTES = 2 ** 30;

/**
 * The size a database built from `archivePath` may reach: {@link GROWTH_LIMIT} times the archive, at least
 * `floorBytes` (1 GiB unless a test lowers it to see the bound act without writing a gigabyte).
 */
export function maxBytesFor(archivePath: string, floorBytes = GROWTH_FLOOR_BYTES): number {
  return Math.max(floorBytes, GROWTH_LIMIT * statSync(archivePath).size);
}

/** {@link maxBytesFor} in pages of `pageSize` bytes. */
export function maxPagesFor(archivePath: string, pageSize: number, floorBytes?: number): number {
  return Math.ceil(maxBytesFor(archivePath, floorBytes) / pageSize);
}

/** Whether the process has a file-size limit (Linux; elsewhere assumed not). */
export function fileSizeLimited(): boolean {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max file size'));
    return line !== undefined && !/\bunlimited\b/.test(line);
  } catch {
    return false;
  }
}

/** Whether the disk holding `path` has more than 64 MiB free. */
export function diskHasRoom(path: string): boolean {
  try {
    const fs = statfsSync(dirname(path));
    return fs.bavail * fs.bsize > 64 * 2 ** 20;
  } catch {
    return false;
  }
}

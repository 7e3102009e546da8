/**
 * Read-only descriptors of database files that this process keeps open until it exits, for reading a database's
 * pages in the process that has it open through SQLite.
 *
 * Closing any descriptor of a file drops every POSIX advisory lock the process holds on it, SQLite's included
 * (https://sqlite.org/howtocorrupt.html#_posix_advisory_locks_canceled_by_a_separate_thread_doing_close_): a writer
 * in another process could then commit in the middle of a read transaction. So a descriptor opened here is never
 * closed, as SQLite itself keeps the descriptors of closed connections while any lock on the file remains. One
 * descriptor per file (device and inode) per process; a file replaced under its name gets a new one, and the old
 * one stays open (its disk space is freed when the process exits).
 */
import { fstatSync, openSync, statSync } from 'node:fs';

const held = new Map<string, number>();

/**
 * A read-only descriptor of the file now at `path`, opened once per process and never closed; `undefined` when it
 * cannot be opened. Never pass it to `close`.
 */
export function heldDescriptor(path: string): number | undefined {
  let key: string;
  try {
    const st = statSync(path, { bigint: true });
    key = `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
  const known = held.get(key);
  if (known !== undefined) return known;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  // Keyed by what was opened: the name may have moved to another file in between.
  const st = fstatSync(fd, { bigint: true });
  const opened = `${st.dev}:${st.ino}`;
  const already = held.get(opened);
  if (already !== undefined) {
    // Never closed (see the module comment): kept under its own key, so it is not opened again.
    held.set(`${opened}:${fd}`, fd);
    return opened === key ? already : undefined;
  }
  held.set(opened, fd);
  return opened === key ? fd : undefined;
}

/**
 * Parallel export: a helper thread with its own read-only connection reads part of a large database while the main
 * thread reads the rest, so reading rows (most of dehydrate's time) uses two cores.
 *
 * One snapshot. The helper's read transaction must see exactly the main connection's snapshot:
 * - rollback journal: the main connection's read transaction holds a SHARED lock from before the helper starts
 *   reading until after it has finished, and no writer can commit while any SHARED lock is held;
 * - WAL: readers do not block writers, so a short "gate" (a third connection holding the write lock with
 *   `BEGIN IMMEDIATE`) keeps commits out from before the main connection's snapshot until the helper has taken its
 *   own. If the gate cannot be taken at once (a writer is busy, a read-only file), the export runs on one thread.
 * The helper also compares a fingerprint of what it sees with the main connection's, and the file's inode is
 * compared before and after, so a file renamed into place meanwhile is never mixed in.
 *
 * Work. The tables, in archive order, are cut into units (large tables read in rowid order are split into rowid
 * ranges). The main thread claims units from the front and writes them straight into the archive; the helper claims
 * from the back and writes each unit to a part file, which the main thread appends in order. Whatever the helper
 * claimed but could not finish, the main thread reads itself, so a failing helper costs time, never correctness.
 */
import Database from 'better-sqlite3';
import { ExportHelper } from './export-helper.js';
import { parallelSettings } from './plan-units.js';
import { readFingerprint, type ExportFaults } from './parallel-protocol.js';

/**
 * Begins `db`'s read transaction (the snapshot every row is read from) and, for a database large enough, starts a
 * helper thread that takes the same snapshot: in rollback-journal mode the shared lock `db` now holds keeps commits
 * out; in WAL mode a write gate does, from before `db`'s snapshot until the helper has its own. Returns the helper,
 * or `undefined` to read on one thread.
 */
export function beginSnapshot(
  db: Database.Database,
  dbPath: string,
  fileBytes: number,
  faults?: ExportFaults,
  parallel = true,
): ExportHelper | undefined {
  const settings = parallel ? parallelSettings() : undefined;
  let helper =
    settings !== undefined && fileBytes >= settings.minFileBytes
      ? ExportHelper.start(dbPath, settings, faults)
      : undefined;
  let gate: { release(): void } | undefined;
  try {
    if (helper !== undefined && String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal') {
      gate = helper.waitOpened(5000) ? takeWalGate(dbPath) : undefined;
      if (gate === undefined) {
        helper.stop();
        helper = undefined;
      }
    }
    db.exec('BEGIN');
    const fingerprint = readFingerprint(db);
    if (helper !== undefined) {
      helper.go(fingerprint);
      if (gate !== undefined && !helper.waitReady(5000)) {
        helper.stop();
        helper = undefined;
      }
    }
    return helper;
  } catch (error) {
    helper?.stop();
    throw error;
  } finally {
    gate?.release();
  }
}

/**
 * The WAL gate: a read-write connection holding the write lock, so nothing commits until it is released. Taken
 * without waiting; `undefined` when it cannot be taken now.
 */
function takeWalGate(dbPath: string): { release(): void } | undefined {
  let gate: Database.Database | undefined;
  try {
    gate = new Database(dbPath, { fileMustExist: true, timeout: 0 });
    gate.exec('BEGIN IMMEDIATE');
  } catch {
    if (gate?.open === true) gate.close();
    return undefined;
  }
  const held = gate;
  return {
    release(): void {
      try {
        if (held.inTransaction) held.exec('ROLLBACK');
      } finally {
        held.close();
      }
    },
  };
}

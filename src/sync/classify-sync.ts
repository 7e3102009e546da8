/**
 * Which side changed since a database last matched its archive: the database (local changes), the archive (a pull,
 * checkout or merge updated it), both (diverged), or neither. Decided by content hashes: the database's (of a scratch
 * archive dehydrated from it) and the archive's, against the content hash its sync record holds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { archiveContentHash } from '../archive/content-comparison.js';
import { databaseNameOf } from '../archive/naming.js';
import { scratchArchivePath } from '../archive/keys.js';
import { dehydrateDatabase } from '../dehydrate/dehydrate-database.js';
import type { ProgressListener } from '../progress.js';
import {
  archiveUnchangedSince,
  databaseContentIfUnchanged,
  readSyncRecord,
  type SyncRecord,
} from './sync-state.js';

/**
 * How a database stands against its archive:
 * - `in-sync`: same content;
 * - `local-changes`: the database changed since it last matched the archive, the archive did not (next: dehydrate);
 * - `archive-updated`: the archive changed (a pull, checkout or merge), the database did not (next: hydrate);
 * - `diverged`: both changed (next: sync, a three-way merge);
 * - `untracked`: they differ and there is no sync state, so which side changed cannot be told.
 */
export type SyncKind = 'in-sync' | 'local-changes' | 'archive-updated' | 'diverged' | 'untracked';

/** Result of {@link classifySync}. */
export interface SyncClassification {
  readonly kind: SyncKind;
  /** The database's sync record, if it has one. */
  readonly record: SyncRecord | undefined;
  /** Content hash of the database (of an archive dehydrated from it). */
  readonly databaseContentHash: string;
  readonly archiveContentHash: string;
  /**
   * `archive-updated` because the archive is the resolution of a merge that stopped on conflicts, and the database
   * still holds what was merged: rebuilding it from the archive loses nothing.
   */
  readonly resolvesPendingMerge: boolean;
}

/**
 * Classifies from content hashes alone (the pure core of {@link classifySync}).
 * @param record the database's sync record, or undefined when it has none
 */
export function classifyHashes(
  record: SyncRecord | undefined,
  databaseHash: string,
  archiveHash: string,
): { kind: SyncKind; resolvesPendingMerge: boolean } {
  if (databaseHash === archiveHash) return { kind: 'in-sync', resolvesPendingMerge: false };
  if (record === undefined) return { kind: 'untracked', resolvesPendingMerge: false };
  const base = record.contentHash;
  const pending = record.pendingMerge;
  if (
    pending !== undefined &&
    databaseHash === pending.oursContentHash &&
    archiveHash !== base &&
    (archiveHash !== pending.theirsContentHash || archiveHash === pending.resolvedContentHash)
  )
    return { kind: 'archive-updated', resolvesPendingMerge: true };
  const local = databaseHash !== base;
  const archive = archiveHash !== base;
  const kind = local && archive ? 'diverged' : local ? 'local-changes' : 'archive-updated';
  return { kind, resolvesPendingMerge: false };
}

/** Where a database and its archive are. */
export interface SyncTarget {
  readonly dataDir: string;
  /** The database file name, e.g. `shop.db`. */
  readonly fileName: string;
  readonly dbPath: string;
  readonly archivePath: string;
  readonly busyTimeoutMs: number;
  readonly onProgress?: ProgressListener | undefined;
}

/**
 * Classifies a database against its existing archive, given a snapshot of the database (see {@link withSnapshot}).
 * @throws {HydrationError} when the archive cannot be read
 */
export function classifySync(target: SyncTarget, snapshotPath: string): SyncClassification {
  const record = readSyncRecord(target.dataDir, target.fileName, target.archivePath);
  const databaseContentHash = archiveContentHash(snapshotPath);
  const archiveHash = archiveContentHash(target.archivePath);
  return {
    ...classifyHashes(record, databaseContentHash, archiveHash),
    record,
    databaseContentHash,
    archiveContentHash: archiveHash,
  };
}

/**
 * Classifies a database against its existing archive without reading the database, when its file still has the
 * stamp of its last full export (its content is then the one that export read: see `databaseContentIfUnchanged`);
 * `undefined` when the database must be read ({@link withSnapshot} and {@link classifySync}).
 * @throws {HydrationError} when the archive cannot be read
 */
export function classifyWithoutReading(target: SyncTarget): SyncClassification | undefined {
  const record = readSyncRecord(target.dataDir, target.fileName, target.archivePath);
  const databaseContentHash = databaseContentIfUnchanged(record, target.dbPath);
  if (record === undefined || databaseContentHash === undefined) return undefined;
  const archiveHash = archiveUnchangedSince(record, target.archivePath)
    ? record.contentHash
    : archiveContentHash(target.archivePath);
  return {
    ...classifyHashes(record, databaseContentHash, archiveHash),
    record,
    databaseContentHash,
    archiveContentHash: archiveHash,
  };
}

/**
 * Dehydrates the database into a scratch archive in a fresh temp directory, runs `fn` on it, and removes the
 * directory, whatever happens. Synchronous, like `dehydrate` (the exit handler cannot wait).
 * @throws {HydrationError} when the database cannot be read
 */
export function withSnapshot<T>(target: SyncTarget, fn: (snapshotPath: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'db-hydration-sync-'));
  try {
    const snapshotPath = scratchArchivePath(dir, target.archivePath);
    dehydrateDatabase({
      dbPath: target.dbPath,
      archivePath: snapshotPath,
      database: databaseNameOf(target.fileName),
      fileName: target.fileName,
      busyTimeoutMs: target.busyTimeoutMs,
      onProgress: target.onProgress,
    });
    return fn(snapshotPath);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

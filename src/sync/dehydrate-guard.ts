/**
 * The check `dehydrate` makes before writing over an archive: an archive whose content changed since its database
 * last matched it holds someone else's changes (a pull, checkout or merge brought them), and dehydrating over it
 * would write the database's old rows back over them. It is refused, unless `force` is given; then the caller is told
 * what is overwritten.
 */
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { readArchivePrefix } from '../archive/archive-file.js';
import { isEncryptedCodec } from '../archive/age-codec.js';
import { codecForFileName } from '../archive/codec.js';
import { ArchiveChangedError, ArchiveEncryptionError } from '../errors.js';
import { archiveContentHash, compareArchives } from '../archive/content-comparison.js';
import { findConflictMarker, hasConflictMarkers } from '../archive/conflict-markers.js';
import { databaseNameOf } from '../archive/naming.js';
import { withSnapshot, type SyncTarget } from './classify-sync.js';
import {
  archiveUnchangedSince,
  databaseContentIfUnchanged,
  readSyncRecord,
  syncStatePaths,
} from './sync-state.js';

/**
 * Checks that dehydrating a database over its archive loses nothing the archive holds.
 * @returns undefined when it loses nothing (no sync state, no archive, an archive unchanged since the database last
 *   matched it, or one that already holds the database's content); with `force`, a sentence saying what is overwritten
 * @throws {ArchiveChangedError} when the archive changed since the database last matched it and `force` is not given
 */
export function checkBeforeDehydrate(target: SyncTarget, force: boolean): string | undefined {
  const record = readSyncRecord(target.dataDir, target.fileName, target.archivePath);
  // The archive file is the very one the database last matched (a matched archive has no markers): nothing of
  // anyone else's can be in it, and it need not be read.
  if (record !== undefined && archiveUnchangedSince(record, target.archivePath)) return undefined;
  // An archive with conflict markers holds a merge's result, both sides' changes included: never written over
  // unasked, sync state or not.
  if (hasMarkersOrUnreadable(target, force)) {
    if (force) {
      return `overwrote ${target.archivePath}, which had unresolved merge conflicts: the merge's result is no longer in the archive`;
    }
    throw new ArchiveChangedError(
      `the archive ${target.archivePath} has unresolved merge conflicts, so it was not overwritten (dehydrating would drop the other side's changes)`,
      {
        file: target.dbPath,
        database: databaseNameOf(target.fileName),
        hint: 'resolve the conflicts first: `db-hydration git resolve --ours` (or `--theirs`), then `git add` the archive and `db-hydration hydrate`',
      },
    );
  }
  if (record === undefined || !existsSync(target.archivePath)) return undefined;
  const archiveHash = archiveContentHash(target.archivePath);
  if (archiveHash === record.contentHash) return undefined;
  const liveHash =
    databaseContentIfUnchanged(record, target.dbPath) ??
    withSnapshot(target, (snapshot) => archiveContentHash(snapshot));
  if (liveHash === archiveHash) return undefined;
  const localChanges = liveHash !== record.contentHash;
  const marker = findConflictMarker(target.archivePath);
  const what =
    marker === undefined
      ? `changed since ${target.fileName} last matched it (${record.matchedBy} at ${record.matchedAt}${changedTable(target)})`
      : `has unresolved merge conflicts (line ${marker}) from a merge that also holds the other side's changes`;
  if (force) {
    return `overwrote ${target.archivePath}, which ${what}: those changes are no longer in the archive (its committed versions are in Git's history)`;
  }
  if (!localChanges) {
    // Only the archive changed: dehydrating would put the database's older content back over it.
    throw new ArchiveChangedError(
      `the archive ${target.archivePath} ${what}, and the database has not changed since, so it was not overwritten`,
      {
        file: target.dbPath,
        database: databaseNameOf(target.fileName),
        hint: "run `db-hydration hydrate` to bring the archive's content into the database (or `dehydrate --force` to write the database over the archive)",
      },
    );
  }
  throw new ArchiveChangedError(
    `the archive ${target.archivePath} ${what}, and the database has changes of its own, so it was not overwritten`,
    { file: target.dbPath, database: databaseNameOf(target.fileName) },
  );
}

/**
 * {@link hasConflictMarkers}, for an encrypted archive this process cannot decrypt too: with `force` it is written
 * over (false), without it the error says that an identity is needed to know what it holds.
 */
function hasMarkersOrUnreadable(target: SyncTarget, force: boolean): boolean {
  try {
    // hasConflictMarkers takes a file it cannot read for one without markers: an encrypted archive is first opened
    // (its header decrypted), which throws when no key given here opens it.
    if (existsSync(target.archivePath) && isEncryptedCodec(codecForFileName(basename(target.archivePath))))
      readArchivePrefix(target.archivePath, 1);
    return hasConflictMarkers(target.archivePath);
  } catch (error) {
    if (!(error instanceof ArchiveEncryptionError) || force) {
      if (error instanceof ArchiveEncryptionError) return false;
      throw error;
    }
    throw new ArchiveEncryptionError(
      `the archive ${target.archivePath} cannot be decrypted here, so it is not known what it holds; it was not overwritten`,
      {
        file: target.archivePath,
        database: databaseNameOf(target.fileName),
        hint: 'give an identity that decrypts it (--identity FILE or DB_HYDRATION_AGE_IDENTITY), or `dehydrate --force` to write the database over it',
        cause: error,
      },
    );
  }
}

/** `; table "t" first differs`, comparing the archive with the base copy, or nothing when that cannot be told. */
function changedTable(target: SyncTarget): string {
  const base = syncStatePaths(target.dataDir, target.fileName, target.archivePath).base;
  try {
    const table = compareArchives(target.archivePath, base).firstDifference?.table;
    return table === undefined ? '' : `; table "${table}" changed there`;
  } catch {
    return '';
  }
}

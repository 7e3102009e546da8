/**
 * Sync state: what each database remembers, locally and never committed, about the archive content it last matched
 * (it was hydrated from it, dehydrated to it, restored from it by `fix`, or merged with it by `sync`).
 *
 * It lives in `<dataDir>/.db-hydration/`, a directory holding a `.gitignore` of `*` so that it ignores itself, with two
 * files per database file (`shop.db`):
 * - `shop.db.state.json`: the {@link SyncRecord} (the archive's sha256 and content hash, when, a fingerprint of the
 *   database file, and a pending merge);
 * - `shop.db.base.json`: a copy of that archive, the base of a three-way merge by `db-hydration sync`.
 *
 * Both are written atomically (temp file, fsync, rename). A record that is missing or cannot be read is no record:
 * the database is then "untracked" and every command behaves as it did before sync state existed.
 */
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import { copyArchiveFile, hashArchiveFile } from '../archive/archive-file.js';
import { archiveContentHash, archiveHashes } from '../archive/content-comparison.js';
import { codecForFileName, IDENTITY_CODEC } from '../archive/codec.js';
import { ARCHIVE_EXTENSION, databaseNameOf } from '../archive/naming.js';
import { ARCHIVE_WRITER_REVISION } from '../archive/format.js';
import { readFileStamp, sameStamp, type DatabaseFileStamp } from '../sqlite/file-stamp.js';
import type { TablePagesRecord } from '../dehydrate/table-pages.js';
import { commitTempFile, removeStaleTempFiles, tempPathFor, writeFileAtomic } from '../files/atomic-file.js';

/** The directory inside the data directory that holds sync state. */
export const SYNC_STATE_DIR = '.db-hydration';

/** The version of the {@link SyncRecord} layout. */
export const SYNC_STATE_VERSION = 1;

/** What last made a database match its archive. */
export type MatchedBy = 'hydrate' | 'dehydrate' | 'fix' | 'sync';

/** The database file as it was when it matched (size and modification time of the file and its -wal). */
export interface DatabaseFingerprint {
  readonly size: number;
  readonly mtimeMs: number;
  readonly walSize: number;
}

/**
 * A merge by `db-hydration sync` that stopped on conflicts: the conflict-marked archive was written, and the database
 * was left as it was. Once the archive is resolved (it is then neither the base nor `theirsContentHash`), a database
 * still holding `oursContentHash` is rebuilt from it instead of being merged again.
 */
export interface PendingMerge {
  /** Content hash of the database's own side of the merge (the snapshot dehydrated from it). */
  readonly oursContentHash: string;
  /** Content hash of the archive that was merged with (the other side). */
  readonly theirsContentHash: string;
  readonly startedAt: string;
  /**
   * Content hash of the archive as `db-hydration git resolve` left it: that archive is the merge's resolution, even
   * when it equals the other side's version (every conflict resolved to theirs).
   */
  readonly resolvedContentHash?: string;
}

/** The sync state of one database (`<dataDir>/.db-hydration/<file>.state.json`). */
export interface SyncRecord {
  readonly version: typeof SYNC_STATE_VERSION;
  /** The database file name, e.g. `shop.db`. */
  readonly fileName: string;
  /**
   * The archive's path relative to the data directory, e.g. `json_archives/shop.json`: a record made with another
   * archive (another `--archive-dir`) is not this archive's, and is ignored.
   */
  readonly archive: string;
  /** SHA-256 of the archive file as stored. */
  readonly archiveSha256: string;
  /** SHA-256 of the archive's content (all but `exported_at`; see `archiveContentHash`). */
  readonly contentHash: string;
  /** When the database last matched the archive (ISO 8601). */
  readonly matchedAt: string;
  readonly matchedBy: MatchedBy;
  readonly fingerprint?: DatabaseFingerprint;
  /**
   * The archive file's identity when it was matched (size, inode, modification and change times): while the file
   * still has exactly these, it was not replaced or written since, and its content need not be read to know it.
   */
  readonly archiveStat?: ArchiveFileStat;
  /**
   * The database file's stamp when dehydrate read it in full and wrote (or found current) this archive, with the
   * writer revision that did it: while the database file, the archive file and the writer are all unchanged,
   * `dehydrate` need not read the database again ({@link exportIsCurrent}).
   */
  readonly exported?: ExportStamp;
  /**
   * The page hashes of the database's tables when dehydrate last read it, with each table's section in this archive:
   * the next dehydrate copies the sections of tables whose pages are unchanged (src/dehydrate/table-pages.ts).
   */
  readonly tablePages?: TablePagesRecord;
  readonly pendingMerge?: PendingMerge;
}

/** See {@link SyncRecord.exported}. */
export interface ExportStamp {
  readonly stamp: DatabaseFileStamp;
  readonly writerRevision: number;
  /** The content hash of what that export read from the database. */
  readonly contentHash: string;
}

/** See {@link SyncRecord.archiveStat}. */
export interface ArchiveFileStat {
  readonly size: number;
  readonly ino: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

/** The identity of an archive file now, or `undefined` when it cannot be read. */
export function archiveFileStat(path: string): ArchiveFileStat | undefined {
  try {
    const st = statSync(path);
    return { size: st.size, ino: st.ino, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs };
  } catch {
    return undefined;
  }
}

/** Whether the archive file is, by its identity, the one the record matched (no read of its content). */
export function archiveUnchangedSince(record: SyncRecord, archivePath: string): boolean {
  const was = record.archiveStat;
  const now = archiveFileStat(archivePath);
  return (
    was !== undefined &&
    now !== undefined &&
    was.size === now.size &&
    was.ino === now.ino &&
    was.mtimeMs === now.mtimeMs &&
    was.ctimeMs === now.ctimeMs
  );
}

/**
 * Whether exporting the database again would write the archive it last wrote, known without reading it: the record
 * has the stamp of that export, the database file still has exactly that stamp (same inode, size, modification and
 * change times; no -wal frames, no -journal), the archive file is untouched since
 * (same inode, size, times), and the writer revision is this one. Anything else (no record, another tool replaced
 * a file, the stamp could not vouch: see src/sqlite/file-stamp.ts) answers false, and dehydrate reads the database.
 */
export function exportIsCurrent(
  record: SyncRecord | undefined,
  dbPath: string,
  archivePath: string,
): boolean {
  if (record === undefined || !archiveUnchangedSince(record, archivePath)) return false;
  return databaseContentIfUnchanged(record, dbPath) === record.contentHash;
}

/**
 * The content hash of the database, known without reading it: the one its last full export read, while the file
 * still has the stamp taken inside that export's read transaction (see {@link exportIsCurrent}); otherwise
 * `undefined`, and the database must be read.
 */
export function databaseContentIfUnchanged(
  record: SyncRecord | undefined,
  dbPath: string,
): string | undefined {
  const exported = record?.exported;
  if (exported === undefined || exported.writerRevision !== ARCHIVE_WRITER_REVISION) return undefined;
  const now = readFileStamp(dbPath);
  return now !== undefined && sameStamp(now, exported.stamp) ? exported.contentHash : undefined;
}

/** Where the sync state of one database lives. */
export interface SyncStatePaths {
  /** `<dataDir>/.db-hydration` */
  readonly dir: string;
  /** The record, `<dir>/<file>.state.json`. */
  readonly state: string;
  /** The copy of the last-matched archive, `<dir>/<file>.base.json` (plus the archive's codec extension). */
  readonly base: string;
}

/** The paths of a database's sync state. `archiveFile` gives the base copy its codec extension (`.json.gz`). */
export function syncStatePaths(dataDir: string, fileName: string, archiveFile?: string): SyncStatePaths {
  const dir = join(dataDir, SYNC_STATE_DIR);
  const name = archiveFile === undefined ? undefined : basename(archiveFile);
  const ext =
    name?.slice(databaseNameOf(fileName).length).startsWith(ARCHIVE_EXTENSION) === true
      ? name.slice(databaseNameOf(fileName).length)
      : ARCHIVE_EXTENSION;
  return { dir, state: join(dir, `${fileName}.state.json`), base: join(dir, `${fileName}.base${ext}`) };
}

/**
 * Reads a database's sync record.
 * @param archivePath the archive it must have been made with (omit to take the record whatever its archive)
 * @returns the record, or undefined when there is none or it cannot be used (not JSON, another layout, another archive)
 */
export function readSyncRecord(
  dataDir: string,
  fileName: string,
  archivePath?: string,
): SyncRecord | undefined {
  let text: string;
  try {
    text = readFileSync(syncStatePaths(dataDir, fileName).state, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const record = JSON.parse(text) as Partial<SyncRecord> | null;
    if (
      record?.version !== SYNC_STATE_VERSION ||
      record.fileName !== fileName ||
      typeof record.archive !== 'string' ||
      (archivePath !== undefined && record.archive !== archiveKey(dataDir, archivePath)) ||
      typeof record.contentHash !== 'string' ||
      typeof record.archiveSha256 !== 'string' ||
      typeof record.matchedAt !== 'string'
    )
      return undefined;
    return record as SyncRecord;
  } catch {
    return undefined;
  }
}

/** Creates the state directory and its self-ignoring `.gitignore` (also before `git install` sets anything up). */
export function ensureSyncStateDir(dataDir: string): string {
  const dir = join(dataDir, SYNC_STATE_DIR);
  mkdirSync(dir, { recursive: true });
  const ignore = join(dir, '.gitignore');
  if (!existsSync(ignore)) writeFileAtomic(ignore, '# db-hydration sync state: local, never committed\n*\n');
  return dir;
}

/** Input of {@link recordMatch}. */
export interface RecordMatchOptions {
  readonly dataDir: string;
  readonly fileName: string;
  readonly dbPath: string;
  /** The archive the database now matches. */
  readonly archivePath: string;
  readonly matchedBy: MatchedBy;
  /** The archive's SHA-256 when the caller already knows it (dehydrate does). */
  readonly archiveSha256?: string;
  /** The archive's content hash when the caller already knows it (dehydrate computes it as it writes). */
  readonly contentHash?: string;
  /** The database file's stamp inside the read transaction of the export that made this archive (dehydrate only). */
  readonly fileStamp?: DatabaseFileStamp | undefined;
  /** The page hashes and sections of the export that wrote this archive (dehydrate only). */
  readonly tablePages?: TablePagesRecord | undefined;
}

/**
 * Records that a database now matches an archive: copies the archive to the base copy (unless the copy already holds
 * it) and writes the record, both atomically. A pending merge is cleared.
 */
export function recordMatch(options: RecordMatchOptions): SyncRecord {
  const { dataDir, fileName, archivePath } = options;
  const dir = ensureSyncStateDir(dataDir);
  removeStaleTempFiles(dir);
  const paths = syncStatePaths(dataDir, fileName, archivePath);
  const previous = readSyncRecord(dataDir, fileName, archivePath);
  // One read for both hashes when the caller knows neither (hydrate, fix); dehydrate knows both from writing.
  const plain = codecForFileName(basename(archivePath)) === IDENTITY_CODEC;
  const both =
    options.archiveSha256 === undefined && options.contentHash === undefined && plain
      ? archiveHashes(archivePath)
      : undefined;
  const archiveSha256 = options.archiveSha256 ?? both?.sha256 ?? hashArchiveFile(archivePath).sha256;
  // The base copy is written only when the archive changed: an unchanged database costs no copy.
  const copyIsCurrent = previous?.archiveSha256 === archiveSha256 && existsSync(paths.base);
  if (!copyIsCurrent) linkOrCopyAtomically(archivePath, paths.base);
  const record: SyncRecord = {
    version: SYNC_STATE_VERSION,
    fileName,
    archive: archiveKey(dataDir, archivePath),
    archiveSha256,
    contentHash: copyIsCurrent
      ? previous.contentHash
      : (options.contentHash ?? archiveContentHash(paths.base)),
    matchedAt: new Date().toISOString(),
    matchedBy: options.matchedBy,
    ...fingerprintOf(options.dbPath),
    ...withDefinedStat(archiveFileStat(archivePath)),
    ...(options.fileStamp === undefined
      ? {}
      : {
          exported: {
            stamp: options.fileStamp,
            writerRevision: ARCHIVE_WRITER_REVISION,
            contentHash: options.contentHash ?? archiveContentHash(paths.base),
          },
        }),
    ...(options.tablePages === undefined ? {} : { tablePages: options.tablePages }),
  };
  writeRecord(dataDir, record);
  return record;
}

/**
 * Records that an archive was re-encrypted (rekey): the same content in a new file. A record that matched the old
 * file (`oldSha256`) now matches the new one, and its base copy is the new file; any other record is left alone.
 * Returns whether a record was updated.
 */
export function recordRekey(
  dataDir: string,
  fileName: string,
  archivePath: string,
  oldSha256: string,
): boolean {
  const record = readSyncRecord(dataDir, fileName, archivePath);
  if (record?.archiveSha256 !== oldSha256) return false;
  linkOrCopyAtomically(archivePath, syncStatePaths(dataDir, fileName, archivePath).base);
  writeRecord(dataDir, {
    ...record,
    archiveSha256: hashArchiveFile(archivePath).sha256,
    ...withDefinedStat(archiveFileStat(archivePath)),
  });
  return true;
}

/**
 * Records that `git resolve` resolved the pending merge of the database whose archive is `archivePath`, if it has
 * one: the resolved archive is then recognised as the merge's result. Returns whether a record was updated.
 */
export function recordResolution(dataDir: string, fileName: string, archivePath: string): boolean {
  const record = readSyncRecord(dataDir, fileName, archivePath);
  if (record?.pendingMerge === undefined) return false;
  writeRecord(dataDir, {
    ...record,
    pendingMerge: { ...record.pendingMerge, resolvedContentHash: archiveContentHash(archivePath) },
  });
  return true;
}

/** Records a merge that stopped on conflicts in a database's existing record (the base stays as it was). */
export function recordPendingMerge(dataDir: string, record: SyncRecord, pending: PendingMerge): SyncRecord {
  const next: SyncRecord = { ...record, pendingMerge: pending };
  writeRecord(dataDir, next);
  return next;
}

/**
 * Forgets a database's sync state (its record and base copy): after it was replaced by something that matches no
 * archive (a salvage, an empty database, a hydration that skipped rows), so that nothing decides from stale state.
 */
export function forgetSyncState(dataDir: string, fileName: string): void {
  const { dir, state } = syncStatePaths(dataDir, fileName);
  rmSync(state, { force: true });
  if (!existsSync(dir)) return;
  const prefix = `${fileName}.base.`;
  for (const name of readdirSync(dir)) if (name.startsWith(prefix)) rmSync(join(dir, name), { force: true });
}

/** An archive's path as a record holds it: relative to the data directory, with forward slashes. */
function archiveKey(dataDir: string, archivePath: string): string {
  return relative(resolve(dataDir), resolve(archivePath)).split(sep).join('/');
}

function writeRecord(dataDir: string, record: SyncRecord): void {
  ensureSyncStateDir(dataDir);
  writeFileAtomic(syncStatePaths(dataDir, record.fileName).state, `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * Puts the archive's bytes at `to` atomically: a hard link where the file system allows (archives are replaced by
 * rename, never written in place, so the link keeps the matched version; `sync` checks its content hash before using
 * it as a merge base), else a copy.
 */
function linkOrCopyAtomically(from: string, to: string): void {
  const temp = tempPathFor(to);
  try {
    linkSync(from, temp);
  } catch {
    copyArchiveAtomically(from, to);
    return;
  }
  try {
    commitTempFile(temp, to);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/**
 * Copies an archive file over another (or to a new path) atomically: a temp file beside the target, fsynced, renamed.
 * A reader sees the old file or the complete copy.
 */
export function copyArchiveAtomically(from: string, to: string): void {
  const temp = tempPathFor(to);
  try {
    copyArchiveFile(from, temp);
    commitTempFile(temp, to);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

function withDefinedStat(stat: ArchiveFileStat | undefined): { archiveStat?: ArchiveFileStat } {
  return stat === undefined ? {} : { archiveStat: stat };
}

function fingerprintOf(dbPath: string): { fingerprint?: DatabaseFingerprint } {
  try {
    const st = statSync(dbPath);
    let walSize = 0;
    try {
      walSize = statSync(`${dbPath}-wal`).size;
    } catch {
      // no -wal file
    }
    return { fingerprint: { size: st.size, mtimeMs: st.mtimeMs, walSize } };
  } catch {
    return {};
  }
}

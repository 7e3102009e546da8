/** Dehydrating every database of the data directory into its archive, then the manifest. */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ArchiveNameError, toErrorDetail, type ErrorDetail } from '../errors.js';
import {
  ARCHIVE_EXTENSION,
  archiveFileNameFor,
  databaseNameOf,
  hasDatabaseExtension,
  isSafeFileName,
} from '../archive/naming.js';
import {
  dehydrateDatabase,
  type DehydrateDatabaseOptions,
  type DehydrateDatabaseOutcome,
} from '../dehydrate/dehydrate-database.js';
import { codecOfFile } from '../archive/archive-file.js';
import { archiveContentFields, type ArchiveContentFields } from '../archive/table-hashes.js';
import { removeStaleTempFiles } from '../files/atomic-file.js';
import { readManifest, writeManifest, type ManifestEntry } from '../manifest/manifest.js';
import { assertArchiveDir, assertDataDir } from './paths.js';
import { checkBeforeDehydrate } from '../sync/dehydrate-guard.js';
import {
  archiveUnchangedSince,
  exportIsCurrent,
  readSyncRecord,
  recordMatch,
  type MatchedBy,
  type SyncRecord,
} from '../sync/sync-state.js';
import { CODECS } from '../archive/codec.js';
import { isTablePagesRecord } from '../dehydrate/table-pages.js';
import type { KnownArchive } from '../archive/write-archive.js';
import type { DatabaseResult, DehydrateAllOptions, DehydrationResult, ManagerContext } from './types.js';

/**
 * Dehydrates every database of `ctx` into its archive, then updates the manifest. Synchronous throughout. An archive
 * that changed since its database last matched it is not overwritten (an {@link ArchiveChangedError} in the result)
 * unless `force` is given; each archive written, or found already holding its database's content, becomes the
 * database's sync state (made by `matchedBy`: `sync` when sync dehydrates).
 */
export function dehydrateAll(
  ctx: ManagerContext,
  options: DehydrateAllOptions = {},
  matchedBy: MatchedBy = 'dehydrate',
): DehydrationResult {
  const timestamp = new Date().toISOString();
  assertDataDir(ctx.dataDir);
  assertArchiveDir(ctx.archiveDir);
  mkdirSync(ctx.archiveDir, { recursive: true });
  removeStaleTempFiles(ctx.archiveDir);
  const databases: Record<string, DatabaseResult> = {};
  const errorDetails: ErrorDetail[] = [];
  const entries = keptManifestEntries(ctx);
  const fileNames = ctx.listDatabases();
  const byArchive = new Map<string, string[]>();
  for (const f of fileNames)
    byArchive.set(archiveFileNameFor(f), [...(byArchive.get(archiveFileNameFor(f)) ?? []), f]);

  for (const fileName of fileNames) {
    const dbPath = join(ctx.dataDir, fileName);
    // Where this run writes the archive (its codec's file name), and the archive there is now (maybe the other codec's).
    const database = databaseNameOf(fileName);
    try {
      const { target: archivePath, existing } = ctx.archivePathsFor(fileName, options.compress);
      assertOwnArchive(byArchive.get(archiveFileNameFor(fileName)) ?? [], archivePath, dbPath);
      const target = {
        dataDir: ctx.dataDir,
        fileName,
        dbPath,
        archivePath,
        busyTimeoutMs: ctx.busyTimeoutMs,
      };
      const overwrote = checkBeforeDehydrate({ ...target, archivePath: existing }, options.force === true);
      const sameArchive = overwrote === undefined && existing === archivePath;
      const record = sameArchive ? readSyncRecord(ctx.dataDir, fileName, archivePath) : undefined;
      const unchanged = sameArchive ? resultIfNotChanged(target, record, entries[fileName]) : undefined;
      if (unchanged !== undefined) {
        databases[fileName] = unchanged;
        continue;
      }
      const known = knownArchive(ctx, fileName, archivePath, record);
      const outcome = dehydrateDatabase({
        ...target,
        database,
        onProgress: ctx.onProgress,
        known,
        ...previousTables(record, archivePath, entries[fileName]),
      });
      // A codec switch (gzip, age): the old file goes once the new one is in place, so the database never has none
      // (nor two).
      removeOtherArchives(archivePath, database);
      const previous = entries[fileName];
      databases[fileName] = {
        archivePath,
        tablesExported: outcome.tablesExported,
        totalRows: outcome.totalRows,
        changed: outcome.changed,
        sha256: outcome.sha256,
        ...(overwrote === undefined ? {} : { overwrote }),
        ...(outcome.tablesCopied.length === 0 ? {} : { tablesCopied: outcome.tablesCopied.length }),
      };
      entries[fileName] = manifestEntry(archivePath, outcome, previous);
      // Last: the archive is written and listed whether or not the sync state can be.
      recordMatch({
        ...target,
        matchedBy,
        archiveSha256: outcome.sha256,
        contentHash: outcome.contentSha256,
        fileStamp: outcome.fileStamp,
        tablePages: outcome.tablePages,
      });
    } catch (error) {
      // The archive was kept: so is its manifest entry (kept above), if it has one.
      errorDetails.push(toErrorDetail(error, { file: dbPath, database }));
    }
  }
  return finish(ctx, timestamp, databases, entries, errorDetails);
}

/** The manifest entry of an archive just written (or found unchanged). */
function manifestEntry(
  archivePath: string,
  outcome: DehydrateDatabaseOutcome,
  previous: ManifestEntry | undefined,
): ManifestEntry {
  return {
    archive_path: basename(archivePath),
    tables_exported: outcome.tablesExported,
    total_rows: outcome.totalRows,
    sha256: outcome.sha256,
    bytes: outcome.bytes,
    // An unchanged encrypted archive that cannot be decrypted here keeps the export time it was listed with.
    exported_at:
      (!outcome.changed && previous?.sha256 === outcome.sha256 ? previous.exported_at : undefined) ??
      outcome.exportedAt,
    // With copied tables, the export hashed the tables it read and kept the others' hashes: no read of the archive.
    ...(outcome.tableHashes === undefined
      ? contentFields(archivePath, outcome.contentSha256, previous)
      : {
          codec: codecOfFile(archivePath).name,
          content_sha256: outcome.contentSha256,
          tables: outcome.tableHashes,
        }),
  };
}

/** Two databases (`shop.db`, `shop.sqlite`) whose archives would have one name: neither is dehydrated. */
function assertOwnArchive(sharing: readonly string[], archivePath: string, dbPath: string): void {
  if (sharing.length <= 1) return;
  throw new ArchiveNameError(`${sharing.join(' and ')} would share the archive ${archivePath}`, {
    file: dbPath,
    database: databaseNameOf(basename(dbPath)),
    hint: 'rename one of the databases',
  });
}

/**
 * The result of a database whose file did not change since the export that wrote its archive (incremental export:
 * no row is read; see `exportIsCurrent`), or `undefined` when it must be read.
 */
function resultIfNotChanged(
  target: { dataDir: string; fileName: string; dbPath: string; archivePath: string },
  record: SyncRecord | undefined,
  listed: ManifestEntry | undefined,
): DatabaseResult | undefined {
  // An entry from before content hashes were listed is rewritten by a full export.
  if (
    listed === undefined ||
    listed.codec === undefined ||
    record === undefined ||
    listed.sha256 !== record.archiveSha256
  )
    return undefined;
  if (!exportIsCurrent(record, target.dbPath, target.archivePath)) return undefined;
  return {
    archivePath: target.archivePath,
    tablesExported: listed.tables_exported,
    totalRows: listed.total_rows,
    changed: false,
    sha256: record.archiveSha256,
    notRead: true,
  };
}

/**
 * What the last export recorded of its tables' pages, while the archive is still the file it wrote (same inode,
 * size and times as the sync state recorded), with the manifest's table hashes when they are of that archive.
 */
function previousTables(
  record: SyncRecord | undefined,
  archivePath: string,
  listed: ManifestEntry | undefined,
): Pick<DehydrateDatabaseOptions, 'previousTables' | 'previousTableHashes'> {
  if (!isTablePagesRecord(record?.tablePages) || !archiveUnchangedSince(record, archivePath)) return {};
  const hashes =
    listed?.content_sha256 === record.contentHash && listed.sha256 === record.archiveSha256
      ? listed.tables
      : undefined;
  return {
    previousTables: record.tablePages,
    ...(hashes === undefined ? {} : { previousTableHashes: hashes }),
  };
}

/**
 * The manifest's content fields of an archive just written or found unchanged: the table hashes of the previous entry
 * when its content hash is the same (no read), else read from the archive.
 */
function contentFields(
  archivePath: string,
  contentSha256: string,
  previous: ManifestEntry | undefined,
): ArchiveContentFields {
  const codec = codecOfFile(archivePath).name;
  if (previous?.content_sha256 === contentSha256 && previous.tables !== undefined)
    return { codec, content_sha256: contentSha256, tables: { ...previous.tables } };
  return archiveContentFields(archivePath, contentSha256);
}

/** Writes the manifest and builds the result. */
function finish(
  ctx: ManagerContext,
  timestamp: string,
  databases: Record<string, DatabaseResult>,
  entries: Record<string, ManifestEntry>,
  errorDetails: ErrorDetail[],
): DehydrationResult {
  // The result counts what this run dehydrated; the manifest counts every archive it lists.
  const exported = Object.values(databases);
  const listed = Object.values(entries);
  const manifestChanged = writeManifest(ctx.manifestPath, {
    timestamp,
    databases: entries,
    total_tables: listed.reduce((s, e) => s + e.tables_exported, 0),
    total_rows: listed.reduce((s, e) => s + e.total_rows, 0),
    errors: [],
  });
  return {
    timestamp,
    databases,
    totalTables: exported.reduce((s, d) => s + d.tablesExported, 0),
    totalRows: exported.reduce((s, d) => s + d.totalRows, 0),
    errors: errorDetails.map((e) => e.message),
    errorDetails,
    manifestPath: ctx.manifestPath,
    manifestChanged,
  };
}

/**
 * The existing manifest's entries whose archive is still in archiveDir: a run updates the entries of the databases
 * it exports and leaves the others as they were (a `--db` run, a database that could not be read, an archive whose
 * database is not on this machine). `archive_path` is always the archive's file name, whatever an older version
 * wrote there.
 */
function keptManifestEntries(ctx: ManagerContext): Record<string, ManifestEntry> {
  const entries: Record<string, ManifestEntry> = {};
  for (const [fileName, entry] of Object.entries(readManifest(ctx.manifestPath)?.databases ?? {})) {
    if (!isSafeFileName(fileName) || !hasDatabaseExtension(fileName)) continue;
    let archivePath: string;
    try {
      archivePath = ctx.archivePathFor(fileName);
    } catch {
      continue; // two archives: the database's own run reports it
    }
    if (!existsSync(archivePath)) continue;
    entries[fileName] = { ...entry, archive_path: basename(archivePath) };
  }
  return entries;
}

/**
 * Removes the database's archives of other codecs (`shop.json` once `shop.json.age` is written, or back): a database
 * whose encryption was switched on keeps no plain archive beside the encrypted one.
 */
function removeOtherArchives(archivePath: string, database: string): void {
  for (const codec of CODECS) {
    const other = join(dirname(archivePath), `${database}${ARCHIVE_EXTENSION}${codec.extension}`);
    if (other !== archivePath && existsSync(other)) rmSync(other, { force: true });
  }
}

/**
 * What the archive held when its database last matched it (the local sync state's hashes): for an encrypted archive,
 * and for any archive still the very file that was matched (its identity unchanged), which then need not be read to
 * tell whether the new content is the same.
 */
function knownArchive(
  ctx: ManagerContext,
  fileName: string,
  archivePath: string,
  sameArchiveRecord: SyncRecord | undefined,
): KnownArchive | undefined {
  if (sameArchiveRecord !== undefined && archiveUnchangedSince(sameArchiveRecord, archivePath)) {
    const { archiveSha256: sha256, contentHash } = sameArchiveRecord;
    return { sha256, contentHash, identityChecked: true };
  }
  if (!ctx.isEncrypted(fileName)) return undefined;
  const record = readSyncRecord(ctx.dataDir, fileName, archivePath);
  return record === undefined ? undefined : { sha256: record.archiveSha256, contentHash: record.contentHash };
}

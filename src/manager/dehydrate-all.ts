/** Dehydrating every database of the data directory into its archive, then the manifest. */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ArchiveNameError, toErrorDetail, type ErrorDetail } from '../errors.js';
import {
  archiveFileNameFor,
  databaseNameOf,
  hasDatabaseExtension,
  isSafeFileName,
} from '../archive/naming.js';
import { dehydrateDatabase } from '../dehydrate/dehydrate-database.js';
import { codecOfFile } from '../archive/archive-file.js';
import { archiveContentFields, type ArchiveContentFields } from '../archive/table-hashes.js';
import { removeStaleTempFiles } from '../files/atomic-file.js';
import { readManifest, writeManifest, type ManifestEntry } from '../manifest/manifest.js';
import { assertArchiveDir, assertDataDir } from './paths.js';
import { checkBeforeDehydrate } from '../sync/dehydrate-guard.js';
import { recordMatch, type MatchedBy } from '../sync/sync-state.js';
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
      const archivePath = ctx.archiveTargetFor(fileName, options.compress);
      const existing = ctx.archivePathFor(fileName);
      const clash = byArchive.get(archiveFileNameFor(fileName)) ?? [];
      if (clash.length > 1) {
        throw new ArchiveNameError(`${clash.join(' and ')} would share the archive ${archivePath}`, {
          file: dbPath,
          database,
          hint: 'rename one of the databases',
        });
      }
      const target = {
        dataDir: ctx.dataDir,
        fileName,
        dbPath,
        archivePath,
        busyTimeoutMs: ctx.busyTimeoutMs,
      };
      const overwrote = checkBeforeDehydrate({ ...target, archivePath: existing }, options.force === true);
      const outcome = dehydrateDatabase({ ...target, database, onProgress: ctx.onProgress });
      // A codec switch: the old file goes once the new one is in place, so the database never has none (nor two).
      if (existing !== archivePath) rmSync(existing, { force: true });
      databases[fileName] = {
        archivePath,
        tablesExported: outcome.tablesExported,
        totalRows: outcome.totalRows,
        changed: outcome.changed,
        sha256: outcome.sha256,
        ...(overwrote === undefined ? {} : { overwrote }),
      };
      entries[fileName] = {
        archive_path: basename(archivePath),
        tables_exported: outcome.tablesExported,
        total_rows: outcome.totalRows,
        sha256: outcome.sha256,
        bytes: outcome.bytes,
        exported_at: outcome.exportedAt,
        ...contentFields(archivePath, outcome.contentSha256, entries[fileName]),
      };
      // Last: the archive is written and listed whether or not the sync state can be.
      recordMatch({
        ...target,
        matchedBy,
        archiveSha256: outcome.sha256,
        contentHash: outcome.contentSha256,
      });
    } catch (error) {
      // The archive was kept: so is its manifest entry (kept above), if it has one.
      errorDetails.push(toErrorDetail(error, { file: dbPath, database }));
    }
  }
  return finish(ctx, timestamp, databases, entries, errorDetails);
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

/** Statistics of every archive: header and table sizes (see {@link DBHydrationManager.getArchiveStats}). */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PathError, toErrorDetail, type ErrorDetail } from '../errors.js';
import type { ArchiveHeader } from '../archive/format.js';
import { targetFileName } from '../archive/archive-header.js';
import { readArchive } from '../archive/read-archive.js';
import { codecOfFile } from '../archive/archive-file.js';
import type { ArchiveStat, ArchiveStats, ManagerContext } from './types.js';

/** Reads every archive's header and table sizes (rows are counted, not parsed). */
export function archiveStats(ctx: ManagerContext): ArchiveStats {
  const archives: ArchiveStat[] = [];
  const errorDetails: ErrorDetail[] = [];
  for (const archivePath of ctx.listArchives()) {
    try {
      const stat = statOf(ctx, archivePath);
      if (stat !== undefined) archives.push(stat);
    } catch (error) {
      errorDetails.push(toErrorDetail(error, { file: archivePath }));
    }
  }
  return {
    archiveDir: ctx.archiveDir,
    archives,
    totalArchives: archives.length,
    totalTables: archives.reduce((s, a) => s + a.tableCount, 0),
    totalRows: archives.reduce((s, a) => s + a.totalRows, 0),
    totalBytes: archives.reduce((s, a) => s + a.bytes, 0),
    totalPlainBytes: archives.reduce((s, a) => s + a.plainBytes, 0),
    errors: errorDetails.map((e) => e.message),
    errorDetails,
  };
}

/** One archive's statistics; undefined for an archive without a header. */
function statOf(ctx: ManagerContext, archivePath: string): ArchiveStat | undefined {
  if (!existsSync(archivePath)) {
    throw new PathError('there is no archive for this database', {
      file: archivePath,
      hint: 'check the name (--db or "databases" in the config); `db-hydration dehydrate` creates the archive',
    });
  }
  let header: ArchiveHeader | undefined;
  const tables: Record<string, number> = {};
  // The one read of the archive gives the counts and, from the plain bytes it decodes, the plain size.
  let plainBytes = 0;
  const onBytes = (bytes: Buffer): void => {
    plainBytes += bytes.length;
  };
  for (const event of readArchive(archivePath, { skipRows: true, onBytes })) {
    if (event.kind === 'header') header = event.header;
    else if (event.kind === 'tableEnd') tables[event.table.name] = event.rows;
  }
  if (header === undefined) return undefined;
  const fileName = targetFileName(header, archivePath);
  const counts = Object.values(tables);
  return {
    database: header.database,
    fileName,
    archivePath,
    exportedAt: header.exported_at,
    tables,
    tableCount: counts.length,
    totalRows: counts.reduce((s, n) => s + n, 0),
    bytes: statSync(archivePath).size,
    plainBytes,
    codec: codecOfFile(archivePath).name,
    databaseExists: existsSync(join(ctx.dataDir, fileName)),
  };
}

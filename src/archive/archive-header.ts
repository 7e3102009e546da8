/**
 * An archive's header and the database file it hydrates into: read the first event of an archive, and check that the
 * archive may only ever write its own database inside the data directory.
 */
import { basename } from 'node:path';
import { ArchiveNameError } from '../errors.js';
import type { ArchiveHeader } from './format.js';
import {
  ARCHIVE_EXTENSION,
  databaseNameOf,
  databaseNameOfArchive,
  hasDatabaseExtension,
  isSafeFileName,
} from './naming.js';
import { readArchive } from './read-archive.js';

/** The first event of an archive: its header. */
export function peekHeader(archivePath: string): ArchiveHeader {
  const events = readArchive(archivePath, { skipRows: true });
  try {
    const first = events.next();
    if (first.done === true || first.value.kind !== 'header')
      throw new ArchiveNameError('the archive has no header', { file: archivePath });
    return first.value.header;
  } finally {
    events.return(undefined);
  }
}

/**
 * The database file name an archive hydrates into: its `file_name`, or `<archive name>.db` for a plain archive. It
 * must be a plain file name with a database ending whose name part is the archive's own name, so an archive can only
 * ever write its own database inside dataDir.
 */
export function targetFileName(header: ArchiveHeader, archivePath: string): string {
  const archiveName =
    databaseNameOfArchive(basename(archivePath)) ?? basename(archivePath, ARCHIVE_EXTENSION);
  if (!isSafeFileName(header.database)) {
    throw new ArchiveNameError(`the "database" field ${JSON.stringify(header.database)} is not a safe name`, {
      file: archivePath,
    });
  }
  const fileName = header.file_name ?? `${archiveName}.db`;
  if (!isSafeFileName(fileName) || !hasDatabaseExtension(fileName)) {
    throw new ArchiveNameError(
      `"file_name" ${JSON.stringify(fileName)} is not a database file name inside the data directory`,
      { file: archivePath },
    );
  }
  if (databaseNameOf(fileName) !== archiveName) {
    throw new ArchiveNameError(
      `"file_name" ${JSON.stringify(fileName)} does not belong to the archive ${basename(archivePath)}`,
      {
        file: archivePath,
        hint: 'an archive <name>.json (or <name>.json.gz) hydrates only <name>.db, <name>.sqlite or <name>.sqlite3',
      },
    );
  }
  return fileName;
}

/**
 * Naming: the one place that knows how a database file, its database name and its archive file name relate
 * (`shop.db` ↔ `shop` ↔ `shop.json`, plus a codec's extension such as `.gz`), and which names are safe to use as file
 * names inside our directories.
 */
import { CODECS, IDENTITY_CODEC, type ArchiveCodec } from './codec.js';

/** Database file endings the scanner picks up by default. */
export const DATABASE_EXTENSIONS = ['.db', '.sqlite', '.sqlite3'] as const;

/** The ending of every archive file before any codec's extension. */
export const ARCHIVE_EXTENSION = '.json';

/** The manifest's file name inside the archive directory. */
export const MANIFEST_FILE = 'manifest.json';

/** The archive file name for a database file name: `shop.db` → `shop.json` (`shop.json.gz` with a gzip codec). */
export function archiveFileNameFor(databaseFileName: string, codec: ArchiveCodec = IDENTITY_CODEC): string {
  return `${databaseNameOf(databaseFileName)}${ARCHIVE_EXTENSION}${codec.extension}`;
}

/** The database name (the archive's `database` field) of a database file: `shop.db` → `shop`. */
export function databaseNameOf(databaseFileName: string): string {
  const ext = DATABASE_EXTENSIONS.find((e) => databaseFileName.toLowerCase().endsWith(e));
  return ext === undefined ? databaseFileName : databaseFileName.slice(0, -ext.length);
}

/**
 * The database name an archive file name stands for: `shop.json` → `shop`, or `undefined` for a name that is not an
 * archive's (the manifest, a temp file, another file).
 */
export function databaseNameOfArchive(archiveFileName: string): string | undefined {
  if (archiveFileName === MANIFEST_FILE || archiveFileName.startsWith('.')) return undefined;
  for (const codec of [...CODECS].sort((a, b) => b.extension.length - a.extension.length)) {
    const ending = `${ARCHIVE_EXTENSION}${codec.extension}`;
    if (archiveFileName.endsWith(ending) && archiveFileName.length > ending.length)
      return archiveFileName.slice(0, -ending.length);
  }
  return undefined;
}

/** Whether a file name in an archive directory is an archive's (not the manifest, not a temp or hidden file). */
export function isArchiveFileName(fileName: string): boolean {
  return databaseNameOfArchive(fileName) !== undefined;
}

/** Whether a file name has one of the database endings. */
export function hasDatabaseExtension(fileName: string): boolean {
  const lower = fileName.toLowerCase();
  return DATABASE_EXTENSIONS.some((e) => lower.endsWith(e));
}

/**
 * Whether a name is safe to use as a file name inside our directories: no path separators, not `.` or `..`, no
 * NUL or control characters, not empty, not absurdly long.
 */
export function isSafeFileName(name: string): boolean {
  return (
    name.length > 0 &&
    name.length <= 200 &&
    name !== '.' &&
    name !== '..' &&
    // eslint-disable-next-line no-control-regex
    !/[/\\\u0000-\u001f:]/.test(name)
  );
}

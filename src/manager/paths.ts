/** The manager's checks of its two directories, before any work is done in them. */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ArchiveNameError, PathError } from '../errors.js';
import { CODECS } from '../archive/codec.js';
import { archiveFileNameFor, databaseNameOf, databaseNameOfArchive } from '../archive/naming.js';

/** What stands at a path: a directory, nothing, or something else (a file, ...). */
export function kindOf(path: string): 'directory' | 'missing' | 'file' | 'other' {
  try {
    const st = statSync(path);
    return st.isDirectory() ? 'directory' : st.isFile() ? 'file' : 'other';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? 'missing' : 'other';
  }
}

/**
 * Throws a {@link PathError} unless dataDir is an existing directory: the commands that read databases (dehydrate,
 * fix, status, verify) have nothing to read in a data directory that is not there, and must not report success.
 */
export function assertDataDir(dataDir: string): void {
  const kind = kindOf(dataDir);
  if (kind === 'directory') return;
  throw new PathError(
    kind === 'missing'
      ? 'the data directory does not exist'
      : `the data directory is ${kind === 'file' ? 'a file, not a directory' : 'not a directory'}`,
    {
      file: dataDir,
      hint:
        kind === 'missing'
          ? 'check --data-dir (or "dataDir" in the config) and the working directory; in a fresh clone, `db-hydration hydrate` creates it from the archives'
          : 'give --data-dir (or "dataDir" in the config) a directory',
    },
  );
}

/** Throws a {@link PathError} when archiveDir exists but is not a directory (a missing one holds no archives). */
export function assertArchiveDir(archiveDir: string): void {
  const kind = kindOf(archiveDir);
  if (kind === 'directory' || kind === 'missing') return;
  throw new PathError(
    `the archive directory is ${kind === 'file' ? 'a file, not a directory' : 'not a directory'}`,
    {
      file: archiveDir,
      hint: 'give --archive-dir (or "archiveDir" in the config) a directory, or move that file away',
    },
  );
}

/**
 * The archive of a database in archiveDir, whichever its codec (`shop.json` or `shop.json.gz`), or undefined when it
 * has none.
 * @throws {ArchiveNameError} when it has two (see {@link twoArchivesError})
 */
export function findArchive(archiveDir: string, fileName: string): string | undefined {
  const found = CODECS.map((c) => join(archiveDir, archiveFileNameFor(fileName, c))).filter((p) =>
    existsSync(p),
  );
  if (found.length > 1) throw twoArchivesError(found, databaseNameOf(fileName));
  return found[0];
}

/**
 * Checks that no database has two archives among the archive paths of one directory listing.
 * @throws {ArchiveNameError} naming both files of the first database that has two
 */
export function assertOneArchiveEach(paths: readonly string[], nameOf: (path: string) => string): void {
  const seen = new Map<string, string>();
  for (const path of paths) {
    const name = databaseNameOfArchive(nameOf(path));
    if (name === undefined) continue;
    const other = seen.get(name);
    if (other !== undefined) throw twoArchivesError([other, path], name);
    seen.set(name, path);
  }
}

/** A database with a plain and a compressed archive: which one holds its content cannot be told. */
export function twoArchivesError(paths: readonly string[], database: string): ArchiveNameError {
  const [first = '', second = ''] = paths;
  return new ArchiveNameError(
    `the database "${database}" has two archives, ${first} and ${second}: which one holds its content cannot be told, so neither was used`,
    {
      file: first,
      database,
      hint: `keep one and delete the other (\`git rm\` it, or \`rm ${second}\` if ${first} is the one to keep), then run the command again`,
    },
  );
}

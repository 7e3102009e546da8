/** The manager's checks of its two directories, before any work is done in them. */
import { statSync } from 'node:fs';
import { PathError } from '../errors.js';

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

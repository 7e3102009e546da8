/** The database scanner: which database files a data directory holds. */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { hasDatabaseExtension } from '../archive/naming.js';
import { compareNames } from '../sqlite/names.js';

/**
 * The database files directly in `dataDir`: every regular file ending in `.db`, `.sqlite` or `.sqlite3`, sorted by
 * name. A missing directory, or a file, holds none.
 */
export function scanDatabases(dataDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dataDir);
  } catch (error) {
    // Missing, or not a directory: it holds no databases (the manager reports such a data directory).
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw error;
  }
  return names
    .filter((n) => hasDatabaseExtension(n) && !n.startsWith('.'))
    .filter((n) => {
      try {
        return statSync(join(dataDir, n)).isFile();
      } catch {
        return false;
      }
    })
    .sort(compareNames);
}

/**
 * The entries directly in `dataDir` with a database ending that are not regular files (directories, sockets, ...),
 * sorted by name. {@link scanDatabases} passes over them; callers that know such a name belongs to a database report
 * it. A missing directory holds none.
 */
export function scanNonFiles(dataDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dataDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => hasDatabaseExtension(n) && !n.startsWith('.'))
    .filter((n) => {
      try {
        return !statSync(join(dataDir, n)).isFile();
      } catch {
        return false;
      }
    })
    .sort(compareNames);
}

/** The database scanner: which database files a data directory holds. */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { hasDatabaseExtension } from '../archive/format.js';
import { compareNames } from './read-schema.js';

/**
 * The database files directly in `dataDir`: every regular file ending in `.db`, `.sqlite` or `.sqlite3`, sorted by
 * name. A missing directory holds none.
 */
export function scanDatabases(dataDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dataDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
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

/**
 * The checks `db-hydration git check` runs on every archive of the tree. A text merge made without our driver (a git
 * host's web merge never runs custom drivers) can leave conflict markers or broken JSON; each check throws a
 * {@link HydrationError} naming the file and the line. A new check is one more entry in {@link ARCHIVE_CHECKS}.
 */
import { ArchiveFormatError } from '../errors.js';
import { readArchive } from '../archive/read-archive.js';
import { isConflictMarker } from '../archive/conflict-markers.js';
import { readText } from './text-file.js';
import { checkKeyOrder } from '../merge/check-key-order.js';

/** One check of one archive file. */
export interface ArchiveCheck {
  /** A short name, for reports. */
  readonly name: string;
  /** Returns quietly when the archive passes. @throws {HydrationError} naming what is wrong */
  readonly check: (archivePath: string) => void;
}

/** The checks every archive goes through, in order; the first that fails is reported. */
export const ARCHIVE_CHECKS: readonly ArchiveCheck[] = [
  {
    // readArchive validates everything (structure, values' shape, row counts, UTF-8) and names conflict markers.
    name: 'parses',
    check: (archivePath) => {
      const events = readArchive(archivePath);
      while (events.next().done !== true) {
        // every event read: the archive is validated in full
      }
    },
  },
  // Rows out of key order (or a key twice): what a text merge of two branches' inserts can leave.
  { name: 'rows in key order', check: checkKeyOrder },
];

/**
 * The manifest's check: no conflict markers, valid JSON. (Its content is derived from the archives; the next
 * `dehydrate` rewrites a stale one.)
 * @throws {ArchiveFormatError}
 */
export function checkManifest(manifestPath: string): void {
  const text = readText(manifestPath);
  if (text === undefined) return;
  const marker = text.split('\n').findIndex((l) => isConflictMarker(l.replace(/\r$/, '')));
  if (marker >= 0)
    throw new ArchiveFormatError(`line ${marker + 1}: unresolved merge conflict marker`, {
      file: manifestPath,
      hint: 'the manifest is derived from the archives: resolve the archives, then `db-hydration dehydrate` rewrites it (or take either side: `git checkout --ours -- <manifest>`)',
    });
  try {
    JSON.parse(text);
  } catch (error) {
    throw new ArchiveFormatError(`the manifest is not valid JSON (${(error as Error).message})`, {
      file: manifestPath,
      hint: 'restore it from Git (`git checkout -- <manifest>`), or delete it and run `db-hydration dehydrate`',
    });
  }
}

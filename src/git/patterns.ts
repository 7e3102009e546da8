/**
 * The lines install adds to `.gitattributes` and `.gitignore`, for directories given relative to the work tree top.
 * Both files live at the top, so every pattern is anchored there and scoped to our directories.
 */
import { MANIFEST_FILE, ARCHIVE_EXTENSION, DATABASE_EXTENSIONS } from '../archive/naming.js';
import { GZIP_CODEC } from '../archive/codec.js';

/** The name of the merge driver in `.gitattributes` and in git's config (`merge.db-hydration.driver`). */
export const DRIVER_NAME = 'db-hydration';

/** A directory (relative to the top, `''` for the top) as the start of an anchored pattern, glob characters escaped. */
function anchored(dir: string): string {
  const escaped = dir.replace(/[\\*?[\]!#]/g, (c) => `\\${c}`);
  return escaped === '' ? '/' : `${escaped}/`;
}

/** A `.gitattributes` pattern, C-quoted when it holds white space or a double quote. */
function attributePattern(pattern: string): string {
  return /[\s"]/.test(pattern) ? `"${pattern.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : pattern;
}

/**
 * The `.gitattributes` lines for the archive directory: its archives and its manifest use our merge driver, and the
 * archives our diff driver (`git diff` shows row changes by key).
 */
export function attributeLines(archiveDir: string): string[] {
  const dir = anchored(archiveDir);
  return [
    `${attributePattern(`${dir}*${ARCHIVE_EXTENSION}`)} merge=${DRIVER_NAME} diff=${DRIVER_NAME}`,
    // Compressed archives (`--compress gzip`): binary to git, merged and diffed by row all the same.
    `${attributePattern(`${dir}*${ARCHIVE_EXTENSION}${GZIP_CODEC.extension}`)} merge=${DRIVER_NAME} diff=${DRIVER_NAME}`,
    // Encrypted archives: the same drivers (they decrypt where an identity is available); binary otherwise.
    `${attributePattern(`${dir}*${ARCHIVE_EXTENSION}.age`)} merge=${DRIVER_NAME} diff=${DRIVER_NAME} -text`,
    `${attributePattern(`${dir}*${ARCHIVE_EXTENSION}${GZIP_CODEC.extension}.age`)} merge=${DRIVER_NAME} diff=${DRIVER_NAME} -text`,
    `${attributePattern(`${dir}${MANIFEST_FILE}`)} merge=${DRIVER_NAME}`,
  ];
}

/**
 * The `.gitignore` lines for the data directory: databases, SQLite's side files, backups (`<file>.<time>.bak`),
 * quarantined damaged databases (`<file>.corrupt-<time>`), the local sync state (`.db-hydration/`), and temp files of
 * an interrupted run in the data and archive directories.
 */
export function ignoreLines(dataDir: string, archiveDir: string): string[] {
  const dir = anchored(dataDir);
  const lines = [
    ...DATABASE_EXTENSIONS.map((e) => `${dir}*${e}`),
    `${dir}*-wal`,
    `${dir}*-shm`,
    `${dir}*-journal`,
    `${dir}*.bak`,
    `${dir}*.corrupt-*`,
    `${dir}.db-hydration/`,
    `${dir}.*.dh-tmp-*`,
    `${anchored(archiveDir)}.*.dh-tmp-*`,
  ];
  return lines.filter((l, i) => lines.indexOf(l) === i);
}

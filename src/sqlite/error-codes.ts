/**
 * SQLite's result codes as better-sqlite3 reports them (`error.code`: `SQLITE_BUSY`, `SQLITE_CORRUPT_INDEX`, ...), and
 * the groups db-hydration acts on.
 */

/** The SQLite result code of an error, or `undefined` for an error that did not come from SQLite. */
export function sqliteCodeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_') ? code : undefined;
}

/** Another connection holds a lock that did not clear within the busy timeout. */
export function isBusyCode(code: string | undefined): boolean {
  return code !== undefined && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** SQLite found the file damaged (not a missing collation, function or permission). */
export function isDamageCode(code: string | undefined): boolean {
  return (
    code === 'SQLITE_CORRUPT' || code?.startsWith('SQLITE_CORRUPT_') === true || code === 'SQLITE_NOTADB'
  );
}

/** The disk, a file-size limit or `max_page_count` stopped a write. */
export function isFullCode(code: string | undefined): boolean {
  return code === 'SQLITE_FULL';
}

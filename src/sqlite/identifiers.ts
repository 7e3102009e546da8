/** Quotes an SQL identifier: `a "b"` becomes `"a ""b"""`. Works for every name SQLite accepts. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The names SQLite accepts for a table's rowid, in the order we prefer them. */
export const ROWID_NAMES = ['rowid', '_rowid_', 'oid'] as const;

/**
 * The first rowid name no column shadows, or `undefined` when every one is taken by a column
 * (https://sqlite.org/lang_createtable.html#rowid).
 */
export function unshadowedRowidName(columnNames: readonly string[]): string | undefined {
  const taken = new Set(columnNames.map((n) => n.toLowerCase()));
  return ROWID_NAMES.find((n) => !taken.has(n));
}

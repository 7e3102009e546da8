/** Ordering of SQLite names (tables, objects, files) wherever db-hydration sorts them. */

/** Code-unit order: deterministic on every platform and locale. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

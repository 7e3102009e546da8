/** SQLite column affinity (https://sqlite.org/datatype3.html#determination_of_column_affinity). */
export type Affinity = 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL' | 'NUMERIC';

/**
 * The affinity of a column with this declared type, by SQLite's five rules in their order.
 * STRICT tables follow the same rules; their `ANY` type keeps values as given, which matters here only in that it is
 * not REAL.
 */
export function affinityOf(declaredType: string): Affinity {
  const t = declaredType.toUpperCase();
  if (t.includes('INT')) return 'INTEGER';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'TEXT';
  if (t.includes('BLOB') || t === '') return 'BLOB';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'REAL';
  return 'NUMERIC';
}

/**
 * SQLite's page and index checks (`PRAGMA quick_check` / `integrity_check`, https://sqlite.org/pragma.html), with the
 * one message that is not a sign of damage left out.
 */
import type { Database } from 'better-sqlite3';

// SQLite prefixes the first message with a heading line naming the schema; the message itself follows it.
const DATABASE_HEADING = /^\*\*\* in database \S+ \*\*\*\n/;
const FTS4_UNCHECKABLE = /^unable to validate the inverted index for FTS4 table main\.(.+): SQL logic error$/;

/**
 * The problems `PRAGMA <pragma>(limit)` reports for the main database; empty when it is sound.
 *
 * SQLite cannot validate the index of a contentless FTS4 table (`content=""`), or of one whose content is a view or
 * a virtual table: the check reports an error for every such table, even a freshly built, intact one (SQLite 3.53).
 * That message is dropped for those FTS4 tables only; every other message is kept.
 */
export function checkProblems(
  db: Database,
  pragma: 'quick_check' | 'integrity_check' = 'quick_check',
  limit = 100,
): string[] {
  // Each contentless FTS4 table takes one message of the limit: make room for them.
  const fts4 = db
    .prepare("SELECT count(*) FROM main.sqlite_schema WHERE type = 'table' AND sql LIKE '%fts4%'")
    .pluck()
    .safeIntegers(false)
    .get() as number;
  const rows = db.pragma(`${pragma}(${limit + fts4})`) as Record<string, unknown>[];
  return rows
    .map((r) => String(Object.values(r)[0]).replace(DATABASE_HEADING, ''))
    .filter((message) => message !== 'ok' && !isContentlessFts4Limitation(db, message));
}

/**
 * The problems `PRAGMA quick_check(<table>)` reports for each virtual table, each prefixed with the table's name (FTS3/4/5, R*Tree): their modules check
 * that the index held in the shadow tables agrees with the content. Cheap next to a whole-file check when the virtual
 * tables are small, and the part of a database that SQL statements alone can make inconsistent (shadow tables are
 * writable in unsafe mode).
 */
export function checkVirtualTables(db: Database): string[] {
  const names = db
    .prepare("SELECT name FROM main.sqlite_schema WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'")
    .pluck()
    .safeIntegers(false)
    .all() as string[];
  return checkTables(db, names);
}

/**
 * The problems `PRAGMA quick_check(<table>)` reports for the given tables (each b-tree of the table and of its
 * indexes), each prefixed with the table's name, the first `limit` of them: an export that copies the other tables'
 * rows checks only the tables it reads.
 */
export function checkTables(db: Database, names: readonly string[], limit = Infinity): string[] {
  const problems: string[] = [];
  for (const name of names) {
    if (problems.length >= limit) break;
    const rows = db.pragma(`main.quick_check('${name.replaceAll("'", "''")}')`) as Record<string, unknown>[];
    for (const r of rows) {
      const message = String(Object.values(r)[0]).replace(DATABASE_HEADING, '');
      if (message !== 'ok' && !isContentlessFts4Limitation(db, message))
        problems.push(`table "${name}": ${message}`);
    }
  }
  if (!Number.isFinite(limit)) return problems;
  // One row can hold several problems, a line each: the limit counts lines, as quick_check(N) does.
  return problems
    .flatMap((p) => {
      const [first = '', ...rest] = p.split('\n');
      const prefix = first.slice(0, first.indexOf(': ') + 2);
      return [first, ...rest.filter((l) => l !== '').map((l) => `${prefix}${l}`)];
    })
    .slice(0, limit);
}

function isContentlessFts4Limitation(db: Database, message: string): boolean {
  const name = FTS4_UNCHECKABLE.exec(message)?.[1];
  if (name === undefined) return false;
  const sql = db
    .prepare("SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND name = ?")
    .pluck()
    .safeIntegers(false)
    .get(name) as string | null | undefined;
  if (typeof sql !== 'string') return false;
  if (/\bcontent\s*=\s*(?:""|'')/i.test(sql)) return true;
  // Its content in a view or a virtual table (FTS4 allows both): the check cannot read it back either.
  const content =
    /\bcontent\s*=\s*(?:"((?:[^"]|"")*)"|'((?:[^']|'')*)'|`((?:[^`]|``)*)`|\[([^\]]*)\]|([^\s,)]+))/i.exec(
      sql,
    );
  if (content === null) return false;
  const source =
    content[1]?.replaceAll('""', '"') ??
    content[2]?.replaceAll("''", "'") ??
    content[3]?.replaceAll('``', '`') ??
    content[4] ??
    content[5] ??
    '';
  const kind = db
    .prepare(
      "SELECT CASE WHEN type = 'view' OR sql LIKE 'CREATE VIRTUAL TABLE%' THEN 1 ELSE 0 END FROM main.sqlite_schema WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE",
    )
    .pluck()
    .safeIntegers(false)
    .get(source) as number | undefined;
  return kind === 1;
}

/**
 * Schema application: runs each CREATE statement from an archive, after checking with SQLite itself that it is one
 * statement of the expected kind that creates exactly the named object with exactly that SQL text.
 *
 * SQLite stores CREATE statements in sqlite_schema with their text verbatim from `CREATE` on
 * (https://sqlite.org/schematab.html), so an archive's schema text must come back from sqlite_schema unchanged.
 */
import type { Database } from 'better-sqlite3';
import type { ArchiveSchemaEntry } from '../archive/format.js';
import { ArchiveSchemaError } from '../errors.js';
import { sqlTokens } from '../sqlite/sql-tokens.js';

/** What a statement is expected to create. */
export type CreatedKind = 'table' | 'virtual' | 'index' | 'view' | 'trigger';

const LEADING: Record<CreatedKind, RegExp> = {
  table: /^CREATE TABLE /i,
  virtual: /^CREATE VIRTUAL TABLE /i,
  index: /^CREATE (UNIQUE )?INDEX /i,
  view: /^CREATE VIEW /i,
  trigger: /^CREATE TRIGGER /i,
};

/**
 * Runs one CREATE statement taken from an archive.
 * @throws {ArchiveSchemaError} when it is not exactly one CREATE of `kind` named `name`, or SQLite rejects it
 */
export function applyCreate(db: Database, kind: CreatedKind, name: string, sql: string, file: string): void {
  const context = { file, table: kind === 'table' || kind === 'virtual' ? name : undefined };
  const fail = (why: string, cause?: unknown): never => {
    throw new ArchiveSchemaError(
      `the schema of ${kind} "${name}" is rejected: ${why}`,
      withDefined({ ...context, cause }),
    );
  };
  if (!LEADING[kind].test(sql))
    fail(`it must start with "${LEADING[kind].source.slice(1, -1).replace('(UNIQUE )?', '')}"`);
  // CREATE TABLE ... AS <query> runs its query (which can be endless) before the text check below could refuse it. Its
  // AS is the only one outside the parentheses: generated columns keep theirs inside.
  if (kind === 'table' && topLevelWords(sql).some((w) => w.toUpperCase() === 'AS'))
    fail('CREATE TABLE ... AS <query> is not a schema sqlite_schema can hold');
  const type = kind === 'virtual' ? 'table' : kind;
  // What runs: the text itself, or with double-quoted strings written as single-quoted ones (see below).
  let applied = sql;
  for (let attempt = 0; ; attempt++) {
    try {
      // prepare() compiles exactly one statement and refuses a string holding more.
      db.prepare(applied);
      break;
    } catch (error) {
      // SQLite reads "x" as the string 'x' where no column x exists, in a schema it loads (legacy behaviour that
      // many tools rely on: CHECK (status IN ("a", "b"))); better-sqlite3 turns that off for new statements. Such a
      // schema is created with the literal single-quoted, which means the same, and then given its exact text.
      const literal = doubleQuotedString(error);
      const next =
        literal === undefined || attempt >= MAX_LITERALS ? undefined : singleQuote(applied, literal);
      if (next === undefined || next === applied) return fail((error as Error).message, error);
      applied = next;
    }
  }
  const before = countNamed(db, type, name);
  if (before !== 0) fail(`an object named "${name}" already exists`);
  try {
    db.exec(applied);
  } catch (error) {
    fail((error as Error).message, error);
  }
  if (applied !== sql) {
    // The same statement with its literals written the other way: store the archive's text, as the source had it.
    // On the next load SQLite reads "x" as the string again (it always does for a stored schema).
    db.pragma('writable_schema = ON');
    try {
      db.prepare('UPDATE main.sqlite_schema SET sql = ? WHERE type = ? AND name = ?').run(sql, type, name);
    } finally {
      db.pragma('writable_schema = OFF');
    }
    const version = Number(db.pragma('schema_version', { simple: true }));
    db.pragma(`schema_version = ${version + 1}`);
  }
  const stored = db
    .prepare('SELECT sql FROM main.sqlite_schema WHERE type = ? AND name = ?')
    .pluck()
    .safeIntegers(false)
    .get(type, name) as string | null | undefined;
  if (stored !== sql) fail('it does not create an object of that name with that exact SQL text');
}

/** The most double-quoted strings one statement may have rewritten (one attempt each). */
const MAX_LITERALS = 100;

/** The name in SQLite's "no such column: "x" - should this be a string literal in single-quotes?" error. */
function doubleQuotedString(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : '';
  return /^no such column: "(.*)" - should this be a string literal in single-quotes\?$/s.exec(message)?.[1];
}

/**
 * `sql` with each double-quoted token spelling `literal` after the first parenthesis (so never the object's own name
 * or its table's, which come before) written as a single-quoted string literal.
 */
function singleQuote(sql: string, literal: string): string {
  let out = '';
  let opened = false;
  for (const token of sqlTokens(sql)) {
    if (token.kind === 'punct' && token.text === '(') opened = true;
    const isLiteral =
      opened &&
      token.kind === 'quoted' &&
      token.text.startsWith('"') &&
      token.text.slice(1, -1).replaceAll('""', '"') === literal;
    out += isLiteral ? `'${literal.replaceAll("'", "''")}'` : token.text;
  }
  return out;
}

/** The bare words of an SQL statement outside any parentheses (literals, quoted names and comments skipped). */
function topLevelWords(sql: string): string[] {
  const words: string[] = [];
  let depth = 0;
  for (const token of sqlTokens(sql)) {
    if (token.kind === 'punct' && token.text === '(') depth++;
    else if (token.kind === 'punct' && token.text === ')') depth--;
    else if (token.kind === 'word' && depth === 0) words.push(token.text);
  }
  return words;
}

/**
 * Puts the rows of sqlite_schema in the order an archive's `schema_order` records (the source's creation order, which
 * `.schema` and `.dump` show), once every object exists. Tables are created and loaded first and indexes and triggers
 * after the rows, so the order they were created in is not the source's; only the rows' rowids in sqlite_schema say
 * which came first, and they are renumbered 1, 2, … in the recorded order. Each row keeps its type, names, root page
 * and SQL exactly: the schema is the same, only listed in another order.
 *
 * A row the order does not list (an automatic index, which has no SQL) stays right after the row it follows now, as
 * SQLite creates it after its table; entries naming nothing that exists are ignored (the order is only an order).
 */
export function orderSchema(db: Database, order: readonly ArchiveSchemaEntry[]): void {
  const position = new Map(order.map((e, i) => [`${e.type}\u0000${e.name}`, i]));
  const rows = db
    .prepare('SELECT rowid, type, name FROM main.sqlite_schema ORDER BY rowid')
    .raw(true)
    .safeIntegers(false)
    .all() as [number, string, string][];
  let key = -1;
  const keyed = rows.map(([rowid, type, name]) => {
    key = position.get(`${type}\u0000${name}`) ?? key;
    return { rowid, key };
  });
  // Array#sort is stable: rows with the same key (a row and those that follow it) keep their order.
  const sorted = [...keyed].sort((a, b) => a.key - b.key);
  if (sorted.every((r, i) => r.rowid === i + 1)) return;
  const top = Math.max(0, ...rows.map(([rowid]) => rowid));
  db.pragma('writable_schema = ON');
  try {
    // Out of the way first (above every rowid in use), then down to 1, 2, … in the new order.
    const move = db.prepare('UPDATE main.sqlite_schema SET rowid = ? WHERE rowid = ?');
    sorted.forEach((r, i) => move.run(top + 1 + i, r.rowid));
    sorted.forEach((_, i) => move.run(i + 1, top + 1 + i));
  } finally {
    db.pragma('writable_schema = OFF');
  }
  const version = Number(db.pragma('schema_version', { simple: true }));
  db.pragma(`schema_version = ${version + 1}`);
}

function countNamed(db: Database, type: string, name: string): number {
  return db
    .prepare('SELECT count(*) FROM main.sqlite_schema WHERE type = ? AND name = ?')
    .pluck()
    .safeIntegers(false)
    .get(type, name) as number;
}

function withDefined<T extends object>(obj: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

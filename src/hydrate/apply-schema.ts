/**
 * Schema application: runs each CREATE statement from an archive, after checking with SQLite itself that it is one
 * statement of the expected kind that creates exactly the named object with exactly that SQL text.
 *
 * SQLite stores CREATE statements in sqlite_schema with their text verbatim from `CREATE` on
 * (https://sqlite.org/schematab.html), so an archive's schema text must come back from sqlite_schema unchanged.
 */
import type { Database } from 'better-sqlite3';
import { ArchiveSchemaError } from '../errors.js';

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
  try {
    // prepare() compiles exactly one statement and refuses a string holding more.
    db.prepare(sql);
  } catch (error) {
    fail((error as Error).message, error);
  }
  const type = kind === 'virtual' ? 'table' : kind;
  const before = countNamed(db, type, name);
  if (before !== 0) fail(`an object named "${name}" already exists`);
  try {
    db.exec(sql);
  } catch (error) {
    fail((error as Error).message, error);
  }
  const stored = db
    .prepare('SELECT sql FROM main.sqlite_schema WHERE type = ? AND name = ?')
    .pluck()
    .safeIntegers(false)
    .get(type, name) as string | null | undefined;
  if (stored !== sql) fail('it does not create an object of that name with that exact SQL text');
}

/**
 * The bare words of an SQL statement outside any parentheses, skipping string literals, quoted identifiers ("", ``,
 * []) and comments, as SQLite's tokenizer does.
 */
export function topLevelWords(sql: string): string[] {
  const words: string[] = [];
  let depth = 0;
  let i = 0;
  const n = sql.length;
  const skipQuoted = (close: string, doubled: boolean): void => {
    i++;
    while (i < n) {
      if (sql[i] === close) {
        if (doubled && sql[i + 1] === close) {
          i += 2;
          continue;
        }
        i++;
        return;
      }
      i++;
    }
  };
  while (i < n) {
    const c = sql[i] as string;
    if (c === "'" || c === '"' || c === '`') skipQuoted(c, true);
    else if (c === '[') skipQuoted(']', false);
    else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
    } else if (c === '(') {
      depth++;
      i++;
    } else if (c === ')') {
      depth--;
      i++;
    } else if (/[\p{L}\p{N}_$]/u.test(c)) {
      let j = i + 1;
      while (j < n && /[\p{L}\p{N}_$]/u.test(sql[j] as string)) j++;
      if (depth === 0) words.push(sql.slice(i, j));
      i = j;
    } else i++;
  }
  return words;
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

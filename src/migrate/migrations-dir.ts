/**
 * The migrations directory: ordered SQL files (`0001_add_notes.sql`, `0002_...`), read and checked before anything is
 * applied. Numbering starts at 1 and has no gaps or duplicates; each file's checksum (SHA-256 of its text, line endings
 * normalised to LF so a checkout with CRLF endings does not count as an edit) is what the ledger records.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MigrationError } from '../errors.js';
import { sqlTokens } from '../sqlite/sql-tokens.js';
import { databaseNameOf } from '../archive/naming.js';

/** One migration file. */
export interface Migration {
  /** Its number: the file name's leading digits. `PRAGMA user_version` holds the latest applied one. */
  readonly id: number;
  /** The file name, e.g. `0001_add_notes.sql`. */
  readonly name: string;
  /** The SQL text, as read. */
  readonly sql: string;
  /** SHA-256 (hex) of the text with CRLF line endings turned into LF. */
  readonly checksum: string;
  /** Directives of the file's leading `-- db-hydration: key=value` comment lines. */
  readonly directives: MigrationDirectives;
}

/** What a migration file may ask of the runner on its leading comment lines. */
export interface MigrationDirectives {
  /**
   * `-- db-hydration: legacy_alter_table=on`: run with `PRAGMA legacy_alter_table=ON`, which a table rebuild (create
   * new_X, copy, drop X, rename new_X to X) needs when views or triggers name X: without it SQLite refuses the rename.
   */
  readonly legacyAlterTable: boolean;
}

/** A migration file name: digits, then `_` or `-` and a description, ending in `.sql`. */
const FILE_NAME = /^(\d+)[_-][^/\\]*\.sql$/;
const DIRECTIVE = /^--\s*db-hydration:\s*(.*?)\s*$/;
const KNOWN_DIRECTIVES: Readonly<Record<string, (d: { legacyAlterTable: boolean }) => void>> = {
  'legacy_alter_table=on': (d) => {
    d.legacyAlterTable = true;
  },
  'legacy_alter_table=off': (d) => {
    d.legacyAlterTable = false;
  },
};

/** The keywords that start a statement a migration must not hold: the runner owns the transaction. */
const TRANSACTION_WORDS = new Set(['BEGIN', 'COMMIT', 'END', 'ROLLBACK', 'SAVEPOINT', 'RELEASE']);

/** The first transaction-control statement of a migration's SQL (BEGIN inside CREATE TRIGGER does not count). */
export function transactionStatement(sql: string): string | undefined {
  let atStart = true;
  let depth = 0;
  for (const token of sqlTokens(sql)) {
    if (token.kind === 'space' || token.kind === 'comment') continue;
    if (token.kind === 'punct' && token.text === ';') {
      atStart = depth === 0;
      continue;
    }
    const word = token.kind === 'word' ? token.text.toUpperCase() : '';
    if (atStart && depth === 0 && TRANSACTION_WORDS.has(word)) return word;
    atStart = false;
    if (word === 'BEGIN' || word === 'CASE') depth++;
    else if (word === 'END' && depth > 0) {
      depth--;
      atStart = false;
    }
  }
  return undefined;
}

/** The checksum the ledger records for a migration's text. */
export function migrationChecksum(sql: string): string {
  return createHash('sha256').update(sql.replaceAll('\r\n', '\n'), 'utf8').digest('hex');
}

/**
 * Parses one migration file's text (for migrations that do not live in a directory, e.g. tests or generated ones).
 * @throws {MigrationError} on an unknown directive
 */
export function parseMigration(id: number, name: string, sql: string, file = name): Migration {
  const directives = { legacyAlterTable: false };
  for (const line of sql.replaceAll('\r\n', '\n').split('\n')) {
    const m = DIRECTIVE.exec(line);
    if (m === null) {
      if (line.trim() === '' || line.trimStart().startsWith('--')) continue;
      break;
    }
    const directive = (m[1] ?? '').replace(/\s+/g, '').toLowerCase();
    const apply = KNOWN_DIRECTIVES[directive];
    if (apply === undefined) {
      throw new MigrationError(`unknown directive "-- db-hydration: ${m[1] ?? ''}"`, {
        file,
        hint: `the known directives are: ${Object.keys(KNOWN_DIRECTIVES).join(', ')} (docs/migrations.md)`,
      });
    }
    apply(directives);
  }
  return { id, name, sql, checksum: migrationChecksum(sql), directives };
}

/**
 * Reads and checks the migrations of a directory, in order. Files not ending in `.sql` are ignored (a README may sit
 * there); a `.sql` file without a number, a duplicate number or a gap in the numbering is refused before anything runs.
 * @throws {MigrationError} naming the directory or file and what to rename
 */
export function readMigrationsDir(dir: string): Migration[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    names = readdirSync(dir);
  } catch (error) {
    throw new MigrationError(`cannot read the migrations directory: ${(error as Error).message}`, {
      file: dir,
      hint: 'check `migrationsDir` in the config or --migrations (a directory of 0001_name.sql files)',
      cause: error,
    });
  }
  const files = names.filter((n) => n.toLowerCase().endsWith('.sql'));
  const numbered = files.map((name) => {
    const m = FILE_NAME.exec(name);
    if (m === null) {
      throw new MigrationError('a migration file must be named <number>_<description>.sql', {
        file: join(dir, name),
        hint: 'rename it, e.g. 0003_add_notes.sql, or move it out of the migrations directory',
      });
    }
    return { id: Number(m[1]), name };
  });
  numbered.sort((a, b) => a.id - b.id || (a.name < b.name ? -1 : 1));
  numbered.forEach((f, i) => {
    const previous = numbered[i - 1];
    if (previous !== undefined && previous.id === f.id) {
      throw new MigrationError(`two migrations have the number ${f.id}: ${previous.name} and ${f.name}`, {
        file: dir,
        hint: 'give the newer one the next free number (two branches may each have added one: renumber yours)',
      });
    }
    if (f.id !== i + 1) {
      throw new MigrationError(
        `the numbering has a gap: ${f.name} follows ${previous === undefined ? 'nothing' : previous.name}, but migration ${i + 1} is missing`,
        { file: dir, hint: `number migrations 1, 2, 3, ... with no gaps: rename ${f.name}` },
      );
    }
  });
  return numbered.map((f) => {
    const path = join(dir, f.name);
    return parseMigration(f.id, f.name, readFileSync(path, 'utf8'), path);
  });
}

/**
 * The directory holding one database's migrations: `<dir>/<database name>/` (e.g. `migrations/app/` for `app.db`)
 * when there is one, so each database of a data directory can have its own; otherwise `dir` itself, whose files then
 * apply to every database without a directory of its own.
 */
export function migrationsDirFor(dir: string, databaseFileName: string): string {
  const own = join(dir, databaseNameOf(databaseFileName));
  try {
    return statSync(own).isDirectory() ? own : dir;
  } catch {
    return dir;
  }
}

/** Reads each migrations directory once, however many databases use it. */
export class MigrationsReader {
  private readonly cache = new Map<string, Migration[]>();

  constructor(
    /** The configured migrations directory. */
    readonly dir: string,
  ) {}

  /** The directory a database's migrations come from (see {@link migrationsDirFor}). */
  dirFor(databaseFileName: string): string {
    return migrationsDirFor(this.dir, databaseFileName);
  }

  /**
   * The migrations of a database, in order.
   * @throws {MigrationError} as {@link readMigrationsDir}
   */
  forDatabase(databaseFileName: string): Migration[] {
    const dir = this.dirFor(databaseFileName);
    let migrations = this.cache.get(dir);
    if (migrations === undefined) {
      migrations = readMigrationsDir(dir);
      this.cache.set(dir, migrations);
    }
    return migrations;
  }
}

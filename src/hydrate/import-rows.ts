/**
 * Row import: inserts decoded rows into one table with a reused prepared statement.
 *
 * Each row object must hold only the table's stored columns (and its `rowid_key`); generated columns are computed by
 * SQLite and ignored if present. Rows missing some columns (possible in a plain archive) use a statement for just
 * the columns they have, so column defaults apply.
 */
import type { Database, Statement } from 'better-sqlite3';
import { ArchiveFormatError, ArchiveValueError, HydrationError } from '../errors.js';
import { decodeValue, TextBytes, type DecodeOptions, type DecodedValue } from '../codec/value-codec.js';
import { readColumns } from '../sqlite/catalog.js';
import { quoteIdent, ROWID_NAMES } from '../sqlite/identifiers.js';

/** Rows per multi-row INSERT. */
const BATCH_ROWS = 64;
/** Bound parameters per statement, kept under SQLite's limit (SQLITE_MAX_VARIABLE_NUMBER, 32766). */
const MAX_PARAMS = 32766;

/** Whether `names` are exactly `keys`, in the same order. */
function sameNames(names: readonly string[], keys: readonly string[]): boolean {
  for (let i = 0; i < keys.length; i++) if (names[i] !== keys[i]) return false;
  return true;
}

function isConstraintError(error: unknown): error is Error & { code: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT');
}

/** A row that violated a constraint and was skipped. */
export interface RejectedRow {
  readonly table: string;
  /** Line of the archive holding the row (0 for a plain archive). */
  readonly line: number;
  readonly reason: string;
}

/** Inserts rows into one table. */
export class RowImporter {
  private readonly keys: readonly string[];
  private readonly sqlNames: readonly string[];
  private readonly generated: ReadonlySet<string>;
  private readonly statements = new Map<string, Statement>();
  private readonly full: Statement;
  private readonly values: DecodedValue[];
  private readonly decodeOptions: DecodeOptions;
  /** Rows waiting to be inserted by one multi-row INSERT: their values, flat, and their archive lines. */
  private readonly batch: DecodedValue[];
  private readonly batchLines: number[];
  private readonly batchRows: number;
  private batchStatement: Statement | undefined;
  private pending = 0;
  readonly rejected: RejectedRow[] = [];
  /** Rows inserted so far (rows still batched are counted by {@link finish}). */
  inserted = 0;

  constructor(
    private readonly db: Database,
    readonly table: string,
    rowidKey: string | undefined,
    private readonly file: string,
    private readonly lenient: boolean,
  ) {
    const columns = readColumns(db, table);
    const stored = columns.filter((c) => c.hidden === 0).map((c) => c.name);
    this.generated = new Set(columns.filter((c) => c.hidden !== 0).map((c) => c.name));
    if (rowidKey !== undefined) {
      if (stored.includes(rowidKey)) {
        throw new ArchiveFormatError(`rowid_key "${rowidKey}" is also a column name`, {
          file,
          table,
        });
      }
      // The SQL name for the rowid may differ from the archive's key: pick one this table's columns don't shadow.
      const taken = new Set(columns.map((c) => c.name.toLowerCase()));
      const sqlRowid = ROWID_NAMES.find((n) => !taken.has(n));
      if (sqlRowid === undefined)
        throw new ArchiveFormatError('rowid_key given, but every rowid name is a column', {
          file,
          table,
        });
      this.keys = [rowidKey, ...stored];
      this.sqlNames = [sqlRowid, ...stored.map(quoteIdent)];
    } else {
      this.keys = stored;
      this.sqlNames = stored.map(quoteIdent);
    }
    this.values = new Array<DecodedValue>(this.keys.length);
    this.decodeOptions = { lenient };
    this.full = this.statementFor(
      this.keys.map((_, i) => i),
      '',
    );
    // Complete rows are inserted BATCH_ROWS at a time: one statement per batch costs far less than one per row.
    this.batchRows =
      this.keys.length === 0
        ? 1
        : Math.max(1, Math.min(BATCH_ROWS, Math.floor(MAX_PARAMS / this.keys.length)));
    this.batch = new Array<DecodedValue>(this.batchRows * this.keys.length);
    this.batchLines = new Array<number>(this.batchRows);
  }

  /** Inserts the rows still batched; call once after the table's last row. */
  finish(): void {
    this.flushBatch();
  }

  /** Decodes and inserts one row; a constraint violation is recorded in {@link rejected} instead of thrown. */
  insert(row: Readonly<Record<string, unknown>>, line: number): void {
    const keys = this.keys;
    const width = keys.length;
    const values = this.values;
    const names = Object.keys(row);
    let missing = false;
    let textBytes = false;
    if (names.length === width && sameNames(names, keys)) {
      // The usual row: exactly the table's keys, in column order. Its values come out in one call.
      const raw = Object.values(row);
      for (let i = 0; i < width; i++) {
        let value: DecodedValue;
        try {
          value = decodeValue(raw[i], this.decodeOptions);
        } catch (error) {
          throw this.valueError(error, keys[i] as string, line);
        }
        if (value instanceof TextBytes) textBytes = true;
        values[i] = value;
      }
    } else {
      let present = 0;
      for (let i = 0; i < width; i++) {
        const key = keys[i] as string;
        if (!Object.hasOwn(row, key)) {
          missing = true;
          continue;
        }
        present++;
        let value: DecodedValue;
        try {
          value = decodeValue(row[key], this.decodeOptions);
        } catch (error) {
          throw this.valueError(error, key, line);
        }
        if (value instanceof TextBytes) textBytes = true;
        values[i] = value;
      }
      if (present !== names.length) this.checkUnknownKeys(row, line);
    }
    if (!missing && !textBytes) {
      const at = this.pending * width;
      const batch = this.batch;
      for (let i = 0; i < width; i++) batch[at + i] = values[i] as DecodedValue;
      this.batchLines[this.pending] = line;
      if (++this.pending === this.batchRows) this.flushBatch();
      return;
    }
    // Rows keep their archive order: what is batched goes in first.
    this.flushBatch();
    const used: number[] = [];
    let shape = '';
    for (let i = 0; i < width; i++) {
      if (!Object.hasOwn(row, keys[i] as string)) continue;
      used.push(i);
      shape += values[i] instanceof TextBytes ? `t${i},` : `${i},`;
    }
    const params = used.map((i) => {
      const v = values[i];
      return v instanceof TextBytes ? v.bytes : v;
    });
    this.run(this.statementFor(used, shape), params, line);
  }

  /**
   * Inserts the batched rows. A full batch goes in as one multi-row INSERT; if that hits a constraint, SQLite backs
   * the whole statement out and the rows are inserted one by one, so each violation is recorded against its line.
   */
  private flushBatch(): void {
    const rows = this.pending;
    if (rows === 0) return;
    this.pending = 0;
    const width = this.keys.length;
    if (rows === this.batchRows && rows > 1) {
      // OR ABORT overrides the table's own ON CONFLICT clauses, so a violation backs the whole statement out (FAIL
      // would keep the rows before it, which the retry below would then insert twice); the retry, row by row, applies
      // the table's clauses as a one-row insert does.
      this.batchStatement ??= this.db.prepare(
        `INSERT OR ABORT INTO main.${quoteIdent(this.table)} (${this.sqlNames.join(', ')}) VALUES ${new Array<string>(rows).fill(`(${new Array<string>(width).fill('?').join(', ')})`).join(', ')}`,
      );
      try {
        this.batchStatement.run(this.batch);
        this.inserted += rows;
        return;
      } catch (error) {
        if (!isConstraintError(error)) throw error;
      }
    }
    for (let r = 0; r < rows; r++) {
      this.run(this.full, this.batch.slice(r * width, (r + 1) * width), this.batchLines[r] as number);
    }
  }

  private statementFor(used: readonly number[], shape: string): Statement {
    let statement = this.statements.get(shape);
    if (statement === undefined) {
      const names = used.map((i) => this.sqlNames[i] as string);
      const placeholders = used.map((i) => (shape.includes(`t${i},`) ? 'CAST(? AS TEXT)' : '?'));
      const sql =
        used.length === 0
          ? `INSERT INTO main.${quoteIdent(this.table)} DEFAULT VALUES`
          : `INSERT INTO main.${quoteIdent(this.table)} (${names.join(', ')}) VALUES (${placeholders.join(', ')})`;
      statement = this.db.prepare(sql);
      this.statements.set(shape, statement);
    }
    return statement;
  }

  private run(statement: Statement, params: unknown[], line: number): void {
    try {
      statement.run(params);
      this.inserted++;
    } catch (error) {
      if (isConstraintError(error)) {
        this.rejected.push({ table: this.table, line, reason: `${error.message} (${error.code})` });
        return;
      }
      throw error;
    }
  }

  private checkUnknownKeys(row: Readonly<Record<string, unknown>>, line: number): void {
    const known = new Set(this.keys);
    for (const key of Object.keys(row)) {
      if (!known.has(key) && !this.generated.has(key)) {
        throw new ArchiveValueError(
          `${line > 0 ? `line ${line}: ` : ''}the row has a column "${key}" that table "${this.table}" does not have`,
          {
            file: this.file,
            table: this.table,
          },
        );
      }
    }
  }

  private valueError(error: unknown, key: string, line: number): Error {
    if (error instanceof HydrationError) {
      return new ArchiveValueError(`${line > 0 ? `line ${line}: ` : ''}column "${key}": ${error.message}`, {
        file: this.file,
        table: this.table,
      });
    }
    return error as Error;
  }
}

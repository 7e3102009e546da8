/**
 * fast-check arbitraries for property tests: random database schemas (1-5 tables with odd names, random declared
 * types, STRICT, WITHOUT ROWID with composite keys, INTEGER PRIMARY KEY aliases, indexes) and random values of every
 * SQLite storage class, and a builder that writes such a database to a file.
 */
import fc from 'fast-check';
import Database from 'better-sqlite3';

/** TEXT given as raw bytes (possibly not valid in the database encoding), inserted with `CAST(? AS TEXT)`. */
export class RawText {
  constructor(readonly bytes: Buffer) {}
}

/** A value to insert: every SQLite storage class, plus TEXT as raw bytes. */
export type GenValue = null | bigint | number | string | Buffer | RawText;

/** A generated column. */
export interface ColumnSpec {
  readonly name: string;
  /** Declared type; '' for none. */
  readonly type: string;
}

/** A generated index. */
export interface IndexSpec {
  readonly name: string;
  readonly columns: readonly { readonly column: number; readonly collate: string; readonly desc: boolean }[];
  readonly unique: boolean;
  readonly partial: boolean;
}

/** A generated table with its rows. */
export interface TableSpec {
  readonly name: string;
  readonly columns: readonly ColumnSpec[];
  readonly strict: boolean;
  readonly withoutRowid: boolean;
  /** Column indexes of the PRIMARY KEY (empty: none). One INTEGER column alone makes a rowid alias. */
  readonly pk: readonly number[];
  readonly indexes: readonly IndexSpec[];
  readonly rows: readonly (readonly GenValue[])[];
  /** Explicit rowids for the rows (rowid tables without an alias), so gaps and negative rowids occur. */
  readonly rowids: readonly bigint[] | undefined;
}

/** File settings of a generated database. */
export interface PragmaSpec {
  readonly pageSize: number;
  readonly autoVacuum: 0 | 1 | 2;
  readonly wal: boolean;
  readonly userVersion: number;
  readonly applicationId: number;
}

/**
 * An index, view or trigger created later than its table: right after table number `after` (and its rows) is
 * created, so that sqlite_schema interleaves tables and objects in an order that is neither by name nor by kind.
 */
export interface LateObjectSpec {
  readonly kind: 'index' | 'view' | 'trigger';
  readonly name: string;
  /** The table it is on (an index into `tables`). */
  readonly table: number;
  /** Created after this table (>= `table`). */
  readonly after: number;
}

/** A generated database. */
export interface DatabaseSpec {
  readonly encoding: 'UTF-8' | 'UTF-16le' | 'UTF-16be';
  readonly pragmas: PragmaSpec;
  readonly tables: readonly TableSpec[];
  /** Created in this order among the tables; absent: none. */
  readonly lateObjects?: readonly LateObjectSpec[];
}

/** Random file settings: page size, auto-vacuum, WAL, signed user_version and application_id. */
export const pragmaSpec: fc.Arbitrary<PragmaSpec> = fc.record({
  pageSize: fc.constantFrom(512, 1024, 4096, 8192),
  autoVacuum: fc.constantFrom(0 as const, 1 as const, 2 as const),
  wal: fc.boolean(),
  userVersion: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  applicationId: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
});

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Pieces names are made of: spaces, quotes, brackets, backticks, dots, slashes, unicode, keywords, JS traps. */
const NAME_PARTS = [
  'a',
  'b',
  'Id',
  'x y',
  ' ',
  '"',
  "'",
  '`',
  '[',
  ']',
  '.',
  '/',
  '\\',
  '$',
  '-',
  ';',
  'é',
  'e\u0301',
  '名',
  '🎉',
  'ß',
  'select',
  'order',
  'group',
  '__proto__',
  'constructor',
  '$blob',
  '$int',
  'rowid',
  'oid',
  '_rowid_',
] as const;

/** A random identifier (never starting with the reserved `sqlite_`). */
export const identifier: fc.Arbitrary<string> = fc
  .array(fc.constantFrom(...NAME_PARTS), { minLength: 1, maxLength: 3 })
  .map((parts) => parts.join(''))
  .filter((n) => !n.toLowerCase().startsWith('sqlite_'));

/** SQLite compares identifiers case-insensitively (ASCII); lower-casing all of it is stricter, which is fine. */
const foldName = (n: string): string => n.toLowerCase();

const PLAIN_TYPES = [
  '',
  'INTEGER',
  'INT',
  'REAL',
  'TEXT',
  'BLOB',
  'NUMERIC',
  'VARCHAR(10)',
  'FLOAT',
  'DOUBLE PRECISION',
  'BOOLEAN',
  'DATETIME',
  'DECIMAL(10,5)',
] as const;
const STRICT_TYPES = ['INT', 'INTEGER', 'REAL', 'TEXT', 'BLOB', 'ANY'] as const;

/** A 64-bit integer anywhere in the range, with the boundaries and small values likely. */
export const int64: fc.Arbitrary<bigint> = fc.oneof(
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
  fc.bigInt({ min: -20n, max: 20n }),
  fc.constantFrom(INT64_MIN, INT64_MAX, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 0n),
);

/** A double: any finite value, -0, ±Infinity, subnormals, integral values (no NaN: SQLite stores NaN as NULL). */
export const real: fc.Arbitrary<number> = fc.oneof(
  fc.double({ noNaN: true }),
  fc.constantFrom(
    -0,
    0,
    Infinity,
    -Infinity,
    5e-324,
    -5e-324,
    2.225073858507201e-308,
    1,
    -1,
    2 ** 53,
    1e20,
    0.1,
  ),
  fc.integer({ min: -1000, max: 1000 }),
);

/** A JS string: any code points (NUL, astral, combining marks), unicode-heavy, or short to make keys collide. */
export const text: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.constantFrom(
    '',
    '\u0000',
    'a\u0000b',
    'e\u0301',
    '\u00e9',
    '🎉',
    '1',
    '1.0',
    '{"$blob":"AA=="}',
    'null',
    'A',
    'a',
  ),
);

/** TEXT bytes that are (often) not valid UTF-8. */
export const rawText: fc.Arbitrary<RawText> = fc
  .oneof(
    fc.uint8Array({ minLength: 1, maxLength: 8 }),
    fc.constantFrom(
      Uint8Array.from([0x61, 0xff, 0x62]),
      Uint8Array.from([0xc0, 0xaf]),
      Uint8Array.from([0xed, 0xa0, 0x80]),
    ),
  )
  .map((b) => new RawText(Buffer.from(b)));

/** A BLOB, empty ones and base64/JSON look-alikes included. */
export const blob: fc.Arbitrary<Buffer> = fc
  .oneof(
    fc.uint8Array({ maxLength: 16 }),
    fc.constantFrom(new Uint8Array(0), Buffer.from('aGVsbG8='), Buffer.from('{"$int":"1"}')),
  )
  .map((b) => Buffer.from(b));

/** A value of any storage class. */
export const anyValue: fc.Arbitrary<GenValue> = fc.oneof(
  { arbitrary: fc.constant(null), weight: 1 },
  { arbitrary: int64, weight: 3 },
  { arbitrary: real, weight: 3 },
  { arbitrary: text, weight: 3 },
  { arbitrary: rawText, weight: 1 },
  { arbitrary: blob, weight: 2 },
);

/** A value for a STRICT column of `type` (or NULL). */
function strictValue(type: string): fc.Arbitrary<GenValue> {
  const byType: Record<string, fc.Arbitrary<GenValue>> = {
    INT: int64,
    INTEGER: int64,
    REAL: fc.oneof(real, int64),
    TEXT: fc.oneof(text, rawText),
    BLOB: blob,
    ANY: anyValue,
  };
  return fc.oneof(
    { arbitrary: fc.constant(null), weight: 1 },
    { arbitrary: byType[type] ?? anyValue, weight: 6 },
  );
}

interface Shape {
  readonly name: string;
  readonly columns: readonly ColumnSpec[];
  readonly strict: boolean;
  readonly withoutRowid: boolean;
  readonly pk: readonly number[];
}

/** A table shape: name, 1-6 columns with unique names and random types, STRICT / WITHOUT ROWID, primary key. */
function tableShape(name: string): fc.Arbitrary<Shape> {
  return fc
    .record({
      names: fc.uniqueArray(identifier, { minLength: 1, maxLength: 6, selector: foldName }),
      strict: fc.boolean(),
      withoutRowid: fc.boolean(),
      pkKind: fc.constantFrom('none', 'alias', 'composite'),
      types: fc.array(fc.nat(100), { minLength: 6, maxLength: 6 }),
      pkPick: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
    })
    .map(({ names, strict, withoutRowid, pkKind, types, pkPick }) => {
      const pool: readonly string[] = strict ? STRICT_TYPES : PLAIN_TYPES;
      const columns = names.map((n, i) => ({ name: n, type: pool[(types[i] ?? 0) % pool.length] ?? '' }));
      let pk: number[] = [];
      if (withoutRowid || pkKind === 'composite') {
        pk = columns.flatMap((_, i) => (pkPick[i] === true ? [i] : []));
        if (pk.length === 0) pk = [0];
      } else if (pkKind === 'alias') {
        pk = [0];
        columns[0] = { name: columns[0]?.name ?? 'id', type: 'INTEGER' };
      }
      return { name, columns, strict, withoutRowid, pk };
    });
}

function indexSpecs(shape: Shape, tableNumber: number): fc.Arbitrary<IndexSpec[]> {
  const n = shape.columns.length;
  const indexColumn = fc.record({
    column: fc.nat(n - 1),
    collate: fc.constantFrom('', 'NOCASE', 'RTRIM', 'BINARY'),
    desc: fc.boolean(),
  });
  return fc
    .array(
      fc.record({
        name: identifier,
        columns: fc.uniqueArray(indexColumn, {
          minLength: 1,
          maxLength: Math.min(3, n),
          selector: (c) => c.column,
        }),
        unique: fc.boolean(),
        partial: fc.boolean(),
      }),
      { maxLength: 2 },
    )
    .map((list) => list.map((ix, i) => ({ ...ix, name: `ix${tableNumber}.${i} ${ix.name}` })));
}

function tableSpec(name: string, tableNumber: number, maxRows: number): fc.Arbitrary<TableSpec> {
  return tableShape(name).chain((shape) => {
    const value = (c: ColumnSpec): fc.Arbitrary<GenValue> => (shape.strict ? strictValue(c.type) : anyValue);
    const row = fc.tuple(...shape.columns.map(value));
    const aliased =
      !shape.withoutRowid && shape.pk.length === 1 && shape.columns[shape.pk[0] ?? 0]?.type === 'INTEGER';
    return fc
      .record({
        indexes: indexSpecs(shape, tableNumber),
        rows: fc.array(row, { maxLength: maxRows }),
        rowids: fc.uniqueArray(fc.oneof(int64, fc.bigInt({ min: 1n, max: 100n })), {
          minLength: maxRows,
          maxLength: maxRows,
        }),
        explicitRowids: fc.boolean(),
      })
      .map(({ indexes, rows, rowids, explicitRowids }) => ({
        ...shape,
        indexes,
        rows,
        rowids: !shape.withoutRowid && !aliased && explicitRowids ? rowids : undefined,
      }));
  });
}

/** Options of {@link databaseSpec}. */
export interface DatabaseSpecOptions {
  readonly maxTables?: number;
  readonly maxRows?: number;
  /** Also generate UTF-16 databases. Default true. */
  readonly utf16?: boolean;
}

/** A random database: 1-5 tables (unique names), 0-`maxRows` rows each, and its text encoding. */
export function databaseSpec(options: DatabaseSpecOptions = {}): fc.Arbitrary<DatabaseSpec> {
  const maxRows = options.maxRows ?? 20;
  const encodings =
    options.utf16 === false ? (['UTF-8'] as const) : (['UTF-8', 'UTF-8', 'UTF-16le', 'UTF-16be'] as const);
  return fc
    .record({
      encoding: fc.constantFrom(...encodings),
      pragmas: pragmaSpec,
      names: fc.uniqueArray(identifier, {
        minLength: 1,
        maxLength: options.maxTables ?? 5,
        selector: foldName,
      }),
    })
    .chain(({ encoding, pragmas, names }) =>
      fc
        .tuple(...names.map((n, i) => tableSpec(n, i, maxRows)), lateObjectSpecs(names.length))
        .map((parts) => ({
          encoding,
          pragmas,
          tables: parts.slice(0, -1) as TableSpec[],
          lateObjects: parts[parts.length - 1] as LateObjectSpec[],
        })),
    );
}

/** 0-4 indexes, views and triggers, each on a random table and created after a random later one. */
function lateObjectSpecs(tables: number): fc.Arbitrary<LateObjectSpec[]> {
  return fc
    .array(
      fc.record({
        kind: fc.constantFrom('index', 'view', 'trigger'),
        name: identifier,
        table: fc.nat(tables - 1),
        later: fc.nat(tables - 1),
      }),
      { maxLength: 4 },
    )
    .map((list) =>
      list.map(({ kind, name, table, later }, i) => ({
        kind,
        // Unique by construction, and never a table's or another index's name (those have no such prefix).
        name: `late${i} ${name}`,
        table,
        after: table + (later % (tables - table)),
      })),
    );
}

/** Quotes an identifier. */
export const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/** The CREATE TABLE statement of a table spec. */
export function createTableSql(t: TableSpec): string {
  const aliased = !t.withoutRowid && t.pk.length === 1 && t.columns[t.pk[0] ?? 0]?.type === 'INTEGER';
  const cols = t.columns.map((c, i) => {
    const type = c.type === '' ? '' : ` ${c.type}`;
    return `${quote(c.name)}${type}${aliased && i === t.pk[0] ? ' PRIMARY KEY' : ''}`;
  });
  if (!aliased && t.pk.length > 0)
    cols.push(`PRIMARY KEY (${t.pk.map((i) => quote(t.columns[i]?.name ?? '')).join(', ')})`);
  const options = [t.strict ? 'STRICT' : '', t.withoutRowid ? 'WITHOUT ROWID' : ''].filter((o) => o !== '');
  return `CREATE TABLE ${quote(t.name)} (${cols.join(', ')})${options.length > 0 ? ` ${options.join(', ')}` : ''}`;
}

/** The CREATE statement of a late object on table `t`. */
export function createLateObjectSql(t: TableSpec, o: LateObjectSpec): string {
  switch (o.kind) {
    case 'index':
      return `CREATE INDEX ${quote(o.name)} ON ${quote(t.name)} (${quote(t.columns[0]?.name ?? '')})`;
    case 'view':
      return `CREATE VIEW ${quote(o.name)} AS SELECT * FROM ${quote(t.name)}`;
    case 'trigger':
      return `CREATE TRIGGER ${quote(o.name)} AFTER INSERT ON ${quote(t.name)} BEGIN SELECT 1; END`;
  }
}

function createIndexSql(t: TableSpec, ix: IndexSpec): string {
  const cols = ix.columns.map(
    (c) =>
      `${quote(t.columns[c.column]?.name ?? '')}${c.collate === '' ? '' : ` COLLATE ${c.collate}`}${c.desc ? ' DESC' : ''}`,
  );
  const first = quote(t.columns[ix.columns[0]?.column ?? 0]?.name ?? '');
  return `CREATE ${ix.unique ? 'UNIQUE ' : ''}INDEX ${quote(ix.name)} ON ${quote(t.name)} (${cols.join(', ')})${ix.partial ? ` WHERE ${first} IS NOT NULL` : ''}`;
}

/**
 * Writes a database file from a spec. Rows that break a constraint (duplicate key, NULL key, STRICT type, UNIQUE
 * index) are skipped: what lands in the file is by construction a valid database. Returns the rows inserted.
 */
export function buildDatabase(path: string, spec: DatabaseSpec): number {
  const db = new Database(path);
  let inserted = 0;
  try {
    db.defaultSafeIntegers(true);
    db.pragma(`encoding = '${spec.encoding}'`);
    db.pragma(`page_size = ${spec.pragmas.pageSize}`);
    db.pragma(`auto_vacuum = ${spec.pragmas.autoVacuum}`);
    db.pragma(`user_version = ${spec.pragmas.userVersion}`);
    db.pragma(`application_id = ${spec.pragmas.applicationId}`);
    if (spec.pragmas.wal) db.pragma('journal_mode = WAL');
    db.exec('BEGIN');
    for (const [number, t] of spec.tables.entries()) {
      db.exec(createTableSql(t));
      for (const ix of t.indexes) db.exec(createIndexSql(t, ix));
      const names = [...(t.rowids === undefined ? [] : ['_rowid_']), ...t.columns.map((c) => quote(c.name))];
      // A column may be named _rowid_: then pick another rowid name.
      const taken = new Set(t.columns.map((c) => c.name.toLowerCase()));
      const rowidName = ['_rowid_', 'rowid', 'oid'].find((n) => !taken.has(n));
      if (t.rowids !== undefined && rowidName === undefined) names.shift();
      else if (t.rowids !== undefined) names[0] = rowidName ?? '_rowid_';
      const withRowid = names.length > t.columns.length;
      for (const [r, row] of t.rows.entries()) {
        const values = [...(withRowid ? [t.rowids?.[r] ?? BigInt(r + 1)] : []), ...row];
        const placeholders = values.map((v) => (v instanceof RawText ? 'CAST(? AS TEXT)' : '?'));
        const sql = `INSERT INTO ${quote(t.name)} (${names.join(', ')}) VALUES (${placeholders.join(', ')})`;
        try {
          db.prepare(sql).run(...values.map((v) => (v instanceof RawText ? v.bytes : v)));
          inserted++;
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          if (
            typeof code !== 'string' ||
            (!code.startsWith('SQLITE_CONSTRAINT') && code !== 'SQLITE_MISMATCH')
          )
            throw error;
        }
      }
      for (const o of spec.lateObjects ?? []) {
        const on = spec.tables[o.table];
        if (o.after === number && on !== undefined) db.exec(createLateObjectSql(on, o));
      }
    }
    db.exec('COMMIT');
  } finally {
    db.close();
  }
  return inserted;
}

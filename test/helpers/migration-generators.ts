/**
 * Random migration sequences for the property tests: each op becomes one migration file, compiled against a model of
 * the schema so every sequence is valid (columns added with a default, renamed, indexed, moved to a side table and
 * dropped, a table rebuilt by the twelve-step procedure, rows inserted, updated and deleted with their children).
 */
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { int64, real, text } from './generators.js';

/** A value written as an SQL literal (a constant, as ALTER TABLE ADD COLUMN's DEFAULT needs). */
export type Literal =
  | { readonly kind: 'int'; readonly v: bigint }
  | { readonly kind: 'real'; readonly v: number }
  | { readonly kind: 'text'; readonly v: string }
  | { readonly kind: 'blob'; readonly v: Buffer }
  | { readonly kind: 'null' };

export const literal: fc.Arbitrary<Literal> = fc.oneof(
  fc.constant({ kind: 'null' as const }),
  int64.filter((v) => v > -(2n ** 63n)).map((v) => ({ kind: 'int' as const, v })),
  real.map((v) => ({ kind: 'real' as const, v })),
  text.filter((s) => !s.includes('\u0000') && !/\p{Cs}/u.test(s)).map((v) => ({ kind: 'text' as const, v })),
  fc.uint8Array({ maxLength: 8 }).map((b) => ({ kind: 'blob' as const, v: Buffer.from(b) })),
);

export function sqlLiteral(l: Literal): string {
  switch (l.kind) {
    case 'null':
      return 'NULL';
    case 'int':
      return l.v.toString();
    case 'real':
      return Number.isFinite(l.v)
        ? Object.is(l.v, -0)
          ? '-0.0'
          : `${String(l.v)}${Number.isInteger(l.v) && !String(l.v).includes('e') ? '.0' : ''}`
        : l.v > 0
          ? '9e999'
          : '-9e999';
    case 'text':
      return `'${l.v.replaceAll("'", "''")}'`;
    case 'blob':
      return `X'${l.v.toString('hex')}'`;
  }
}

/** One schema or data change; `pick` chooses a column of the model. */
export type Op =
  | { readonly kind: 'addColumn'; readonly type: string; readonly def: Literal }
  | { readonly kind: 'rename'; readonly pick: number }
  | { readonly kind: 'index'; readonly pick: number }
  | { readonly kind: 'insert'; readonly values: readonly Literal[] }
  | { readonly kind: 'update'; readonly pick: number; readonly value: Literal; readonly mod: number }
  | { readonly kind: 'delete'; readonly mod: number }
  | { readonly kind: 'rebuild'; readonly pick: number; readonly type: string }
  | { readonly kind: 'split'; readonly pick: number };

const TYPES = ['', 'TEXT', 'INTEGER', 'REAL', 'BLOB', 'NUMERIC'];
const pick = fc.nat({ max: 20 });
export const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('addColumn' as const), type: fc.constantFrom(...TYPES), def: literal }),
  fc.record({ kind: fc.constant('rename' as const), pick }),
  fc.record({ kind: fc.constant('index' as const), pick }),
  fc.record({
    kind: fc.constant('insert' as const),
    values: fc.array(literal, { minLength: 1, maxLength: 4 }),
  }),
  fc.record({
    kind: fc.constant('update' as const),
    pick,
    value: literal,
    mod: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), mod: fc.integer({ min: 2, max: 5 }) }),
  fc.record({ kind: fc.constant('rebuild' as const), pick, type: fc.constantFrom(...TYPES) }),
  fc.record({ kind: fc.constant('split' as const), pick }),
);

/** The base database: t (AUTOINCREMENT) with rows, its ON DELETE CASCADE child c, an index, a trigger and a view. */
export function makeBase(path: string, rows: readonly Literal[]): void {
  const db = new Database(path);
  try {
    db.exec(`
      CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, a TEXT, b INTEGER);
      CREATE TABLE c (id INTEGER PRIMARY KEY, t_id INTEGER NOT NULL REFERENCES t(id) ON DELETE CASCADE, note TEXT);
      CREATE INDEX t_a ON t(a);
      CREATE TRIGGER t_child AFTER INSERT ON t BEGIN INSERT INTO c (t_id, note) VALUES (new.id, 'auto'); END;
      CREATE VIEW t_ids AS SELECT id FROM t;
    `);
    rows.forEach((r, i) => db.exec(`INSERT INTO t (a, b) VALUES (${sqlLiteral(r)}, ${String(i)})`));
    if (rows.length > 1)
      db.exec(
        'DELETE FROM c WHERE t_id = (SELECT max(id) FROM t); DELETE FROM t WHERE id = (SELECT max(id) FROM t)',
      );
  } finally {
    db.close();
  }
}

interface Model {
  columns: { name: string; type: string }[];
  indexes: { name: string; column: string }[];
  sides: string[];
  n: number;
}

/** The migration files of an op sequence, named 0001_..., 0002_... */
export function compile(ops: readonly Op[]): [string, string][] {
  const m: Model = {
    columns: [
      { name: 'a', type: 'TEXT' },
      { name: 'b', type: 'INTEGER' },
    ],
    indexes: [{ name: 't_a', column: 'a' }],
    sides: [],
    n: 0,
  };
  return ops.map((o, i) => [`${String(i + 1).padStart(4, '0')}_${o.kind}.sql`, compileOp(m, o)]);
}

function compileOp(m: Model, o: Op): string {
  m.n++;
  const col = (p: number) => m.columns[p % m.columns.length];
  switch (o.kind) {
    case 'addColumn': {
      const name = `col_${String(m.n)}`;
      m.columns.push({ name, type: o.type });
      return `ALTER TABLE t ADD COLUMN ${name} ${o.type} DEFAULT ${sqlLiteral(o.def)};\n`;
    }
    case 'rename': {
      const c = col(o.pick);
      if (c === undefined) return 'SELECT 1;\n';
      const from = c.name;
      c.name = `r_${String(m.n)}`;
      for (const ix of m.indexes) if (ix.column === from) ix.column = c.name;
      return `ALTER TABLE t RENAME COLUMN ${from} TO ${c.name};\n`;
    }
    case 'index': {
      const c = col(o.pick);
      if (c === undefined) return 'SELECT 1;\n';
      const name = `ix_${String(m.n)}`;
      m.indexes.push({ name, column: c.name });
      return `CREATE INDEX ${name} ON t(${c.name});\n`;
    }
    case 'insert': {
      const c = col(0);
      return o.values
        .map((v) =>
          c === undefined
            ? 'INSERT INTO t DEFAULT VALUES;\n'
            : `INSERT INTO t (${c.name}) VALUES (${sqlLiteral(v)});\n`,
        )
        .join('');
    }
    case 'update': {
      const c = col(o.pick);
      if (c === undefined) return 'SELECT 1;\n';
      return `UPDATE t SET ${c.name} = ${sqlLiteral(o.value)} WHERE id % ${String(o.mod)} = 0;\n`;
    }
    case 'delete': {
      const which = `(SELECT id FROM t WHERE id % ${String(o.mod)} = 0)`;
      const children = ['c', ...m.sides].map(
        (s) => `DELETE FROM ${s} WHERE ${s === 'c' ? 't_id' : 't_id'} IN ${which};\n`,
      );
      return `${children.join('')}DELETE FROM t WHERE id % ${String(o.mod)} = 0;\n`;
    }
    case 'rebuild': {
      const c = col(o.pick);
      if (c !== undefined) c.type = o.type;
      const defs = m.columns.map((x) => `${x.name} ${x.type}`.trimEnd());
      const names = ['id', ...m.columns.map((x) => x.name)].join(', ');
      return [
        '-- db-hydration: legacy_alter_table=on',
        `CREATE TABLE t_new (${['id INTEGER PRIMARY KEY AUTOINCREMENT', ...defs].join(', ')});`,
        `INSERT INTO t_new (${names}) SELECT ${names} FROM t;`,
        'DROP TABLE t;',
        'ALTER TABLE t_new RENAME TO t;',
        ...m.indexes.map((ix) => `CREATE INDEX ${ix.name} ON t(${ix.column});`),
        "CREATE TRIGGER t_child AFTER INSERT ON t BEGIN INSERT INTO c (t_id, note) VALUES (new.id, 'auto'); END;",
        '',
      ].join('\n');
    }
    case 'split': {
      const c = col(o.pick);
      if (c === undefined || m.columns.length < 2) return 'SELECT 1;\n';
      const side = `side_${String(m.n)}`;
      const dropped = m.indexes.filter((ix) => ix.column === c.name);
      m.indexes = m.indexes.filter((ix) => ix.column !== c.name);
      m.columns = m.columns.filter((x) => x !== c);
      m.sides.push(side);
      return [
        `CREATE TABLE ${side} (t_id INTEGER PRIMARY KEY REFERENCES t(id) ON DELETE CASCADE, ${c.name} ${c.type});`,
        `INSERT INTO ${side} (t_id, ${c.name}) SELECT id, ${c.name} FROM t;`,
        ...dropped.map((ix) => `DROP INDEX ${ix.name};`),
        `ALTER TABLE t DROP COLUMN ${c.name};`,
        '',
      ].join('\n');
    }
  }
}

/**
 * Property tests of the three-way merge: random databases (random schemas, odd names, mixed storage types, NULLs,
 * BLOBs, 64-bit integers, composite and WITHOUT ROWID keys, UTF-16) and two random edit sets applied to copies of it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { mergeArchives } from '../src/merge/merge-archives.js';
import { tempDir } from './helpers/fixtures.js';
import {
  anyValue,
  buildDatabase,
  databaseSpec,
  quote,
  RawText,
  type GenValue,
} from './helpers/generators.js';
import { content, dehydrate, rehydrate } from './helpers/merge.js';

/** One random edit: on table `table` (mod the table count), row `row` (mod its rows) of the base. */
interface Edit {
  readonly kind: 'update' | 'delete' | 'insert';
  readonly table: number;
  readonly row: number;
  readonly column: number;
  readonly value: GenValue;
  readonly values: readonly GenValue[];
}

const edit: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constantFrom('update', 'update', 'delete', 'insert'),
  table: fc.nat(10),
  row: fc.nat(50),
  column: fc.nat(10),
  value: anyValue,
  values: fc.array(anyValue, { minLength: 6, maxLength: 6 }),
});

interface TableInfo {
  readonly name: string;
  readonly columns: readonly string[];
  /** SQL naming each row's key: the rowid name, or the PRIMARY KEY columns of a WITHOUT ROWID table. */
  readonly key: readonly string[];
  readonly rowid: boolean;
  /** The INTEGER PRIMARY KEY column (the rowid under another name), if any. */
  readonly alias?: string | undefined;
  /** The declared PRIMARY KEY columns of a rowid table without an alias: changing one makes it another row. */
  readonly declared?: readonly string[];
}

function tablesOf(db: Database.Database): TableInfo[] {
  const list = db
    .prepare(
      "SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .all() as { name: string; wr: bigint }[];
  return list.flatMap(({ name, wr }): TableInfo[] => {
    const cols = db.prepare('SELECT name, pk, type FROM pragma_table_info(?)').all(name) as {
      name: string;
      pk: bigint;
      type: string;
    }[];
    const names = cols.map((c) => c.name);
    if (Number(wr) === 1) {
      const pk = cols
        .filter((c) => c.pk > 0)
        .sort((a, b) => Number(a.pk) - Number(b.pk))
        .map((c) => c.name);
      return [{ name, columns: names, key: pk, rowid: false }];
    }
    const taken = new Set(names.map((n) => n.toLowerCase()));
    const rowidName = ['rowid', '_rowid_', 'oid'].find((n) => !taken.has(n));
    // A table whose rowids cannot be named is merged whole: the edits leave it alone.
    const pk = cols.filter((c) => Number(c.pk) > 0);
    const alias = pk.length === 1 && pk[0]?.type.toUpperCase() === 'INTEGER' ? pk[0].name : undefined;
    const declared = alias === undefined ? pk.map((c) => c.name) : [];
    return rowidName === undefined
      ? []
      : [{ name, columns: names, key: [rowidName], rowid: true, alias, declared }];
  });
}

const bind = (v: unknown): unknown => (v instanceof RawText ? v.bytes : v);
const keyString = (values: readonly unknown[]): string =>
  JSON.stringify(values, (_k, v: unknown) =>
    typeof v === 'bigint' ? `${v}n` : Buffer.isBuffer(v) ? v.toString('hex') : v,
  );

/** Applies edits to the database at `path`; returns the statements that changed something and the cells touched. */
/** A cell an edit touched: `column` `*` for a whole row (insert, delete). */
interface Cell {
  readonly table: TableInfo;
  readonly key: readonly unknown[];
  readonly column: string;
}

function applyEdits(
  path: string,
  edits: readonly Edit[],
): { statements: [string, unknown[]][]; touched: Set<string>; cells: Map<string, Cell> } {
  const cellsTouched = new Map<string, Cell>();
  const db = new Database(path);
  db.defaultSafeIntegers(true);
  const statements: [string, unknown[]][] = [];
  const touched = new Set<string>();
  try {
    const tables = tablesOf(db);
    // New rowids continue from the base's largest, so an insert never reuses the rowid of a row this side deleted
    // (that would be another row at the same rowid, which the merge rightly treats as such).
    const next = new Map<string, bigint | null>(
      tables.map((t) => [
        t.name,
        db
          .prepare(`SELECT max(${quote(t.key[0] ?? '')}) FROM ${quote(t.name)}`)
          .pluck()
          .get() as bigint | null,
      ]),
    );
    for (const e of edits) {
      const t = tables[e.table % Math.max(1, tables.length)];
      if (t === undefined) continue;
      const keyList = t.key.map(quote).join(', ');
      const rows = db
        .prepare(`SELECT ${keyList} FROM ${quote(t.name)} ORDER BY ${keyList}`)
        .raw()
        .all() as unknown[][];
      const where = t.key.map((k) => `${quote(k)} IS ?`).join(' AND ');
      let sql: string;
      let params: unknown[];
      let cells: string[];
      let cellList: Cell[];
      if (e.kind === 'insert') {
        const values = t.columns.map((_, i) => e.values[i % e.values.length] ?? null);
        const max = next.get(t.name) ?? null;
        if (typeof max === 'bigint' && max >= 2n ** 62n) continue;
        const rowid = typeof max === 'bigint' ? max + 1n : 1n;
        if (t.rowid) next.set(t.name, rowid);
        // An INTEGER PRIMARY KEY column is the rowid: it is given the new rowid, not set twice.
        const aliasAt = t.alias === undefined ? -1 : t.columns.indexOf(t.alias);
        if (aliasAt >= 0) values[aliasAt] = rowid;
        const names = t.rowid && aliasAt < 0 ? [t.key[0] ?? 'rowid', ...t.columns] : [...t.columns];
        const all = t.rowid && aliasAt < 0 ? [rowid, ...values] : values;
        sql = `INSERT INTO ${quote(t.name)} (${names.map(quote).join(', ')}) VALUES (${all.map((v) => (v instanceof RawText ? 'CAST(? AS TEXT)' : '?')).join(', ')})`;
        params = all.map(bind);
        const keyValues = t.rowid ? [rowid] : t.key.map((k) => values[t.columns.indexOf(k)]);
        cells = [`${t.name}\u0000${keyString(keyValues.map(bind))}\u0000*`];
        cellList = [{ table: t, key: keyValues.map(bind), column: '*' }];
      } else {
        const key = rows[e.row % Math.max(1, rows.length)];
        if (key === undefined) continue;
        if (e.kind === 'delete') {
          sql = `DELETE FROM ${quote(t.name)} WHERE ${where}`;
          params = key;
          cells = [`${t.name}\u0000${keyString(key)}\u0000*`];
          cellList = [{ table: t, key, column: '*' }];
        } else {
          const column = t.columns[e.column % t.columns.length] ?? '';
          if (t.key.includes(column) || column === t.alias) continue;
          sql = `UPDATE ${quote(t.name)} SET ${quote(column)} = ${e.value instanceof RawText ? 'CAST(? AS TEXT)' : '?'} WHERE ${where}`;
          params = [bind(e.value), ...key];
          // A declared PRIMARY KEY of a rowid table is the row's identity: changing it touches the whole row.
          const touched = t.declared?.includes(column) === true ? '*' : column;
          cells = [`${t.name}\u0000${keyString(key)}\u0000${touched}`];
          cellList = [{ table: t, key, column: touched }];
        }
      }
      try {
        if (db.prepare(sql).run(...params).changes === 0) continue;
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (typeof code === 'string' && (code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH'))
          continue;
        throw error;
      }
      statements.push([sql, params]);
      for (const c of cells) touched.add(c);
      cells.forEach((c, i) => {
        const cell = cellList[i];
        if (cell !== undefined) cellsTouched.set(c, cell);
      });
    }
  } finally {
    db.close();
  }
  return { statements, touched, cells: cellsTouched };
}

/** Whether two touched-cell sets overlap (a row-wide touch `*` overlaps every cell of its row). */
function overlaps(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  const rows = (s: ReadonlySet<string>): Set<string> =>
    new Set([...s].map((c) => c.slice(0, c.lastIndexOf('\u0000'))));
  const ra = rows(a);
  const rb = rows(b);
  for (const c of a) {
    const row = c.slice(0, c.lastIndexOf('\u0000'));
    if (b.has(c) || (c.endsWith('\u0000*') && rb.has(row)) || b.has(`${row}\u0000*`)) return true;
  }
  for (const c of b) {
    const row = c.slice(0, c.lastIndexOf('\u0000'));
    if (c.endsWith('\u0000*') && ra.has(row)) return true;
  }
  return false;
}

/** A cell's value in a database, exactly (storage class and bytes), or the whole row for `*`; `absent` if no row. */
function valueIn(path: string, cell: Cell): string {
  const db = new Database(path, { readonly: true });
  try {
    const t = cell.table;
    const where = t.key.map((k) => `${quote(k)} IS ?`).join(' AND ');
    const columns = cell.column === '*' ? t.columns : [cell.column];
    const list = columns.map((c) => `typeof(${quote(c)}) || ':' || hex(${quote(c)})`).join(" || ',' || ");
    const v = db
      .prepare(`SELECT ${list === '' ? "''" : list} FROM ${quote(t.name)} WHERE ${where}`)
      .pluck()
      .get(...cell.key) as string | undefined;
    return v ?? 'absent';
  } finally {
    db.close();
  }
}

/** Replays statements on a database; false when one of them no longer applies. */
function replay(path: string, statements: readonly [string, unknown[]][]): boolean {
  const db = new Database(path);
  try {
    for (const [sql, params] of statements) {
      try {
        if (db.prepare(sql).run(...params).changes === 0) return false;
      } catch {
        return false;
      }
    }
    return true;
  } finally {
    db.close();
  }
}

describe('three-way merge properties', () => {
  it('merge(O, A, O) = A, merge(O, A, A) = A, disjoint edits merge cleanly into both applied, overlaps are reported', async () => {
    // Feature: database-hydration, Property 12
    await fc.assert(
      fc.asyncProperty(
        databaseSpec({ maxTables: 3, maxRows: 8 }),
        fc.array(edit, { maxLength: 6 }),
        fc.array(edit, { maxLength: 6 }),
        async (spec, editsA, editsB) => {
          const { dir, cleanup } = tempDir('dh-merge-prop-');
          try {
            const o = join(dir, 'o.db');
            buildDatabase(o, spec);
            const [a, b, ab] = ['a.db', 'b.db', 'ab.db'].map((n) => join(dir, n)) as [string, string, string];
            copyFileSync(o, a);
            copyFileSync(o, b);
            const sideA = applyEdits(a, editsA);
            const sideB = applyEdits(b, editsB);
            const [oj, aj, bj, abj, out] = ['o', 'a', 'b', 'ab', 'out'].map((n) =>
              join(dir, `${n}.json`),
            ) as [string, string, string, string, string];
            dehydrate(o, oj);
            dehydrate(a, aj);
            dehydrate(b, bj);
            for (const theirs of [oj, aj]) {
              const r = mergeArchives({ base: oj, ours: aj, theirs, output: out });
              assert.deepEqual(r.conflicts, []);
              assert.equal(content(out), content(aj));
            }
            rmSync(out, { force: true });
            const r = mergeArchives({ base: oj, ours: aj, theirs: bj, output: out });
            if (!overlaps(sideA.touched, sideB.touched)) {
              copyFileSync(o, ab);
              const valid = replay(ab, [...sideA.statements, ...sideB.statements]);
              if (!valid) return;
              dehydrate(ab, abj);
              const constraint = r.conflicts.every((c) => c.kind === 'constraint');
              if (r.conflicts.length > 0 && constraint) return;
              assert.deepEqual(r.conflicts, [], 'disjoint edits merge cleanly');
              assert.equal(content(out), content(abj), 'the merge equals both edit sets applied to the base');
              const again = await rehydrate(dir, out);
              assert.equal(content(again.archive), content(out));
            } else {
              // Every cell both sides set, to different values, is reported (by cell, row or table).
              for (const [id, cell] of sideA.cells) {
                const other = sideB.cells.get(id);
                if (other === undefined) continue;
                const [va, vb, vo] = [a, b, o].map((p) => valueIn(p, cell));
                if (va === vb || va === vo || vb === vo) continue;
                assert.ok(
                  r.conflicts.some((c) => c.table === cell.table.name),
                  `cell ${id.replaceAll('\u0000', ' / ')} changed on both sides (${va} / ${vb}) is not reported`,
                );
              }
              for (const c of r.conflicts) {
                const touchedTables = new Set(
                  [...sideA.touched, ...sideB.touched].map((x) => x.split('\u0000')[0]),
                );
                assert.ok(
                  c.table === undefined || touchedTables.has(c.table) || c.kind === 'constraint',
                  `conflict in an untouched table: ${c.message}`,
                );
              }
            }
          } finally {
            cleanup();
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

/**
 * Archives arrive with `git pull`: hydration treats them as untrusted. Every bad archive is rejected with an error
 * naming the archive file and the reason; no database is written for it and an existing one stays byte for byte.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  DBHydrationManager,
  SYNC_STATE_DIR,
  compareArchives,
  getStatus,
  verifyArchives,
} from '../src/index.js';
import { buildDatabase } from '../src/hydrate/hydrate-database.js';
import { HydrationError } from '../src/errors.js';
import { makeDatabase, tempDir } from './helpers/fixtures.js';
import { makeShop } from './helpers/damage.js';
import { snapshot } from './helpers/snapshot.js';

/** A directory's entries without the sync state an accepted hydrate records (docs/sync.md). */
function withoutSyncState(names: string[]): string[] {
  return names.filter((n) => n !== SYNC_STATE_DIR);
}

/** A valid archive text of a small shop database (streaming layout). */
async function validArchive(dir: string): Promise<string> {
  const src = join(dir, 'src');
  mkdirSync(src);
  makeShop(join(src, 'shop.db'), 5);
  const r = await new DBHydrationManager({ dataDir: src }).dehydrateAll();
  assert.deepEqual(r.errors, []);
  return readFileSync(join(src, 'json_archives', 'shop.json'), 'utf8');
}

/** Replaces exactly one occurrence of `from`; fails the test when the base archive does not contain it. */
function edit(text: string, from: string | RegExp, to: string): string {
  const out = text.replace(from, to);
  assert.notEqual(out, text, `the base archive should contain ${String(from)}`);
  return out;
}

interface Case {
  readonly name: string;
  /** The bad archive: text (written as UTF-8) or raw bytes. */
  readonly make: (base: string) => string | Buffer;
  readonly reason: RegExp;
}

/** The 1-based line of `text` on which `needle` first occurs. */
function lineOf(text: string, needle: string): number {
  const at = text.indexOf(needle);
  assert.ok(at >= 0, `the base archive should contain ${needle}`);
  return text.slice(0, at).split('\n').length;
}

/** `text` as UTF-8 with the bytes `bad` in place of the first occurrence of `needle`. */
function withBytes(text: string, needle: string, bad: readonly number[]): Buffer {
  const at = text.indexOf(needle);
  assert.ok(at >= 0, `the base archive should contain ${needle}`);
  return Buffer.concat([
    Buffer.from(text.slice(0, at)),
    Buffer.from(bad),
    Buffer.from(text.slice(at + needle.length)),
  ]);
}

/** An archive whose bytes are not UTF-8 at `needle`, refused at the line it is on. */
function notUtf8(name: string, needle: string, bad: readonly number[]): Case {
  let line = 0;
  return {
    name,
    make: (b) => {
      line = lineOf(b, needle);
      return withBytes(b, needle, bad);
    },
    get reason() {
      return new RegExp(`line ${line}: the archive is not valid UTF-8`);
    },
  };
}

const cases: Case[] = [
  { name: 'empty file', make: () => '', reason: /empty|0 bytes/ },
  { name: 'malformed JSON', make: (b) => edit(b, /\n\{"id":3,/, '\n{"id":3,,'), reason: /not valid JSON/ },
  {
    name: 'truncated in the middle',
    make: (b) => b.slice(0, Math.floor(b.length / 2)),
    reason: /truncated|ends too early|not valid JSON/,
  },
  { name: 'truncated by one byte', make: (b) => b.slice(0, -2), reason: /closing|truncated|expected/ },
  // Each of these is not valid JSON, though every line on its own is: the streaming reader must see it.
  {
    name: 'a comma after the last row',
    make: (b) => edit(b, /("note":\{"\$blob":"BQA="\}\})\n\]\}/, '$1,\n]}'),
    reason: /a comma after its last row/,
  },
  {
    name: 'a comma after the last table',
    make: (b) => edit(b, /("tag":"new"\}\n\]\})\n\},/, '$1,\n},'),
    reason: /a comma after the last table/,
  },
  {
    name: 'a missing comma between two objects',
    make: (b) => edit(b, /("sql":"CREATE INDEX items_name ON items\(name\)"\}),\n/, '$1\n'),
    reason: /expected a comma at the end of the previous line/,
  },
  {
    name: 'a comma after the last object',
    make: (b) => edit(b, /(END"\})\n\],\n/, '$1,\n],\n'),
    reason: /a comma after the last item/,
  },
  {
    name: 'a comma after the last entry of schema_order',
    make: (b) => edit(b, /("name":"items_tag"\})\n\]\n\}/, '$1,\n]\n}'),
    reason: /a comma after the last item/,
  },
  {
    name: 'schema_order that is not an array',
    make: (b) => edit(b, /"schema_order": \[\n[^\]]*\]\n/, '"schema_order": {}\n'),
    reason: /"schema_order" must be an array/,
  },
  {
    name: 'schema_order with an entry of an unknown type',
    make: (b) => edit(b, /\{"type":"view","name":"cheap"\}/, '{"type":"module","name":"cheap"}'),
    reason: /schema_order\[\d+\] needs "type"/,
  },
  {
    name: 'schema_order listing an entry twice',
    make: (b) => edit(b, /\{"type":"view","name":"cheap"\}/, '{"type":"table","name":"items"}'),
    reason: /schema_order lists table "items" twice/,
  },
  {
    name: 'content after a blank line at the end',
    make: (b) => `${b}\n{"more": 1}\n`,
    reason: /unexpected content after the end/,
  },
  { name: 'plain JSON that is not an object', make: () => '[1, 2, 3]', reason: /not a JSON object/ },
  { name: 'missing "database"', make: () => '{"exported_at": "x", "tables": {}}', reason: /"database"/ },
  {
    name: 'wrongly typed row_count',
    make: (b) => edit(b, /"row_count": 5,/, '"row_count": "5",'),
    reason: /row_count/,
  },
  {
    name: 'missing schema',
    make: (b) => edit(b, /"schema": "CREATE TABLE kv[^"]*", /, ''),
    reason: /"schema"/,
  },
  {
    name: 'row_count disagreeing with the rows',
    make: (b) => edit(b, /"row_count": 5,/, '"row_count": 4,'),
    reason: /row_count says 4 but the archive holds 5/,
  },
  {
    name: 'a deeply nested value',
    make: (b) => edit(b, /"price":1.25/, `"price":${'['.repeat(200000)}${']'.repeat(200000)}`),
    reason: /column "price"/,
  },
  {
    name: 'a deeply nested value in a plain archive (where objects and arrays are kept as JSON text)',
    make: () =>
      `{"database": "shop", "exported_at": "", "tables": {"t": {"schema": "CREATE TABLE t (a)", "rows": [{"a": ${'['.repeat(200000)}${']'.repeat(200000)}}]}}}`,
    reason: /column "a": a value is nested too deeply/,
  },
  {
    name: 'a deeply nested tagged value',
    make: (b) => edit(b, /"price":1.25/, `"price":{"$blob":${'{"a":'.repeat(50000)}1${'}'.repeat(50000)}}`),
    reason: /column "price"/,
  },
  {
    name: 'an integer JSON cannot carry exactly',
    make: (b) => edit(b, /"price":1.25/, '"price":12345678901234567890'),
    reason: /column "price"/,
  },
  {
    name: 'a number out of range',
    make: (b) => edit(b, /"price":1.25/, '"price":1e400'),
    reason: /column "price"/,
  },
  {
    name: 'a second statement in a schema',
    make: (b) =>
      edit(
        b,
        /CREATE TABLE kv \(k TEXT PRIMARY KEY, v\) WITHOUT ROWID/,
        'CREATE TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID; DROP TABLE items',
      ),
    reason: /schema of table "kv" is rejected/,
  },
  {
    name: 'ATTACH in a schema',
    make: (b) =>
      edit(
        b,
        /CREATE TABLE kv \(k TEXT PRIMARY KEY, v\) WITHOUT ROWID/,
        "ATTACH DATABASE '/tmp/evil.db' AS evil",
      ),
    reason: /schema of table "kv" is rejected/,
  },
  {
    name: 'PRAGMA in a schema',
    make: (b) =>
      edit(b, /CREATE TABLE kv \(k TEXT PRIMARY KEY, v\) WITHOUT ROWID/, 'PRAGMA writable_schema = ON'),
    reason: /schema of table "kv" is rejected/,
  },
  {
    name: 'DROP in an index definition',
    make: (b) => edit(b, /"sql":"CREATE INDEX items_name ON items\(name\)"/, '"sql":"DROP TABLE items"'),
    reason: /schema of index "items_name" is rejected/,
  },
  {
    name: 'load_extension() in an index expression',
    make: (b) =>
      edit(
        b,
        /"sql":"CREATE INDEX items_name ON items\(name\)"/,
        `"sql":"CREATE INDEX items_name ON items(load_extension('/tmp/evil.so'))"`,
      ),
    reason: /schema of index "items_name" is rejected/,
  },
  {
    name: 'load_extension() in a generated column',
    make: (b) =>
      edit(
        b,
        /CREATE TABLE kv \(k TEXT PRIMARY KEY, v\) WITHOUT ROWID/,
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v, w AS (load_extension('/tmp/evil.so')) STORED) WITHOUT ROWID",
      ),
    reason: /load_extension|non-deterministic|not authorized/,
  },
  {
    name: 'a schema creating an object under another name',
    make: (b) =>
      edit(
        b,
        /CREATE TABLE kv \(k TEXT PRIMARY KEY, v\) WITHOUT ROWID/,
        'CREATE TABLE other (k TEXT PRIMARY KEY, v) WITHOUT ROWID',
      ),
    reason: /schema of table "kv" is rejected/,
  },
  {
    name: 'a TEMP table schema',
    make: (b) =>
      edit(
        b,
        /CREATE TABLE kv \(k TEXT PRIMARY KEY, v\) WITHOUT ROWID/,
        'CREATE TEMP TABLE kv (k TEXT PRIMARY KEY, v) WITHOUT ROWID',
      ),
    reason: /schema of table "kv" is rejected/,
  },
  {
    name: 'a trigger that is not a trigger',
    make: (b) =>
      edit(
        b,
        /"sql":"CREATE TRIGGER items_tag[^\n]*"\}/,
        '"sql":"CREATE TRIGGER items_tag AFTER INSERT ON items BEGIN SELECT 1; END; DELETE FROM items"}',
      ),
    reason: /schema of trigger "items_tag" is rejected/,
  },
  {
    name: '"database" with a path separator',
    make: (b) => edit(b, /"database": "shop"/, '"database": "../shop"'),
    reason: /"database" field/,
  },
  {
    name: '"database" as an absolute path',
    make: (b) => edit(b, /"database": "shop"/, '"database": "/etc/shop"'),
    reason: /"database" field/,
  },
  {
    name: '"file_name" climbing out',
    make: (b) => edit(b, /"file_name": "shop.db"/, '"file_name": "../../shop.db"'),
    reason: /file_name/,
  },
  {
    name: '"file_name" absolute',
    make: (b) => edit(b, /"file_name": "shop.db"/, '"file_name": "/tmp/shop.db"'),
    reason: /file_name/,
  },
  {
    name: '"file_name" of another database',
    make: (b) => edit(b, /"file_name": "shop.db"/, '"file_name": "users.db"'),
    reason: /does not belong/,
  },
  {
    name: '"file_name" that is not a database name',
    make: (b) => edit(b, /"file_name": "shop.db"/, '"file_name": "shop.sh"'),
    reason: /file_name/,
  },
  {
    name: 'a format version from the future',
    make: (b) => edit(b, /"format_version": 1/, '"format_version": 99'),
    reason: /upgrade/,
  },
  // JSON must be UTF-8 (RFC 8259): bytes that are not are refused, never decoded as U+FFFD and hydrated.
  notUtf8('a byte that is not UTF-8 in a row', 'item 3', [0x69, 0x74, 0xff, 0x6d]),
  notUtf8('a truncated multi-byte sequence in a row', 'item 2', [0x69, 0x74, 0xc3, 0x6d]),
  notUtf8('an overlong encoding of "/" in a row', 'item 4', [0xc0, 0xaf]),
  notUtf8('an encoded surrogate (CESU-8) in a row', 'item 5', [0xed, 0xa0, 0x80]),
  notUtf8(
    'a byte that is not UTF-8 in the header',
    '"database": "shop"',
    [
      0x22, 0x64, 0x61, 0x74, 0x61, 0x62, 0x61, 0x73, 0x65, 0x22, 0x3a, 0x20, 0x22, 0x73, 0x68, 0x6f, 0x70,
      0xfe, 0x22,
    ],
  ),
  notUtf8('a byte that is not UTF-8 in an object', 'CREATE INDEX items_name', [0x43, 0x52, 0x45, 0x80]),
  {
    name: 'a byte that is not UTF-8 in a plain archive',
    make: () =>
      Buffer.concat([
        Buffer.from(
          '{"database": "shop", "exported_at": "",\n"tables": {"t": {"schema": "CREATE TABLE t (a)",\n"rows": [{"a": "x',
        ),
        Buffer.from([0xff]),
        Buffer.from('"}]}}}'),
      ]),
    reason: /line 3: the archive is not valid UTF-8/,
  },
  {
    name: 'a multi-byte sequence cut by the end of the file',
    make: (b) => Buffer.concat([Buffer.from(b.replace(/\n$/, '')), Buffer.from([0xf0, 0x9f])]),
    reason: /not valid UTF-8/,
  },
  {
    name: 'an unknown column in a row',
    make: (b) => edit(b, /\{"id":2,/, '{"id":2,"evil":1,'),
    reason: /column "evil"/,
  },
];

describe('untrusted archives', () => {
  it('rejects every bad archive with an error naming the file and reason, and writes no database', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const base = await validArchive(dir);
      for (const c of cases) {
        const root = join(dir, `case-${cases.indexOf(c)}`);
        const data = join(root, 'data');
        const archives = join(root, 'archives');
        mkdirSync(archives, { recursive: true });
        mkdirSync(data);
        const archivePath = join(archives, 'shop.json');
        writeFileSync(archivePath, c.make(base));
        // Without a database: nothing may be written.
        const fresh = await new DBHydrationManager({ dataDir: data, archiveDir: archives }).hydrateAll();
        assert.equal(fresh.errors.length, 1, `${c.name}: ${JSON.stringify(fresh.errors)}`);
        const message = fresh.errors[0] ?? '';
        assert.ok(message.includes(archivePath), `${c.name}: the error names the archive: ${message}`);
        assert.match(message, c.reason, c.name);
        assert.equal(fresh.errorDetails[0]?.file, archivePath, c.name);
        assert.deepEqual(readdirSync(data), [], `${c.name}: no file is written`);
        // With an existing database and force: it stays as it was, and nothing is backed up or left behind.
        makeShop(join(data, 'shop.db'), 3);
        const before = readFileSync(join(data, 'shop.db'));
        const forced = await new DBHydrationManager({ dataDir: data, archiveDir: archives }).hydrateAll({
          force: true,
        });
        assert.equal(forced.errors.length, 1, c.name);
        assert.deepEqual(
          readFileSync(join(data, 'shop.db')),
          before,
          `${c.name}: the existing database is untouched`,
        );
        assert.deepEqual(readdirSync(data), ['shop.db'], `${c.name}: nothing else is written`);
        assert.deepEqual(
          readdirSync(root).sort(),
          ['archives', 'data'],
          `${c.name}: nothing outside the data dir`,
        );
      }
    } finally {
      cleanup();
    }
  });

  it('reads characters cut by a chunk boundary, and refuses bytes that are not UTF-8 past the first chunk, in every reader', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const data = join(dir, 'data');
      mkdirSync(data);
      // About 3 MiB of rows made of 2-, 3- and 4-byte characters: the 1 MiB chunks of the reader end inside some.
      makeDatabase(join(data, 'big.db'), (db) => {
        db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT)');
        const insert = db.prepare('INSERT INTO t (s) VALUES (?)');
        db.transaction(() => {
          for (let i = 0; i < 12000; i++) insert.run(`${'é€🎉'.repeat(20 + (i % 7))}${i}`);
        })();
      });
      assert.deepEqual((await new DBHydrationManager({ dataDir: data }).dehydrateAll()).errors, []);
      const archivePath = join(data, 'json_archives', 'big.json');
      const good = readFileSync(archivePath);
      const boundary = good[1 << 20] ?? 0;
      assert.equal(boundary & 0xc0, 0x80, 'the first chunk ends inside a character');
      const other = join(dir, 'other');
      const back = await new DBHydrationManager({
        dataDir: other,
        archiveDir: join(data, 'json_archives'),
      }).hydrateAll();
      assert.deepEqual(back.errors, []);
      assert.deepEqual(snapshot(join(other, 'big.db')), snapshot(join(data, 'big.db')));

      // One byte of a row 2.5 MiB in becomes 0xFF.
      const at = good.indexOf('🎉', 5 << 19);
      const bad = Buffer.from(good);
      bad[at + 1] = 0xff;
      const line = good.subarray(0, at).toString('latin1').split('\n').length;
      writeFileSync(archivePath, bad);
      const reason = new RegExp(`line ${line}: the archive is not valid UTF-8`);
      const before = readFileSync(join(other, 'big.db'));
      const forced = await new DBHydrationManager({
        dataDir: other,
        archiveDir: join(data, 'json_archives'),
      }).hydrateAll({ force: true });
      assert.equal(forced.errors.length, 1);
      assert.match(forced.errors[0] ?? '', reason);
      assert.ok(forced.errors[0]?.includes(archivePath));
      assert.deepEqual(readFileSync(join(other, 'big.db')), before, 'the existing database is untouched');
      assert.deepEqual(withoutSyncState(readdirSync(other)), ['big.db']);
      // verify, and the comparison status makes, refuse the archive rather than read it altered.
      const verified = await verifyArchives(
        new DBHydrationManager({ dataDir: data, archiveDir: join(data, 'json_archives') }),
      );
      assert.equal(verified.ok, false);
      assert.match(verified.errors.join('\n'), reason);
      assert.throws(() => compareArchives(archivePath, archivePath), reason);
      // A bad byte in the header: status (which reads only the header of each archive) refuses it too.
      const head = Buffer.from(good);
      head[good.indexOf('"big.db"') + 1] = 0xff;
      writeFileSync(archivePath, head);
      const status = await getStatus(new DBHydrationManager({ dataDir: data }));
      assert.equal(status.clean, false);
      assert.match(status.errors.join('\n'), /line 6: the archive is not valid UTF-8/);
    } finally {
      cleanup();
    }
  });

  it('rejects an archive whose virtual-table index disagrees with its content (edited shadow tables)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const src = join(dir, 'src');
      mkdirSync(src);
      makeDatabase(join(src, 'v.db'), (db) => {
        db.exec(`
          CREATE VIRTUAL TABLE docs USING fts5(body);
          INSERT INTO docs VALUES ('alpha beta'), ('gamma delta');
          CREATE VIRTUAL TABLE f4 USING fts4(body);
          INSERT INTO f4 VALUES ('one two');
          CREATE VIRTUAL TABLE r USING rtree(id, x0, x1);
          INSERT INTO r VALUES (1, 0, 10), (2, 5, 6);
        `);
      });
      assert.deepEqual((await new DBHydrationManager({ dataDir: src }).dehydrateAll()).errors, []);
      const base = readFileSync(join(src, 'json_archives', 'v.json'), 'utf8');
      const edits: [string, string, RegExp][] = [
        ['{"id":1,"c0":"alpha beta"}', '{"id":1,"c0":"alpha omega"}', /table "docs"/],
        ['{"docid":1,"c0body":"one two"}', '{"docid":1,"c0body":"one three"}', /table "f4"/],
        ['{"rowid":2,"nodeno":1}', '{"rowid":2,"nodeno":9}', /table "r"/],
      ];
      for (const [from, to, table] of edits) {
        const root = join(dir, `case-${edits.findIndex((e) => e[0] === from)}`);
        const data = join(root, 'data');
        const archives = join(root, 'archives');
        mkdirSync(archives, { recursive: true });
        mkdirSync(data);
        writeFileSync(join(archives, 'v.json'), edit(base, from, to));
        const r = await new DBHydrationManager({ dataDir: data, archiveDir: archives }).hydrateAll();
        assert.equal(r.errors.length, 1, from);
        assert.equal(r.errorDetails[0]?.code, 'ARCHIVE_FORMAT', from);
        assert.match(r.errors[0] ?? '', /virtual tables built from this archive are inconsistent/, from);
        assert.match(r.errors[0] ?? '', table, from);
        assert.deepEqual(readdirSync(data), [], `${from}: no file is written`);
      }
      // The unedited archive hydrates.
      const ok = join(dir, 'ok');
      mkdirSync(join(ok, 'archives'), { recursive: true });
      writeFileSync(join(ok, 'archives', 'v.json'), base);
      const good = await new DBHydrationManager({
        dataDir: ok,
        archiveDir: join(ok, 'archives'),
      }).hydrateAll();
      assert.deepEqual(good.errors, []);
    } finally {
      cleanup();
    }
  });

  it('never turns a table name into a path: odd table names are SQL identifiers only', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const data = join(dir, 'data');
      const archives = join(dir, 'archives');
      mkdirSync(archives, { recursive: true });
      const names = ['../../evil', '/etc/passwd', 'a\\b', '..'];
      const tables = names
        .map(
          (n) =>
            `${JSON.stringify(n)}: {"schema": ${JSON.stringify(`CREATE TABLE "${n}" (a)`)}, "row_count": 1, "rows": [{"a": 1}]}`,
        )
        .join(', ');
      writeFileSync(
        join(archives, 'odd.json'),
        `{"database": "odd", "exported_at": "", "tables": {${tables}}}`,
      );
      const r = await new DBHydrationManager({ dataDir: data, archiveDir: archives }).hydrateAll();
      assert.deepEqual(r.errors, []);
      assert.deepEqual(withoutSyncState(readdirSync(data)), ['odd.db']);
      assert.deepEqual(readdirSync(dir).sort(), ['archives', 'data']);
      assert.equal(existsSync(join(dir, 'evil')), false);
      assert.deepEqual(Object.keys(snapshot(join(data, 'odd.db')).tables).sort(), [...names].sort());
    } finally {
      cleanup();
    }
  });

  it('skips a row violating a constraint, reports it with database, table and file, and counts it', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const base = await validArchive(dir);
      const data = join(dir, 'data');
      const archives = join(dir, 'archives');
      mkdirSync(archives);
      // Row 3 of items gets the primary key of row 2; kv gets a NULL in a NOT NULL primary key column.
      const text = edit(edit(base, /\{"id":3,/, '{"id":2,'), /\{"k":"c",/, '{"k":null,');
      const archivePath = join(archives, 'shop.json');
      writeFileSync(archivePath, text);
      const r = await new DBHydrationManager({ dataDir: data, archiveDir: archives }).hydrateAll();
      const hydrated = r.databases['shop.db'];
      assert.equal(hydrated?.status, 'hydrated');
      assert.equal(hydrated.rejectedRows.length, 2);
      assert.deepEqual(hydrated.rejectedRows.map((x) => x.table).sort(), ['items', 'kv']);
      assert.equal(r.errors.length, 2);
      for (const e of r.errorDetails) {
        assert.equal(e.code, 'ROW_REJECTED');
        assert.equal(e.file, archivePath);
        assert.equal(e.database, 'shop');
        assert.ok(e.table === 'items' || e.table === 'kv');
        assert.match(e.message, /line \d+/);
      }
      const snap = snapshot(join(data, 'shop.db'));
      assert.equal(snap.tables.items?.length, 4);
      assert.equal(snap.tables.kv?.length, 2);
    } finally {
      cleanup();
    }
  });
  it("applies a table's own ON CONFLICT clause as a one-row insert would, also inside a 64-row batch", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const data = join(dir, 'data');
      const archives = join(dir, 'archives');
      mkdirSync(archives);
      // 100 rows per table, so the bad row (the 11th) falls in the first full 64-row batch. FAIL keeps what a
      // multi-row statement wrote before the violation: the retry row by row must not insert those rows twice.
      const rows = (bad: string): string =>
        Array.from({ length: 100 }, (_, i) => `{"a":${i},"b":${i === 10 ? bad : `"x${i}"`}}`).join(', ');
      const table = (name: string, column: string, bad: string): string =>
        `${JSON.stringify(name)}: {"schema": ${JSON.stringify(`CREATE TABLE ${name} (a INTEGER, b ${column})`)}, "row_count": 100, "rows": [${rows(bad)}]}`;
      writeFileSync(
        join(archives, 'clauses.json'),
        `{"database": "clauses", "exported_at": "", "tables": {${[
          table('fail_notnull', 'TEXT NOT NULL ON CONFLICT FAIL', 'null'),
          table('fail_unique', 'TEXT UNIQUE ON CONFLICT FAIL', '"x0"'),
          table('ignore_unique', 'TEXT UNIQUE ON CONFLICT IGNORE', '"x0"'),
          table('replace_notnull', "TEXT DEFAULT 'dflt' NOT NULL ON CONFLICT REPLACE", 'null'),
        ].join(', ')}}}`,
      );
      const r = await new DBHydrationManager({ dataDir: data, archiveDir: archives }).hydrateAll();
      const hydrated = r.databases['clauses.db'];
      assert.equal(hydrated?.status, 'hydrated');
      assert.deepEqual(hydrated.rejectedRows.map((x) => x.table).sort(), ['fail_notnull', 'fail_unique']);
      const db = new Database(join(data, 'clauses.db'), { readonly: true });
      try {
        const rowsOf = (t: string): { a: number; b: string }[] =>
          db.prepare(`SELECT a, b FROM ${t} ORDER BY rowid`).all() as { a: number; b: string }[];
        const without10 = Array.from({ length: 100 }, (_, i) => i).filter((i) => i !== 10);
        for (const t of ['fail_notnull', 'fail_unique', 'ignore_unique']) {
          assert.deepEqual(
            rowsOf(t).map((row) => row.a),
            without10,
            `${t}: every row once, row 10 left out`,
          );
        }
        const replaced = rowsOf('replace_notnull');
        assert.deepEqual(
          replaced.map((row) => row.a),
          Array.from({ length: 100 }, (_, i) => i),
        );
        assert.equal(replaced[10]?.b, 'dflt');
      } finally {
        db.close();
      }
    } finally {
      cleanup();
    }
  });
  it('treats a manifest edited into the wrong shape as none, and dehydrate writes a correct one', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const data = join(dir, 'data');
      mkdirSync(data);
      makeShop(join(data, 'shop.db'), 5);
      writeFileSync(
        join(data, 'bad.db'),
        'not a database, but long enough to be looked at as one '.repeat(4),
      );
      const manager = new DBHydrationManager({ dataDir: data });
      const manifestPath = join(data, 'json_archives', 'manifest.json');
      for (const databases of ['null', '[]', '{"shop.db": 5}', '{"shop.db": {"archive_path": 1}}']) {
        mkdirSync(join(data, 'json_archives'), { recursive: true });
        writeFileSync(manifestPath, `{"timestamp": "x", "databases": ${databases}}`);
        const r = await manager.dehydrateAll();
        assert.equal(r.errorDetails.length, 1, databases);
        assert.match(r.errors[0] ?? '', /bad\.db/, databases);
        const written = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
          databases: Record<string, { archive_path: string }>;
        };
        assert.deepEqual(Object.keys(written.databases), ['shop.db'], databases);
        assert.equal(typeof written.databases['shop.db']?.archive_path, 'string', databases);
      }
    } finally {
      cleanup();
    }
  });
  it('refuses CREATE TABLE ... AS <query> in every spelling before running its query', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const endless =
        'WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT n AS k, zeroblob(10000) AS v FROM c';
      for (const [i, schema] of [
        `CREATE TABLE kv AS ${endless}`,
        `CREATE TABLE kv AS/**/${endless.replace('WITH', 'WITH')}`,
        'CREATE TABLE kv AS VALUES (1)',
        `CREATE TABLE kv\nAS -- comment\n${endless}`,
      ].entries()) {
        const archives = join(dir, `archives-${i}`);
        const data = join(dir, `data-${i}`);
        mkdirSync(archives);
        writeFileSync(
          join(archives, 'x.json'),
          JSON.stringify({ database: 'x', exported_at: '', tables: { kv: { schema, rows: [] } } }),
        );
        const started = Date.now();
        const r = await new DBHydrationManager({ dataDir: data, archiveDir: archives }).hydrateAll();
        assert.match(r.errors[0] ?? '', /CREATE TABLE \.\.\. AS <query>/, schema);
        assert.ok(Date.now() - started < 5000, 'refused before running the query');
        assert.deepEqual(readdirSync(data), []);
      }
    } finally {
      cleanup();
    }
  });

  it('stops a build that grows far beyond its archive (a STORED generated column making large values)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const archives = join(dir, 'archives');
      const data = join(dir, 'data');
      mkdirSync(archives);
      mkdirSync(data);
      // 40 rows of a few bytes each, each becoming a 1 MB value: 40 MB from an archive of under 1 kB.
      const rows = Array.from({ length: 40 }, (_, i) => ({ a: i }));
      writeFileSync(
        join(archives, 'x.json'),
        JSON.stringify({
          database: 'x',
          exported_at: '',
          tables: { t: { schema: 'CREATE TABLE t (a INTEGER, b BLOB AS (zeroblob(1000000)) STORED)', rows } },
        }),
      );
      // The growth bound's 1 GiB floor is lowered to 8 MiB, to see the bound act without writing a gigabyte.
      const build = buildDatabase({
        archivePath: join(archives, 'x.json'),
        dbPath: join(data, 'x.db'),
        growthFloorBytes: 8 * 2 ** 20,
      });
      await assert.rejects(build, (error: unknown) => {
        assert.ok(error instanceof HydrationError, String(error));
        assert.equal(error.code, 'ARCHIVE_FORMAT', error.message);
        assert.match(error.message, /grew past 8 MiB \(32 times the archive's size/);
        return true;
      });
      assert.deepEqual(readdirSync(data), []);
    } finally {
      cleanup();
    }
  });
});

// manifest.json is committed next to the archives, so it must change only when the archives do: a partial run
// (`--db`) updates only its own entries, a failed run leaves it alone, and its bytes do not depend on the machine,
// the working directory or the order the databases were named in. The BUILT cli run as real child processes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli } from './helpers/cli.js';
import { makeDatabase, tempDir } from './helpers/fixtures.js';

const OLD = new Date('2020-01-01T00:00:00Z');

interface Entry {
  archive_path: string;
  tables_exported: number;
  total_rows: number;
  sha256: string;
  bytes: number;
  exported_at: string;
}

interface ManifestFile {
  timestamp: string;
  databases: Record<string, Entry>;
  total_tables: number;
  total_rows: number;
  errors: string[];
}

/** A database with `tables` tables of `rows` rows each. */
function makeDb(path: string, tables: number, rows: number): void {
  makeDatabase(path, (db) => {
    for (let t = 0; t < tables; t++) {
      db.exec(`CREATE TABLE t${t} (id INTEGER PRIMARY KEY, v TEXT)`);
      for (let r = 1; r <= rows; r++) db.prepare(`INSERT INTO t${t} VALUES (?, ?)`).run(r, `row ${r}`);
    }
  });
}

function addRow(path: string): void {
  makeDatabase(path, (db) => db.exec("INSERT INTO t0 (v) VALUES ('added')"));
}

function readManifestFile(archiveDir: string): ManifestFile {
  return JSON.parse(readFileSync(join(archiveDir, 'manifest.json'), 'utf8')) as ManifestFile;
}

describe('manifest.json', () => {
  let root: string;
  let cleanup: () => void;
  before(() => {
    ({ dir: root, cleanup } = tempDir('dh-manifest-'));
  });
  after(() => {
    cleanup();
  });
  let n = 0;
  /** A project with alpha.db (1 table, 2 rows), beta.db (2 tables, 3 rows each) and gamma.db (3 tables, 1 row each). */
  const project = (): { dir: string; data: string; archives: string; manifest: string } => {
    const dir = join(root, `p${++n}`);
    const data = join(dir, 'data');
    mkdirSync(data, { recursive: true });
    makeDb(join(data, 'alpha.db'), 1, 2);
    makeDb(join(data, 'beta.db'), 2, 3);
    makeDb(join(data, 'gamma.db'), 3, 1);
    const archives = join(data, 'json_archives');
    return { dir, data, archives, manifest: join(archives, 'manifest.json') };
  };

  it('dehydrate --db X updates only X: the other entries stay and the totals count every entry', () => {
    const p = project();
    assert.equal(cli(['dehydrate', '-q'], p.dir).code, 0);
    const full = readManifestFile(p.archives);
    assert.deepEqual(Object.keys(full.databases), ['alpha.db', 'beta.db', 'gamma.db']);
    assert.equal(full.total_tables, 6);
    assert.equal(full.total_rows, 2 + 6 + 3);

    // beta did not change: the manifest is left byte for byte as it was.
    const bytes = readFileSync(p.manifest);
    utimesSync(p.manifest, OLD, OLD);
    const same = cli(['dehydrate', '--db', 'beta'], p.dir);
    assert.equal(same.code, 0, same.stderr);
    assert.deepEqual(readFileSync(p.manifest), bytes);
    assert.equal(statSync(p.manifest).mtimeMs, OLD.getTime(), 'manifest not rewritten');

    // beta changed (and so did alpha, which this run does not export): only beta's entry is updated.
    addRow(join(p.data, 'alpha.db'));
    addRow(join(p.data, 'beta.db'));
    const partial = cli(['dehydrate', '--db', 'beta', '--json'], p.dir);
    assert.equal(partial.code, 0, partial.stderr);
    const after = readManifestFile(p.archives);
    assert.deepEqual(Object.keys(after.databases), ['alpha.db', 'beta.db', 'gamma.db']);
    assert.deepEqual(after.databases['alpha.db'], full.databases['alpha.db']);
    assert.deepEqual(after.databases['gamma.db'], full.databases['gamma.db']);
    assert.equal(after.databases['beta.db']?.total_rows, 7);
    assert.notEqual(after.databases['beta.db'].sha256, full.databases['beta.db']?.sha256);
    assert.equal(after.total_tables, 6);
    assert.equal(after.total_rows, 2 + 7 + 3);
    // The run's own result counts only what it dehydrated.
    const result = JSON.parse(partial.stdout) as { totalTables: number; totalRows: number };
    assert.deepEqual([result.totalTables, result.totalRows], [2, 7]);
  });

  it('dehydrate --db of a database that does not exist leaves the manifest byte for byte', () => {
    const p = project();
    assert.equal(cli(['dehydrate', '-q'], p.dir).code, 0);
    const bytes = readFileSync(p.manifest);
    utimesSync(p.manifest, OLD, OLD);
    const r = cli(['dehydrate', '--db', 'nosuch'], p.dir);
    assert.equal(r.code, 2, 'a --db name with neither a database nor an archive is a usage error');
    assert.match(r.stderr, /nosuch\.db/);
    assert.deepEqual(readFileSync(p.manifest), bytes);
    assert.equal(statSync(p.manifest).mtimeMs, OLD.getTime(), 'manifest not rewritten');
    assert.equal(readManifestFile(p.archives).total_tables, 6);
  });

  it('a failed dehydrate leaves the manifest as it was, and no path of the machine ever reaches it', () => {
    const p = project();
    assert.equal(cli(['dehydrate', '-q'], p.dir).code, 0);
    const full = readManifestFile(p.archives);
    const bytes = readFileSync(p.manifest);
    utimesSync(p.manifest, OLD, OLD);

    // beta is damaged: it is reported, its archive and its entry are kept, and nothing new was exported.
    writeFileSync(join(p.data, 'beta.db'), Buffer.alloc(8192, 0x41));
    const failed = cli(['dehydrate'], p.dir);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /beta\.db/);
    assert.deepEqual(readFileSync(p.manifest), bytes);
    assert.equal(statSync(p.manifest).mtimeMs, OLD.getTime(), 'manifest not rewritten');

    // alpha changed while beta is still damaged: alpha's entry is updated, beta's kept, and the run's error
    // (which names beta.db by its absolute path) stays out of the committed file.
    addRow(join(p.data, 'alpha.db'));
    const mixed = cli(['dehydrate'], p.dir);
    assert.equal(mixed.code, 1);
    const text = readFileSync(p.manifest, 'utf8');
    assert.notDeepEqual(Buffer.from(text), bytes);
    assert.ok(!text.includes(root), `no absolute path in the manifest:\n${text}`);
    assert.ok(!text.includes('\\\\'), 'no Windows path either');
    const after = JSON.parse(text) as ManifestFile;
    assert.deepEqual(after.errors, []);
    assert.deepEqual(after.databases['beta.db'], full.databases['beta.db']);
    assert.equal(after.databases['alpha.db']?.total_rows, 3);
    assert.equal(after.total_rows, 3 + 6 + 3);
  });

  it('is the same bytes from any working directory, with archive_path relative to the manifest', () => {
    const p = project();
    assert.equal(cli(['dehydrate', '-q'], p.dir).code, 0);
    const m = readManifestFile(p.archives);
    for (const [fileName, entry] of Object.entries(m.databases)) {
      assert.equal(entry.archive_path, fileName.replace(/\.db$/, '.json'));
      assert.ok(existsSync(join(p.archives, entry.archive_path)), entry.archive_path);
    }
    const bytes = readFileSync(p.manifest);
    utimesSync(p.manifest, OLD, OLD);
    // The same content dehydrated from elsewhere, by absolute path: nothing to rewrite.
    for (const [cwd, args] of [
      ['/', ['--data-dir', p.data]],
      [p.data, ['--data-dir', '.']],
      [join(p.dir, '..'), ['--data-dir', join(p.dir, 'data'), '--archive-dir', p.archives]],
    ] as const) {
      const r = cli(['dehydrate', ...args], cwd);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(readFileSync(p.manifest), bytes, `from ${cwd}`);
      assert.equal(statSync(p.manifest).mtimeMs, OLD.getTime(), `manifest not rewritten from ${cwd}`);
    }
    // An archive directory outside the data directory: archive_path is still relative to the manifest.
    const elsewhere = join(p.dir, 'elsewhere');
    const r = cli(['dehydrate', '--data-dir', p.data, '--archive-dir', elsewhere], '/');
    assert.equal(r.code, 0, r.stderr);
    const other = readManifestFile(elsewhere);
    assert.deepEqual(
      Object.values(other.databases).map((e) => e.archive_path),
      ['alpha.json', 'beta.json', 'gamma.json'],
    );
  });

  it('lists the databases in name order whatever order they were named in, run after run', () => {
    const p = project();
    const named = cli(['dehydrate', '--db', 'gamma', '--db', 'alpha', '--db', 'beta'], p.dir);
    assert.equal(named.code, 0, named.stderr);
    const text = readFileSync(p.manifest, 'utf8');
    assert.deepEqual(Object.keys(readManifestFile(p.archives).databases), [
      'alpha.db',
      'beta.db',
      'gamma.db',
    ]);
    // The config's own order (like the example app's DB_FILES) gives the same file, and does not rewrite it.
    writeFileSync(
      join(p.dir, 'db-hydration.config.json'),
      JSON.stringify({ databases: ['gamma.db', 'beta.db', 'alpha.db'] }),
    );
    utimesSync(p.manifest, OLD, OLD);
    assert.equal(cli(['dehydrate', '-q'], p.dir).code, 0);
    assert.equal(readFileSync(p.manifest, 'utf8'), text);
    assert.equal(statSync(p.manifest).mtimeMs, OLD.getTime(), 'manifest not rewritten');
    // A change to one database changes only that entry's lines (and the totals and timestamp).
    addRow(join(p.data, 'beta.db'));
    assert.equal(cli(['dehydrate', '-q'], p.dir).code, 0);
    const before = text.split('\n');
    const now = readFileSync(p.manifest, 'utf8').split('\n');
    assert.equal(now.length, before.length);
    const changed = now.flatMap((line, i) => (line === before[i] ? [] : [line.trim().split(':')[0]]));
    assert.deepEqual(changed, [
      '"timestamp"',
      '"total_rows"',
      '"sha256"',
      '"bytes"',
      '"exported_at"',
      '"content_sha256"',
      '"rows"',
      '"content_sha256"',
      '"total_rows"',
    ]);
  });
});

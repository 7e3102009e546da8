/**
 * Gzip archives (`<name>.json.gz`): the codec against the real `gzip` binary, determinism, the codec switch, the
 * config keys, every reader command on a compressed archive, two archives of one database, and damaged or cut
 * compressed files. Property 19 checks random databases.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { DBHydrationManager } from '../src/index.js';
import { GZIP_CODEC } from '../src/archive/codec.js';
import { createArchiveSink, openArchiveSource } from '../src/archive/archive-file.js';
import { MEMBER_PLAIN_BYTES } from '../src/archive/gzip-codec.js';
import { HydrationError } from '../src/errors.js';
import { buildDatabase, databaseSpec } from './helpers/generators.js';
import { snapshot } from './helpers/snapshot.js';
import { makeShop } from './helpers/damage.js';
import { cli } from './helpers/cli.js';
import { tempDir } from './helpers/fixtures.js';
import { addLocalBin, gitRunner } from './helpers/git.js';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 100);

/** The archive's bytes without its `exported_at` line (the one line that differs between two exports). */
function withoutExportedAt(bytes: Buffer): string {
  return bytes.toString('latin1').replace(/^"exported_at": .*\n/m, '');
}

/** `gzip -dc` of a file: the real binary, not our reader. */
function gunzip(path: string): Buffer {
  return execFileSync('gzip', ['-dc', path], { maxBuffer: 1 << 28 });
}

/** Reads a whole file through its codec (our reader). */
function decodeFile(path: string): Buffer {
  const source = openArchiveSource(path);
  const chunks: Buffer[] = [];
  try {
    for (;;) {
      const chunk = Buffer.alloc(65536);
      const n = source.read(chunk, 0, chunk.length);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
    }
  } finally {
    source.close();
  }
  return Buffer.concat(chunks);
}

/** Writes `plain` through the gzip codec into a new file, in write calls of `step` bytes. */
function encodeFile(path: string, plain: Buffer, step: number): void {
  const sink = createArchiveSink(path, GZIP_CODEC);
  for (let i = 0; i < plain.length; i += step) sink.write(plain.subarray(i, i + step));
  sink.finish(false);
}

function mtimeOf(path: string): number {
  return statSync(path).mtimeMs;
}

describe('gzip codec', () => {
  const { dir, cleanup } = tempDir('dh-gzip-');
  after(cleanup);

  it('writes members that the real gzip reads back exactly, whatever the write calls, with a fixed header', () => {
    const plain = Buffer.from(
      Array.from({ length: 60000 }, (_, i) => `{"id": ${i}, "v": "${'x'.repeat(i % 37)}"}`).join(',\n'),
    );
    assert.ok(plain.length > 2 * MEMBER_PLAIN_BYTES, 'the test needs several members');
    const a = join(dir, 'a.json.gz');
    const b = join(dir, 'b.json.gz');
    encodeFile(a, plain, 1 << 20);
    encodeFile(b, plain, 4093);
    const bytes = readFileSync(a);
    assert.deepEqual(bytes, readFileSync(b), 'the bytes depend on the content only');
    assert.deepEqual(gunzip(a), plain);
    assert.deepEqual(decodeFile(a), plain);
    // ID1 ID2 CM=deflate FLG=0 (no name) MTIME=0 XFL=0 OS=3.
    assert.deepEqual([...bytes.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    // `gzip -l`/`-t` accept it.
    assert.equal(spawnSync('gzip', ['-t', a]).status, 0);
  });

  it('an empty archive is one empty gzip member', () => {
    const path = join(dir, 'empty.json.gz');
    encodeFile(path, Buffer.alloc(0), 1);
    assert.equal(gunzip(path).length, 0);
    assert.equal(decodeFile(path).length, 0);
  });

  it('reads gzip files made by other tools: gzip itself (one member, a file name in the header) and concatenated members', () => {
    const plain = Buffer.from('{"a": 1}\n'.repeat(200000));
    const single = join(dir, 'by-gzip.json.gz');
    writeFileSync(join(dir, 'by-gzip.json'), plain);
    execFileSync('gzip', ['-kf9', join(dir, 'by-gzip.json')]);
    assert.equal(readFileSync(single)[3], 8, 'gzip wrote FNAME');
    assert.deepEqual(decodeFile(single), plain);
    const joined = join(dir, 'joined.json.gz');
    writeFileSync(joined, Buffer.concat([gzipSync(plain.subarray(0, 1000)), gzipSync(plain.subarray(1000))]));
    assert.deepEqual(decodeFile(joined), plain);
  });

  it('a damaged, cut, non-gzip or padded file is an ArchiveFormatError naming the file', () => {
    const plain = Buffer.from(
      Array.from({ length: 20000 }, (_, i) => `{"id": ${i}, "x": ${Math.sin(i)}}`).join(',\n'),
    );
    const good = join(dir, 'good.json.gz');
    encodeFile(good, plain, 65536);
    const bytes = readFileSync(good);
    const flipped = Buffer.from(bytes);
    const middle = Math.floor(bytes.length / 2);
    flipped[middle] = (bytes[middle] ?? 0) ^ 0x55;
    const crc = Buffer.from(bytes);
    crc[bytes.length - 6] = (bytes[bytes.length - 6] ?? 0) ^ 0x01;
    const cases: [string, Buffer, RegExp][] = [
      ['cut.json.gz', bytes.subarray(0, bytes.length - 20), /cut short/],
      ['cut-header.json.gz', bytes.subarray(0, 5), /not gzip data|gzip header/],
      ['flipped.json.gz', flipped, /damaged|CRC/],
      ['crc.json.gz', crc, /CRC-32/],
      ['plain.json.gz', plain, /not gzip data/],
      ['zero.json.gz', Buffer.alloc(0), /empty/],
      ['padded.json.gz', Buffer.concat([bytes, Buffer.from('trailing junk')]), /after gzip member/],
    ];
    for (const [name, content, pattern] of cases) {
      const path = join(dir, name);
      writeFileSync(path, content);
      assert.throws(
        () => decodeFile(path),
        (e: unknown) =>
          e instanceof HydrationError &&
          e.code === 'ARCHIVE_FORMAT' &&
          e.file === path &&
          pattern.test(e.message) &&
          e.hint !== undefined,
        name,
      );
    }
  });
});

describe('gzip archives through the manager and the CLI', () => {
  let dir: string;
  let data: string;
  let archives: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'dh-gzip-cli-'));
    data = join(dir, 'data');
    archives = join(data, 'json_archives');
    mkdirSync(data);
    makeShop(join(data, 'shop.db'), 3000);
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const gz = (): string => join(archives, 'shop.json.gz');
  const plain = (): string => join(archives, 'shop.json');

  it('dehydrate --compress gzip writes shop.json.gz, which gzip -dc turns into the plain archive; the switch removes the other file', () => {
    assert.equal(cli(['dehydrate', '--compress', 'none'], dir).code, 0);
    const plainBytes = readFileSync(plain());
    const r = cli(['dehydrate', '--compress', 'gzip', '--json'], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(gz()) && !existsSync(plain()), readdirSync(archives).join(' '));
    assert.equal(withoutExportedAt(gunzip(gz())), withoutExportedAt(plainBytes));
    const manifest = JSON.parse(readFileSync(join(archives, 'manifest.json'), 'utf8')) as {
      databases: Record<string, { archive_path: string; sha256: string; bytes: number }>;
    };
    const entry = manifest.databases['shop.db'];
    assert.equal(entry?.archive_path, 'shop.json.gz');
    assert.equal(entry.bytes, statSync(gz()).size, 'the manifest gives the size of the file as stored');
    const sha = execFileSync('sha256sum', [gz()], { encoding: 'utf8' }).split(' ')[0];
    assert.equal(entry.sha256, sha, 'and its checksum');
  });

  it('an unchanged database leaves the compressed archive untouched: same bytes, same mtime', () => {
    const bytes = readFileSync(gz());
    const mtime = mtimeOf(gz());
    const r = cli(['dehydrate', '--compress', 'gzip', '--json'], dir);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { databases: Record<string, { changed: boolean }> };
    assert.equal(result.databases['shop.db']?.changed, false);
    assert.deepEqual(readFileSync(gz()), bytes);
    assert.equal(mtimeOf(gz()), mtime);
    // Re-encoding what it decodes to gives the same file: the bytes are a function of the content.
    const again = join(dir, 'again.json.gz');
    encodeFile(again, gunzip(gz()), 12345);
    assert.deepEqual(readFileSync(again), bytes);
    rmSync(again);
  });

  it('a database with an archive keeps its codec on a plain `dehydrate`; config "compress" and "perDatabase" choose it', () => {
    const db = new Database(join(data, 'shop.db'));
    db.exec("UPDATE items SET name = 'changed' WHERE id = 1");
    db.close();
    // No --compress and no config: the archive keeps the codec it has.
    assert.equal(cli(['dehydrate'], dir).code, 0);
    assert.ok(existsSync(gz()) && !existsSync(plain()));
    // A new archive without either is plain.
    makeShop(join(data, 'extra.db'), 10);
    assert.equal(cli(['dehydrate'], dir).code, 0);
    assert.ok(existsSync(join(archives, 'extra.json')));
    rmSync(join(data, 'extra.db'));
    rmSync(join(archives, 'extra.json'));
    writeFileSync(join(dir, 'db-hydration.config.json'), JSON.stringify({ compress: 'none' }));
    assert.equal(cli(['dehydrate'], dir).code, 0);
    assert.ok(existsSync(plain()) && !existsSync(gz()), 'the config is over the codec it has');
    writeFileSync(join(dir, 'db-hydration.config.json'), JSON.stringify({ compress: 'gzip' }));
    assert.equal(cli(['dehydrate'], dir).code, 0);
    assert.ok(existsSync(gz()) && !existsSync(plain()));
    writeFileSync(
      join(dir, 'db-hydration.config.json'),
      JSON.stringify({ compress: 'gzip', perDatabase: { 'shop.db': { compress: 'none' } } }),
    );
    assert.equal(cli(['dehydrate'], dir).code, 0);
    assert.ok(existsSync(plain()) && !existsSync(gz()), 'perDatabase is over compress');
    const r = cli(['dehydrate', '--compress', 'gzip'], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(gz()) && !existsSync(plain()), '--compress is over the config');
    writeFileSync(
      join(dir, 'db-hydration.config.json'),
      JSON.stringify({ perDatabase: { 'shop.db': { compres: 'gzip' } } }),
    );
    const bad = cli(['stats'], dir);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /perDatabase.*unknown key "compres".*did you mean "compress"/);
    writeFileSync(join(dir, 'db-hydration.config.json'), JSON.stringify({ compress: 'zip' }));
    assert.match(cli(['stats'], dir).stderr, /"compress" must be one of "gzip", "none", got "zip"/);
    rmSync(join(dir, 'db-hydration.config.json'));
  });

  it('hydrate, fix, status, verify, stats and diff read the compressed archive', () => {
    assert.ok(existsSync(gz()));
    const source = snapshot(join(data, 'shop.db'));
    const other = join(dir, 'other');
    const h = cli(['hydrate', '--data-dir', other, '--archive-dir', archives], dir);
    assert.equal(h.code, 0, h.stderr);
    assert.deepEqual(snapshot(join(other, 'shop.db')), source);

    const status = cli(['status', '--json'], dir);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /"in-sync"|"in sync"|in_sync/);
    const verify = cli(['verify'], dir);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /shop\.json\.gz/);
    const stats = cli(['stats', '--json'], dir);
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(stats.stdout, /"totalRows": \d+/);
    const diff = cli(['diff'], dir);
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, /no differences/);

    // A change in the database shows in diff against the compressed archive.
    const db = new Database(join(data, 'shop.db'));
    db.exec("UPDATE items SET name = 'diffed' WHERE id = 2");
    db.close();
    const changed = cli(['diff'], dir);
    assert.match(changed.stdout, /diffed/);

    // fix rebuilds a damaged database from the compressed archive.
    const back = snapshot(join(other, 'shop.db'));
    writeFileSync(join(other, 'shop.db'), Buffer.alloc(8192, 0x42));
    const fix = cli(['fix', '--data-dir', other, '--archive-dir', archives], dir);
    assert.equal(fix.code, 0, fix.stdout + fix.stderr);
    assert.deepEqual(snapshot(join(other, 'shop.db')), back);
  });

  it('a database with both shop.json and shop.json.gz is an error naming both, for every command', () => {
    writeFileSync(plain(), gunzip(gz()));
    const before = readFileSync(gz());
    for (const command of ['hydrate', 'status', 'stats', 'verify', 'dehydrate', 'fix', 'diff']) {
      const r = cli([command], dir);
      assert.notEqual(r.code, 0, command);
      assert.match(r.stderr, /two archives, \S*shop\.json and \S*shop\.json\.gz/, command);
      assert.match(r.stderr, /hint: keep one/, command);
    }
    assert.deepEqual(readFileSync(gz()), before, 'nothing was written over either');
    rmSync(plain());
  });

  it('a cut or damaged shop.json.gz: hydrate names the file and writes nothing', () => {
    const good = readFileSync(gz());
    const fresh = join(dir, 'fresh');
    for (const damaged of [
      good.subarray(0, good.length - 40),
      Buffer.concat([good.subarray(0, 30), Buffer.alloc(200, 7)]),
    ]) {
      writeFileSync(gz(), damaged);
      const r = cli(['hydrate', '--data-dir', fresh, '--archive-dir', archives], dir);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /shop\.json\.gz.*cannot decompress the archive/);
      assert.ok(!existsSync(join(fresh, 'shop.db')), 'no database was written');
      assert.deepEqual(
        existsSync(fresh) ? readdirSync(fresh).filter((n) => !n.startsWith('.')) : [],
        [],
        'nor any temp file',
      );
    }
    writeFileSync(gz(), good);
  });
});

describe('properties', () => {
  // Feature: database-hydration, Property 19: Gzip archives
  it('Property 19: Gzip archives: a random database gzip archive decompresses (gzip -dc) to exactly its plain archive and hydrates to the same database', async () => {
    const root = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'dh-p19-'));
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(databaseSpec(), async (spec) => {
          const base = join(root, String(n++));
          const data = join(base, 'data');
          mkdirSync(data, { recursive: true });
          buildDatabase(join(data, 'db.db'), spec);
          const plainDir = join(base, 'plain');
          const gzDir = join(base, 'gz');
          const p = await new DBHydrationManager({ dataDir: data, archiveDir: plainDir }).dehydrateAll();
          assert.deepEqual(p.errors, []);
          const g = await new DBHydrationManager({
            dataDir: data,
            archiveDir: gzDir,
            compress: 'gzip',
          }).dehydrateAll();
          assert.deepEqual(g.errors, []);
          const gzPath = join(gzDir, 'db.json.gz');
          assert.deepEqual(readdirSync(gzDir).sort(), ['db.json.gz', 'manifest.json']);
          assert.equal(
            withoutExportedAt(gunzip(gzPath)),
            withoutExportedAt(readFileSync(join(plainDir, 'db.json'))),
          );
          const other = join(base, 'other');
          const h = await new DBHydrationManager({ dataDir: other, archiveDir: gzDir }).hydrateAll();
          assert.deepEqual(h.errors, []);
          assert.deepEqual(snapshot(join(other, 'db.db')), snapshot(join(data, 'db.db')));
          rmSync(base, { recursive: true, force: true });
        }),
        { numRuns: RUNS },
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('gzip archives in real git: the merge and diff drivers', () => {
  const { dir: root, cleanup } = tempDir('dh-gzip-git-');
  const home = join(root, 'home');
  const env = { HOME: home, GIT_CONFIG_GLOBAL: join(home, 'none'), GIT_CONFIG_NOSYSTEM: '1' };
  const { run, git } = gitRunner(() => env);
  after(cleanup);
  const ok = (cwd: string, ...args: string[]): string => {
    const r = cli(args, cwd, env);
    assert.equal(r.code, 0, `db-hydration ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const sql = (path: string, text: string): void => {
    const db = new Database(path);
    db.exec(text);
    db.close();
  };
  const ARCHIVE = join('data', 'json_archives', 'app.json.gz');

  it('a pull merges two edits of a .json.gz archive by row, and the merged archive is gzip again', () => {
    mkdirSync(home, { recursive: true });
    const origin = join(root, 'origin.git');
    mkdirSync(origin);
    git(origin, 'init', '-q', '--bare', '-b', 'main');
    const a = join(root, 'a');
    mkdirSync(join(a, 'data'), { recursive: true });
    git(a, 'init', '-q', '-b', 'main');
    git(a, 'config', 'user.email', 'dev@example.com');
    git(a, 'config', 'user.name', 'Dev');
    addLocalBin(a);
    writeFileSync(join(a, '.gitignore'), 'node_modules/\n');
    writeFileSync(join(a, 'db-hydration.config.json'), JSON.stringify({ compress: 'gzip' }));
    sql(
      join(a, 'data', 'app.db'),
      "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER); INSERT INTO items VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 3);",
    );
    ok(a, 'git', 'install');
    ok(a, 'dehydrate');
    git(a, 'add', '.');
    git(a, 'commit', '-qm', 'start');
    git(a, 'remote', 'add', 'origin', origin);
    git(a, 'push', '-q', '-u', 'origin', 'main');
    const b = join(root, 'b');
    git(root, 'clone', '-q', origin, b);
    git(b, 'config', 'user.email', 'dev@example.com');
    git(b, 'config', 'user.name', 'Dev');
    addLocalBin(b);
    ok(b, 'git', 'install');
    ok(b, 'hydrate');

    sql(join(a, 'data', 'app.db'), 'UPDATE items SET qty = 10 WHERE id = 1');
    ok(a, 'dehydrate');
    git(a, 'commit', '-qam', 'a: row 1');
    git(a, 'push', '-q');
    sql(join(b, 'data', 'app.db'), "UPDATE items SET name = 'drei' WHERE id = 3");
    ok(b, 'dehydrate');
    git(b, 'commit', '-qam', 'b: row 3');
    // git diff runs the diff driver on git's temp copies of the compressed archive.
    assert.match(git(b, 'diff', 'HEAD~1', 'HEAD', '--', ARCHIVE), /^~ items id=3: name: "three" → "drei"$/m);

    const pull = run('git', ['pull', '-q', '--no-rebase', '--no-edit'], b);
    assert.equal(pull.code, 0, `pull: ${pull.stdout}${pull.stderr}`);
    assert.equal(git(b, 'status', '--porcelain'), '');
    const merged = readFileSync(join(b, ARCHIVE));
    assert.deepEqual([...merged.subarray(0, 2)], [0x1f, 0x8b], 'the merged archive is gzip');
    assert.equal(spawnSync('gzip', ['-t', join(b, ARCHIVE)]).status, 0);
    ok(b, 'git', 'check');
    ok(b, 'hydrate');
    const db = new Database(join(b, 'data', 'app.db'), { readonly: true });
    const rows = db.prepare('SELECT id, name, qty FROM items ORDER BY id').all();
    db.close();
    assert.deepEqual(rows, [
      { id: 1, name: 'one', qty: 10 },
      { id: 2, name: 'two', qty: 2 },
      { id: 3, name: 'drei', qty: 3 },
    ]);
  });
});

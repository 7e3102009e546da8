/**
 * Encrypted archives (`<name>.json.age`, age-encryption.org/v1): interoperability with the real `age` binary both
 * ways, fail-closed hydration of every kind of damaged or tampered file (Property 21), no plaintext at rest, no churn.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { DBHydrationManager } from '../src/index.js';
import { CLI, ROOT, cli } from './helpers/cli.js';
import { ageKeygen, contentLines, fileSha256, makeDatabase, rawRows, tempDir } from './helpers/fixtures.js';
import { addLocalBin, gitRunner } from './helpers/git.js';

const rowsOf = (path: string): unknown[] => rawRows(path, 'items');

/** A cell value that must never appear on disk in plaintext outside the database itself. */
const SECRET = 'SECRET-CELL-7f3a91';

/** age's payload: 64 KiB chunks, each with a 16-byte tag, after a 16-byte nonce that follows the header. */
const CHUNK = 64 * 1024 + 16;

/** A shop database whose archive is a few hundred KiB (several age chunks). */
function makeShop(path: string, rows = 3000): void {
  makeDatabase(path, (db) => {
    db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, note TEXT, price REAL, data BLOB)');
    const insert = db.prepare('INSERT INTO items VALUES (?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= rows; i++) {
        insert.run(
          i,
          // Spread over the rows, so that every part of a parallel export would hold it.
          i % 100 === 7 ? `${SECRET}-${i}` : `item ${i}`,
          'x'.repeat(40 + (i % 50)),
          i / 7,
          Buffer.from([i & 255, 0, 255]),
        );
      }
    })();
  });
}

/** Every file under `dir`, recursively, as paths. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** The files under `dir` holding `needle` in plaintext. */
function filesHolding(dir: string, needle: string): string[] {
  return filesUnder(dir).filter((f) => {
    try {
      return readFileSync(f).includes(needle);
    } catch {
      return false; // removed while we looked
    }
  });
}

describe('encrypted archives (age)', () => {
  let root: { dir: string; cleanup: () => void };
  let identity: string;
  let recipient: string;
  let otherIdentity: string;

  before(() => {
    root = tempDir('dh-age-');
    identity = join(root.dir, 'key.txt');
    recipient = ageKeygen(identity);
    otherIdentity = join(root.dir, 'other-key.txt');
    ageKeygen(otherIdentity);
  });
  after(() => {
    root.cleanup();
  });

  /** A fresh data directory with the shop database, dehydrated encrypted by the CLI. */
  function encryptedProject(name: string): { dataDir: string; archive: string; db: string } {
    const dataDir = join(root.dir, name, 'data');
    mkdirSync(dataDir, { recursive: true });
    const db = join(dataDir, 'shop.db');
    makeShop(db);
    const r = cli(['dehydrate', '--recipient', recipient, '--data-dir', dataDir], root.dir);
    assert.equal(r.code, 0, r.stderr);
    return { dataDir, db, archive: join(dataDir, 'json_archives', 'shop.json.age') };
  }

  it('an archive written by db-hydration decrypts with the age binary into exactly the plain archive', () => {
    const { dataDir, archive } = encryptedProject('interop-out');
    const decrypted = execFileSync('age', ['-d', '-i', identity, archive]);
    assert.ok(!readFileSync(archive).includes(SECRET), 'the encrypted file holds no plaintext');
    // stats: the size as stored, and the plain size (what the age binary decrypts to).
    const stats = JSON.parse(
      cli(['stats', '--json', '--identity', identity, '--data-dir', dataDir], root.dir).stdout,
    ) as { archives: { codec: string; bytes: number; plainBytes: number }[]; totalPlainBytes: number };
    assert.deepEqual(
      stats.archives.map((a) => [a.codec, a.bytes, a.plainBytes]),
      [['age', statSync(archive).size, decrypted.length]],
    );
    assert.equal(stats.totalPlainBytes, decrypted.length);
    assert.ok(readFileSync(archive).subarray(0, 22).toString().startsWith('age-encryption.org/v1'));
    // The same database dehydrated plain: byte for byte the same archive but for the export time.
    const plainDir = join(root.dir, 'interop-out-plain');
    mkdirSync(plainDir);
    copyFileSync(join(dataDir, 'shop.db'), join(plainDir, 'shop.db'));
    assert.equal(cli(['dehydrate', '--data-dir', plainDir], root.dir).code, 0);
    const plain = readFileSync(join(plainDir, 'json_archives', 'shop.json'), 'utf8');
    assert.equal(contentLines(decrypted.toString('utf8')), contentLines(plain));
    assert.notEqual(contentLines(plain), plain, 'the plain archive has an exported_at line');
  });

  it('an archive encrypted by the age binary hydrates, with the identity from --identity or the environment', () => {
    const dir = join(root.dir, 'interop-in');
    mkdirSync(dir);
    makeShop(join(dir, 'shop.db'));
    const expected = rowsOf(join(dir, 'shop.db'));
    assert.equal(cli(['dehydrate', '--data-dir', dir], root.dir).code, 0);
    const archives = join(dir, 'json_archives');
    execFileSync('age', [
      '-r',
      recipient,
      '-o',
      join(archives, 'shop.json.age'),
      join(archives, 'shop.json'),
    ]);
    rmSync(join(archives, 'shop.json'));
    rmSync(join(dir, 'shop.db'));
    const without = cli(['hydrate', '--data-dir', dir], root.dir);
    assert.equal(without.code, 1);
    assert.match(without.stderr, /shop\.json\.age: the archive is encrypted and no identity/);
    assert.ok(!readdirSync(dir).some((f) => f.startsWith('shop.db')), 'no database was written');
    const r = cli(['hydrate', '--data-dir', dir, '--identity', identity], root.dir);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(rowsOf(join(dir, 'shop.db')), expected);
    rmSync(join(dir, 'shop.db'));
    const env = cli(['hydrate', '--data-dir', dir], root.dir, { DB_HYDRATION_AGE_IDENTITY: identity });
    assert.equal(env.code, 0, env.stderr);
    assert.deepEqual(rowsOf(join(dir, 'shop.db')), expected);
  });

  it('a passphrase-encrypted archive (scrypt recipient) hydrates with DB_HYDRATION_AGE_PASSPHRASE, not with a wrong one', () => {
    const dir = join(root.dir, 'passphrase');
    mkdirSync(dir);
    makeShop(join(dir, 'shop.db'), 50);
    const expected = rowsOf(join(dir, 'shop.db'));
    assert.equal(cli(['dehydrate', '--data-dir', dir], root.dir).code, 0);
    const archives = join(dir, 'json_archives');
    // The age binary reads a passphrase from a terminal only, so the file is made by the library's
    // Encrypter.setPassphrase (scrypt recipient).
    const encrypted = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { Encrypter } from 'age-encryption'; import { readFileSync, writeFileSync } from 'node:fs';
         const e = new Encrypter(); e.setPassphrase('correct horse'); e.setScryptWorkFactor(10);
         writeFileSync(process.argv[1], await e.encrypt(readFileSync(process.argv[2])));`,
        join(archives, 'shop.json.age'),
        join(archives, 'shop.json'),
      ],
      { cwd: ROOT },
    );
    assert.equal(encrypted.length, 0);
    rmSync(join(archives, 'shop.json'));
    rmSync(join(dir, 'shop.db'));
    const wrong = cli(['hydrate', '--data-dir', dir], root.dir, { DB_HYDRATION_AGE_PASSPHRASE: 'wrong' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /cannot decrypt/);
    const r = cli(['hydrate', '--data-dir', dir], root.dir, { DB_HYDRATION_AGE_PASSPHRASE: 'correct horse' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(rowsOf(join(dir, 'shop.db')), expected);
  });

  it('Property 21: a damaged, truncated, reordered or wrongly keyed archive is refused; nothing is written', async () => {
    // Feature: database-hydration, Property 21: Encrypted Archive Fails Closed
    const { dataDir, archive, db } = encryptedProject('mutations');
    const good = readFileSync(archive);
    const dbHash = fileSha256(db);
    const before = filesUnder(dataDir).sort();
    const headerEnd = good.indexOf('\n---');
    const payload = good.indexOf('\n', headerEnd + 1) + 1 + 16; // after the header's MAC line and the nonce
    const chunks = Math.ceil((good.length - payload) / CHUNK);
    assert.ok(chunks >= 4, `the archive spans ${chunks} chunks`);

    let refused = 0;
    const check = async (bytes: Buffer, what: string, identityFile = identity): Promise<void> => {
      writeFileSync(archive, bytes);
      const manager = new DBHydrationManager({ dataDir, identityFiles: [identityFile] });
      const result = await manager.hydrateAll({ force: true });
      assert.equal(result.errorDetails.length, 1, `${what}: refused`);
      assert.equal(
        result.errorDetails[0]?.code,
        'ARCHIVE_ENCRYPTION',
        `${what}: ${result.errors.join('; ')}`,
      );
      assert.equal(result.errorDetails[0].file, archive, `${what}: the error names the file`);
      assert.equal(fileSha256(db), dbHash, `${what}: the database is untouched`);
      assert.deepEqual(filesUnder(dataDir).sort(), before, `${what}: no file was written`);
      refused++;
    };

    // Truncation at every chunk boundary (and a byte either side), in the header, and to nothing.
    const cuts = new Set<number>([0, 10, headerEnd, payload - 16, payload - 1]);
    for (let k = 0; k <= chunks; k++) {
      const at = payload + k * CHUNK;
      for (const c of [at - 1, at, at + 1]) if (c > 0 && c < good.length) cuts.add(c);
    }
    cuts.add(good.length - 1);
    for (const cut of cuts) await check(good.subarray(0, cut), `truncated at ${cut}`);
    // Chunks swapped, duplicated, dropped (a whole chunk, keeping the rest).
    const chunk = (k: number): Buffer => good.subarray(payload + k * CHUNK, payload + (k + 1) * CHUNK);
    const head = good.subarray(0, payload);
    const rest = (from: number): Buffer => good.subarray(payload + from * CHUNK);
    await check(Buffer.concat([head, chunk(1), chunk(0), rest(2)]), 'chunks 0 and 1 swapped');
    await check(Buffer.concat([head, chunk(0), chunk(0), rest(1)]), 'chunk 0 duplicated');
    await check(Buffer.concat([head, chunk(0), rest(2)]), 'chunk 1 dropped');
    await check(Buffer.concat([head, chunk(0), chunk(1), chunk(1), rest(2)]), 'chunk 1 repeated');
    // The wrong key, and a file that is the right one for another key.
    await check(good, 'the wrong identity', otherIdentity);

    // A flipped bit anywhere in the file: the header, its MAC, the nonce, every chunk and tag.
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.nat({ max: good.length - 1 }),
          fc.nat({ max: payload - 1 }),
          fc.integer({ min: Math.max(0, good.length - 64), max: good.length - 1 }),
        ),
        fc.integer({ min: 0, max: 7 }),
        async (at, bit) => {
          const bytes = Buffer.from(good);
          bytes[at] = (bytes[at] ?? 0) ^ (1 << bit);
          // A flip in the header's text that still decodes the same stanza would be a different file only if age
          // accepted it; it must not.
          await check(bytes, `bit ${bit} of byte ${at} flipped`);
        },
      ),
      { numRuns: 120 },
    );
    assert.ok(refused >= 120 + cuts.size + 5);

    // The good file still hydrates: the refusals were the damage's doing.
    writeFileSync(archive, good);
    const ok = await new DBHydrationManager({ dataDir, identityFiles: [identity] }).hydrateAll({
      force: true,
    });
    assert.deepEqual(ok.errors, []);
  });

  it('no plaintext at rest: the archive directory and the temp directory never hold a cell value', async () => {
    const dir = join(root.dir, 'at-rest');
    const tmp = join(root.dir, 'at-rest-tmp');
    mkdirSync(dir);
    mkdirSync(tmp);
    makeShop(join(dir, 'shop.db'), 30_000);
    const env = { TMPDIR: tmp, DB_HYDRATION_PARALLEL: 'force:512', DB_HYDRATION_AGE_IDENTITY: identity };
    const seen: string[] = [];
    // Databases are plaintext by design (the data directory's own, and verify's hydrated copy beside the state);
    // every other file in the data directory, and everything in the temp directory, must not hold a cell value.
    const isDatabase = (f: string): boolean => {
      try {
        return readFileSync(f).subarray(0, 16).toString('latin1') === 'SQLite format 3\0';
      } catch {
        return true;
      }
    };
    const leaks = (): string[] => [
      ...filesHolding(dir, SECRET).filter((f) => !isDatabase(f)),
      ...filesHolding(tmp, SECRET),
    ];
    const run = async (args: string[]): Promise<number | null> => {
      const child = spawn(process.execPath, [CLI, ...args, '--data-dir', dir], {
        env: { ...process.env, ...env },
        stdio: 'ignore',
      });
      const done = new Promise<number | null>((resolve) => child.on('close', resolve));
      const state = { finished: false };
      void done.then(() => (state.finished = true));
      // Look while it runs, as often as the machine allows.
      while (!state.finished) {
        seen.push(...leaks());
        await new Promise((r) => setTimeout(r, 2));
      }
      return done;
    };
    assert.equal(await run(['dehydrate', '--recipient', recipient]), 0);
    const db = new Database(join(dir, 'shop.db'));
    db.prepare("UPDATE items SET note = 'changed' WHERE id = 9").run();
    db.close();
    // status, verify and diff export the database into scratch archives; sync merges through them.
    assert.equal(await run(['status']), 0);
    assert.equal(await run(['verify']), 1);
    assert.equal(await run(['diff']), 0);
    assert.equal(await run(['dehydrate', '--recipient', recipient]), 0);
    seen.push(...leaks());
    assert.deepEqual([...new Set(seen)], []);
    assert.deepEqual(
      readdirSync(join(dir, 'json_archives')).sort(),
      ['manifest.json', 'shop.json.age'],
      'only the encrypted archive and the manifest',
    );
    const manifest = readFileSync(join(dir, 'json_archives', 'manifest.json'), 'utf8');
    assert.ok(!manifest.includes(SECRET) && !manifest.includes('item '), 'the manifest holds no row data');
  });

  it('no churn: an unchanged database keeps its encrypted archive byte for byte, with or without the identity', () => {
    const { dataDir, archive, db } = encryptedProject('churn');
    const first = readFileSync(archive);
    const mtime = statSync(archive).mtimeMs;
    const again = (env: NodeJS.ProcessEnv = {}): ReturnType<typeof cli> =>
      cli(['dehydrate', '--recipient', recipient, '--data-dir', dataDir], root.dir, env);
    // Only the recipient (the sync state's hashes tell it is unchanged), then with the identity (decrypt + compare).
    assert.match(again().stdout, /unchanged\s+shop\.db/);
    assert.match(again({ DB_HYDRATION_AGE_IDENTITY: identity }).stdout, /unchanged\s+shop\.db/);
    assert.deepEqual(readFileSync(archive), first);
    assert.equal(statSync(archive).mtimeMs, mtime);
    // A change is written (and re-encrypted: age output is random, so the file differs anyway).
    const d = new Database(db);
    d.prepare("UPDATE items SET name = 'renamed' WHERE id = 1").run();
    d.close();
    assert.match(again().stdout, /updated\s+shop\.db/);
    assert.notDeepEqual(readFileSync(archive), first);
    const text = execFileSync('age', ['-d', '-i', identity, archive], { encoding: 'utf8' });
    assert.match(text, /"renamed"/);
  });

  it('the config encrypts per database (encrypt, perDatabase, encrypt: false) and checks recipients', () => {
    const dir = join(root.dir, 'config');
    mkdirSync(join(dir, 'data'), { recursive: true });
    makeShop(join(dir, 'data', 'shop.db'), 20);
    makeShop(join(dir, 'data', 'open.db'), 20);
    const config = join(dir, 'db-hydration.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        encrypt: { recipients: [recipient], identityFile: '../key.txt' },
        perDatabase: { 'open.db': { encrypt: false } },
      }),
    );
    const r = cli(['dehydrate'], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(readdirSync(join(dir, 'data', 'json_archives')).sort(), [
      'manifest.json',
      'open.json',
      'shop.json.age',
    ]);
    rmSync(join(dir, 'data', 'shop.db'));
    // The identity file named in the config (relative to it) decrypts.
    const h = cli(['hydrate'], dir);
    assert.equal(h.code, 0, h.stderr);
    assert.equal(rowsOf(join(dir, 'data', 'shop.db')).length, 20);
    writeFileSync(config, JSON.stringify({ encrypt: { recipients: ['age1nope'] } }));
    const bad = cli(['dehydrate'], dir);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /"encrypt".*"age1nope" is not an age recipient/);
  });

  it('rekey re-encrypts to a new recipient set atomically, says which archives it rewrote, and keeps the content', async () => {
    const { dataDir, archive } = encryptedProject('rekey');
    const plainBefore = execFileSync('age', ['-d', '-i', identity, archive]);
    const third = join(root.dir, 'third-key.txt');
    const thirdRecipient = ageKeygen(third);
    const added = cli(
      [
        'rekey',
        '--data-dir',
        dataDir,
        '--identity',
        identity,
        '--recipient',
        recipient,
        '--recipient',
        thirdRecipient,
        '--json',
      ],
      root.dir,
    );
    assert.equal(added.code, 0, added.stderr);
    const result = JSON.parse(added.stdout) as { archives: { archivePath: string; recipients: number }[] };
    assert.deepEqual(
      result.archives.map((a) => [a.archivePath, a.recipients]),
      [[archive, 2]],
    );
    // Both people decrypt it, to the same plain archive.
    assert.deepEqual(execFileSync('age', ['-d', '-i', third, archive]), plainBefore);
    assert.deepEqual(execFileSync('age', ['-d', '-i', identity, archive]), plainBefore);
    const manifest = JSON.parse(readFileSync(join(dataDir, 'json_archives', 'manifest.json'), 'utf8')) as {
      databases: Record<string, { sha256: string; bytes: number }>;
    };
    assert.equal(manifest.databases['shop.db']?.sha256, fileSha256(archive));
    assert.equal(manifest.databases['shop.db'].bytes, statSync(archive).size);
    // The database still matches it: dehydrate (recipient only) leaves it as it is.
    const kept = readFileSync(archive);
    assert.match(
      cli(['dehydrate', '--data-dir', dataDir, '--recipient', recipient], root.dir).stdout,
      /unchanged/,
    );
    assert.deepEqual(readFileSync(archive), kept);
    // Removing a person: the first identity no longer opens it (Git's history still holds the older files).
    const removed = cli(
      ['rekey', '--data-dir', dataDir, '--identity', identity, '--recipient', thirdRecipient],
      root.dir,
    );
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /rekeyed\s+\S*shop\.json\.age\s+\(1 recipient\)/);
    assert.throws(() => execFileSync('age', ['-d', '-i', identity, archive], { stdio: 'pipe' }));
    assert.deepEqual(execFileSync('age', ['-d', '-i', third, archive]), plainBefore);
    // Without an identity that opens it: refused, file untouched.
    const before = readFileSync(archive);
    const refused = cli(
      ['rekey', '--data-dir', dataDir, '--identity', identity, '--recipient', recipient],
      root.dir,
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /shop\.json\.age: cannot decrypt the archive/);
    assert.deepEqual(readFileSync(archive), before);
    const lib = await new DBHydrationManager({ dataDir, identityFiles: [third] }).rekey({
      recipients: [recipient],
    });
    assert.deepEqual(lib.errors, []);
    assert.deepEqual(execFileSync('age', ['-d', '-i', identity, archive]), plainBefore);
  });

  it('the pre-commit check refuses a staged plaintext archive of a database configured to be encrypted', () => {
    const repo = join(root.dir, 'pre-commit');
    mkdirSync(join(repo, 'data'), { recursive: true });
    const { git } = gitRunner(() => ({
      HOME: root.dir,
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@example.com',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@example.com',
    }));
    git(repo, 'init', '-q');
    makeShop(join(repo, 'data', 'shop.db'), 20);
    assert.equal(cli(['dehydrate'], repo).code, 0);
    git(repo, 'add', 'data/json_archives');
    writeFileSync(
      join(repo, 'db-hydration.config.json'),
      JSON.stringify({ encrypt: { recipients: [recipient], identityFile: identity } }),
    );
    const refused = cli(['git', 'pre-commit'], repo);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(
      refused.stderr,
      /data\/json_archives\/shop\.json is a plaintext archive of a database configured to be encrypted.*\n.*git rm --cached/,
    );
    // The way out the hint gives: unstage, dehydrate (writes .json.age, removes .json), stage.
    git(repo, 'rm', '-q', '--cached', 'data/json_archives/shop.json');
    const d = cli(['dehydrate'], repo);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(readdirSync(join(repo, 'data', 'json_archives')).sort(), [
      'manifest.json',
      'shop.json.age',
    ]);
    git(repo, 'add', '-A', 'data/json_archives');
    const ok = cli(['git', 'pre-commit'], repo);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  });

  it('git: the merge driver decrypts, merges and re-encrypts, diff shows rows; without the identity a clean conflict', () => {
    const repo = join(root.dir, 'merge');
    mkdirSync(join(repo, 'data'), { recursive: true });
    const home = join(root.dir, 'merge-home');
    mkdirSync(home);
    const env = { HOME: home, GIT_CONFIG_GLOBAL: join(home, 'none'), GIT_CONFIG_NOSYSTEM: '1' };
    const { run, git } = gitRunner(() => env);
    git(repo, 'init', '-q', '-b', 'main');
    git(repo, 'config', 'user.email', 'dev@example.com');
    git(repo, 'config', 'user.name', 'Dev');
    addLocalBin(repo);
    const key = join(root.dir, 'merge-key.txt');
    copyFileSync(identity, key);
    writeFileSync(join(repo, '.gitignore'), 'node_modules/\n');
    writeFileSync(
      join(repo, 'db-hydration.config.json'),
      JSON.stringify({ encrypt: { recipients: [recipient], identityFile: key } }),
    );
    const db = join(repo, 'data', 'shop.db');
    makeShop(db, 40);
    const dh = (...args: string[]): ReturnType<typeof cli> => {
      const r = cli(args, repo, env);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      return r;
    };
    const edit = (statement: string): void => {
      const d = new Database(db);
      d.exec(statement);
      d.close();
    };
    dh('git', 'install');
    assert.match(
      readFileSync(join(repo, '.gitattributes'), 'utf8'),
      /\*\.json\.age merge=db-hydration diff=db-hydration -text/,
    );
    dh('dehydrate');
    git(repo, 'add', '.');
    git(repo, 'commit', '-qm', 'start');
    const archive = join(repo, 'data', 'json_archives', 'shop.json.age');
    // Two branches change different rows: the driver merges them, and the result is encrypted.
    git(repo, 'checkout', '-q', '-b', 'other');
    edit("UPDATE items SET name = 'theirs-1' WHERE id = 1");
    dh('dehydrate');
    git(repo, 'commit', '-qam', 'theirs');
    git(repo, 'checkout', '-q', 'main');
    dh('hydrate', '--force');
    edit("UPDATE items SET name = 'ours-2' WHERE id = 2");
    dh('dehydrate');
    git(repo, 'commit', '-qam', 'ours');
    const merged = run('git', ['merge', '-q', '--no-edit', 'other'], repo);
    assert.equal(merged.code, 0, merged.stdout + merged.stderr);
    assert.ok(!readFileSync(archive).includes('theirs-1'), 'the merged archive is encrypted');
    const plain = execFileSync('age', ['-d', '-i', key, archive], { encoding: 'utf8' });
    assert.match(plain, /"theirs-1"/);
    assert.match(plain, /"ours-2"/);
    // git diff shows the row change in plaintext, locally.
    const diff = git(repo, 'diff', 'HEAD~1', 'HEAD', '--', 'data/json_archives/shop.json.age');
    assert.match(diff, /theirs-1/);
    // Without the identity: a conflict, and the file is our version as it was (valid, encrypted), never a mix.
    git(repo, 'checkout', '-q', '-b', 'other2');
    dh('hydrate', '--force');
    edit("UPDATE items SET name = 'x-3' WHERE id = 3");
    dh('dehydrate');
    git(repo, 'commit', '-qam', 'theirs 2');
    git(repo, 'checkout', '-q', 'main');
    dh('hydrate', '--force');
    edit("UPDATE items SET name = 'y-4' WHERE id = 4");
    dh('dehydrate');
    git(repo, 'commit', '-qam', 'ours 2');
    const oursBytes = readFileSync(archive);
    rmSync(key);
    const conflicted = run('git', ['merge', '-q', '--no-edit', 'other2'], repo);
    assert.notEqual(conflicted.code, 0);
    assert.match(conflicted.stdout + conflicted.stderr, /shop\.json\.age.*(no identity|cannot decrypt)/);
    assert.match(git(repo, 'status', '--porcelain'), /^UU data\/json_archives\/shop\.json\.age$/m);
    assert.deepEqual(readFileSync(archive), oursBytes);
  });
});

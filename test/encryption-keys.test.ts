/**
 * Keys of encrypted archives belong to their manager (two managers with different identities in one process), and
 * passphrases: `encrypt: { passphrase: true }`, interop with the real `age -p`, and the CLI's terminal prompt, driven
 * through a real pseudo-terminal.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DBHydrationManager } from '../src/index.js';
import { ageKeygen, contentLines, makeDatabase, rawRows, tempDir } from './helpers/fixtures.js';
import { CLI, cli } from './helpers/cli.js';
import { runInPty, type PtyAnswer } from './helpers/pty.js';
import { addLocalBin, gitRunner } from './helpers/git.js';

const rowsOf = (path: string): unknown[] => rawRows(path, 'notes');

/** The passphrase of the tests; it must never show on the terminal. */
const PASSPHRASE = 'tr0ub4dor-&-3';

/** The age binary decrypting a passphrase file: it reads the passphrase from the terminal only. */
function ageDecryptWithPassphrase(file: string, out: string, cwd: string): void {
  const r = runInPty(['age', '-d', '-o', out, file], {
    cwd,
    answers: [{ expect: 'passphrase', send: `${PASSPHRASE}\r` }],
  });
  assert.equal(r.code, 0, r.output);
  assert.ok(!r.output.includes(PASSPHRASE), 'age does not echo the passphrase');
}

/** The CLI on a pseudo-terminal, answering its prompts with the passphrase; without DB_HYDRATION_AGE_PASSPHRASE. */
function cliInPty(
  args: readonly string[],
  cwd: string,
  answers: readonly PtyAnswer[],
): { output: string; code: number } {
  const r = runInPty([process.execPath, CLI, ...args], {
    cwd,
    env: { DB_HYDRATION_AGE_PASSPHRASE: '', DB_HYDRATION_AGE_IDENTITY: '' },
    answers,
  });
  assert.equal(r.answered, answers.length, `every prompt was shown: ${r.output}`);
  assert.ok(!r.output.includes(PASSPHRASE), `the passphrase is not echoed: ${r.output}`);
  return r;
}

/** A database with `rows` rows of `label`-tagged values. */
function makeNotes(path: string, label: string, rows = 200): void {
  makeDatabase(path, (db) => {
    db.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, n REAL)');
    const insert = db.prepare('INSERT INTO notes VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= rows; i++) insert.run(i, `${label} note ${i}`, i / 3);
    })();
  });
}

describe('encryption keys', () => {
  let root: { dir: string; cleanup: () => void };
  const saved = {
    identity: process.env.DB_HYDRATION_AGE_IDENTITY,
    passphrase: process.env.DB_HYDRATION_AGE_PASSPHRASE,
  };
  before(() => {
    root = tempDir('dh-age-keys-');
    // The managers' own keys only: none from the environment.
    delete process.env.DB_HYDRATION_AGE_IDENTITY;
    delete process.env.DB_HYDRATION_AGE_PASSPHRASE;
  });
  after(() => {
    root.cleanup();
    if (saved.identity !== undefined) process.env.DB_HYDRATION_AGE_IDENTITY = saved.identity;
    if (saved.passphrase !== undefined) process.env.DB_HYDRATION_AGE_PASSPHRASE = saved.passphrase;
  });

  it('two managers with different identities in one process each decrypt their own archives, also at once', async () => {
    const people = ['alice', 'bob'].map((name) => {
      const key = join(root.dir, `${name}.key`);
      const recipient = ageKeygen(key);
      const dataDir = join(root.dir, `${name}-data`);
      mkdirSync(dataDir);
      makeNotes(join(dataDir, 'notes.db'), name);
      return { name, key, recipient, dataDir, db: join(dataDir, 'notes.db') };
    });
    const [alice, bob] = people as [(typeof people)[0], (typeof people)[0]];
    const managerOf = (p: typeof alice): DBHydrationManager =>
      new DBHydrationManager({
        dataDir: p.dataDir,
        encrypt: { recipients: [p.recipient] },
        identityFiles: [p.key],
      });
    const expected = people.map((p) => rowsOf(p.db));
    // Both written first, each to its own recipient.
    const [a, b] = [managerOf(alice), managerOf(bob)];
    for (const m of [a, b]) assert.deepEqual((await m.dehydrateAll()).errors, []);
    for (const p of people) {
      const archive = join(p.dataDir, 'json_archives', 'notes.json.age');
      assert.match(
        execFileSync('age', ['-d', '-i', p.key, archive], { encoding: 'utf8' }),
        new RegExp(`${p.name} note 1"`),
      );
      rmSync(p.db);
    }
    // Alice's manager was made first; before keys belonged to their manager, Bob's (made last) were the only ones.
    const [ha, hb] = await Promise.all([a.hydrateAll(), b.hydrateAll()]);
    assert.deepEqual(ha.errors, []);
    assert.deepEqual(hb.errors, []);
    assert.deepEqual(rowsOf(alice.db), expected[0]);
    assert.deepEqual(rowsOf(bob.db), expected[1]);
    // Neither manager's identity opens the other's archive, whichever was made last.
    rmSync(bob.db);
    const aliceOnBob = new DBHydrationManager({ dataDir: bob.dataDir, identityFiles: [alice.key] });
    const stillBob = managerOf(bob);
    const refused = await aliceOnBob.hydrateAll();
    assert.equal(refused.errorDetails[0]?.code, 'ARCHIVE_ENCRYPTION');
    assert.match(refused.errors[0] ?? '', /none of the given identities/);
    assert.equal(existsSync(bob.db), false, 'no database was written');
    assert.deepEqual((await stillBob.hydrateAll()).errors, []);
    assert.deepEqual(rowsOf(bob.db), expected[1]);
    // Writing: each manager encrypts to its own recipients, also when both run together.
    for (const p of people) {
      const d = new Database(p.db);
      d.prepare('UPDATE notes SET body = ? WHERE id = 1').run(`${p.name} changed`);
      d.close();
    }
    const [da, db] = await Promise.all([a.dehydrateAll(), stillBob.dehydrateAll()]);
    assert.deepEqual([da.errors, db.errors], [[], []]);
    for (const p of people) {
      const archive = join(p.dataDir, 'json_archives', 'notes.json.age');
      assert.match(
        execFileSync('age', ['-d', '-i', p.key, archive], { encoding: 'utf8' }),
        new RegExp(`${p.name} changed`),
      );
      const other = p === alice ? bob : alice;
      assert.throws(() => execFileSync('age', ['-d', '-i', other.key, archive], { stdio: 'pipe' }));
    }
    assert.ok(!readFileSync(join(alice.dataDir, 'json_archives', 'notes.json.age')).includes('alice'));
  });

  /** A project whose config encrypts every archive to a passphrase. */
  function passphraseProject(name: string): { dir: string; dataDir: string; db: string; archive: string } {
    const dir = join(root.dir, name);
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dir, 'db-hydration.config.json'), JSON.stringify({ encrypt: { passphrase: true } }));
    const db = join(dataDir, 'notes.db');
    makeNotes(db, name, 300);
    return { dir, dataDir, db, archive: join(dataDir, 'json_archives', 'notes.json.age') };
  }

  it('encrypt: { passphrase: true } writes a scrypt file the age binary decrypts, with no churn', () => {
    const p = passphraseProject('pass-config');
    const env = { DB_HYDRATION_AGE_PASSPHRASE: PASSPHRASE };
    const first = cli(['dehydrate'], p.dir, env);
    assert.equal(first.code, 0, first.stderr);
    const bytes = readFileSync(p.archive);
    // age's header: the scrypt stanza, the only one (age allows nothing beside it).
    const header = bytes.subarray(0, bytes.indexOf('\n---')).toString('latin1').split('\n');
    assert.equal(header[0], 'age-encryption.org/v1');
    assert.deepEqual(
      header.filter((l) => l.startsWith('-> ')).map((l) => l.split(' ')[1]),
      ['scrypt'],
    );
    assert.ok(!bytes.includes('pass-config note'), 'no plaintext in the file');
    // The age binary decrypts it into exactly the plain archive (as a plain dehydrate of the same database writes).
    const decrypted = join(p.dir, 'decrypted.json');
    ageDecryptWithPassphrase(p.archive, decrypted, p.dir);
    const plainDir = join(p.dir, 'plain');
    mkdirSync(plainDir);
    writeFileSync(join(plainDir, 'notes.db'), readFileSync(p.db));
    assert.equal(
      cli(['dehydrate', '--data-dir', plainDir, '--config', join(plainDir, 'none.json')], p.dir).code,
      2,
    );
    writeFileSync(join(plainDir, 'plain.config.json'), '{}');
    const plain = cli(
      ['dehydrate', '--data-dir', plainDir, '--config', join(plainDir, 'plain.config.json')],
      p.dir,
    );
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(
      contentLines(readFileSync(decrypted, 'utf8')),
      contentLines(readFileSync(join(plainDir, 'json_archives', 'notes.json'), 'utf8')),
    );
    // No churn: the database written again without a change (a new file stamp, so it is exported and compared) ...
    const mtime = statSync(p.archive).mtimeMs;
    const touch = (): void => {
      const d = new Database(p.db);
      d.prepare('UPDATE notes SET body = body WHERE id = 1').run();
      d.close();
    };
    touch();
    assert.match(cli(['dehydrate'], p.dir, env).stdout, /unchanged\s+notes\.db/);
    // ... and without the sync state (a fresh clone): decrypted with the passphrase and compared.
    rmSync(join(p.dataDir, '.db-hydration'), { recursive: true });
    touch();
    const fresh = cli(['dehydrate'], p.dir, env);
    assert.match(fresh.stdout, /unchanged\s+notes\.db/, fresh.stderr);
    assert.deepEqual(readFileSync(p.archive), bytes);
    assert.equal(statSync(p.archive).mtimeMs, mtime);
    // A change is written, still to the passphrase only.
    const d = new Database(p.db);
    d.prepare("UPDATE notes SET body = 'changed' WHERE id = 2").run();
    d.close();
    assert.match(cli(['dehydrate'], p.dir, env).stdout, /updated\s+notes\.db/);
    ageDecryptWithPassphrase(p.archive, decrypted, p.dir);
    assert.match(readFileSync(decrypted, 'utf8'), /"id":2,"body":"changed"/);
  });

  it('passphrase and recipients exclude each other: the config error names the file', () => {
    const dir = join(root.dir, 'pass-both');
    mkdirSync(join(dir, 'data'), { recursive: true });
    makeNotes(join(dir, 'data', 'notes.db'), 'both', 5);
    const config = join(dir, 'db-hydration.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        perDatabase: {
          'notes.db': { encrypt: { passphrase: true, recipients: ['age1qyqszqgpqyqszqgpqyqszqgpqyqszqgp'] } },
        },
      }),
    );
    const r = cli(['dehydrate'], dir, { DB_HYDRATION_AGE_PASSPHRASE: PASSPHRASE });
    assert.equal(r.code, 2);
    assert.ok(r.stderr.includes(config), r.stderr);
    assert.match(r.stderr, /"passphrase" and "recipients" exclude each other/);
    writeFileSync(config, JSON.stringify({ encrypt: { passphrase: 'hunter2' } }));
    const inline = cli(['dehydrate'], dir);
    assert.equal(inline.code, 2);
    assert.match(inline.stderr, /"passphrase" must be true .*never from the config/);
    assert.deepEqual(readdirSync(join(dir, 'data')), ['notes.db'], 'nothing was written');
  });

  it('the CLI asks for a passphrase on the terminal, echo off; elsewhere the error names the variable', () => {
    const p = passphraseProject('pass-prompt');
    // Not a terminal (a pipe): nothing is written, and the error says which variable to set.
    const piped = cli(['dehydrate'], p.dir, { DB_HYDRATION_AGE_PASSPHRASE: '' });
    assert.equal(piped.code, 1);
    assert.match(
      piped.stderr,
      /json_archives\/notes\.json\.age: the archive is to be encrypted with a passphrase and none was given/,
    );
    assert.match(piped.stderr, /hint: set DB_HYDRATION_AGE_PASSPHRASE/);
    assert.equal(existsSync(p.archive), false, 'no archive was written');
    // Encrypting: asked twice; two different answers encrypt nothing.
    const ask = { expect: 'Passphrase to encrypt', send: `${PASSPHRASE}\r` };
    const again = { expect: 'same passphrase again', send: `${PASSPHRASE}\r` };
    const typo = cliInPty(['dehydrate'], p.dir, [ask, { expect: 'same passphrase again', send: 'typo\r' }]);
    assert.equal(typo.code, 1, typo.output);
    assert.match(typo.output, /the two passphrases typed differ/);
    assert.equal(existsSync(p.archive), false, 'no archive was written');
    // Backspace edits what was typed (and is not shown either).
    const typed = cliInPty(['dehydrate'], p.dir, [
      { expect: 'Passphrase to encrypt', send: `${PASSPHRASE}x\x7f\r` },
      again,
    ]);
    assert.equal(typed.code, 0, typed.output);
    assert.match(typed.output, /updated\s+notes\.db/);
    const decrypted = join(p.dir, 'decrypted.json');
    ageDecryptWithPassphrase(p.archive, decrypted, p.dir);
    assert.match(readFileSync(decrypted, 'utf8'), /"pass-prompt note 1"/);
    // Decrypting: asked once; the database comes back.
    const expected = rowsOf(p.db);
    rmSync(p.db);
    const hydrated = cliInPty(['hydrate'], p.dir, [
      { expect: 'Passphrase of the encrypted archives', send: `${PASSPHRASE}\r` },
    ]);
    assert.equal(hydrated.code, 0, hydrated.output);
    assert.deepEqual(rowsOf(p.db), expected);
    // The wrong one: refused, nothing written; Ctrl-C cancels.
    rmSync(p.db);
    const wrong = cliInPty(['hydrate'], p.dir, [{ expect: 'Passphrase of', send: 'wrong\r' }]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.output, /notes\.json\.age: cannot decrypt the archive/);
    const cancelled = cliInPty(['hydrate'], p.dir, [{ expect: 'Passphrase of', send: '\x03' }]);
    assert.equal(cancelled.code, 1);
    assert.match(cancelled.output, /the prompt was cancelled/);
    assert.equal(existsSync(p.db), false, 'no database was written');
    // Not a terminal and no variable: the error names it.
    const none = cli(['hydrate'], p.dir, { DB_HYDRATION_AGE_PASSPHRASE: '' });
    assert.equal(none.code, 1);
    assert.match(
      none.stderr,
      /notes\.json\.age: the archive is encrypted with a passphrase and none was given/,
    );
    assert.match(none.stderr, /DB_HYDRATION_AGE_PASSPHRASE/);
  });

  it('an archive encrypted by `age -p` hydrates, with the passphrase from the variable or the prompt', () => {
    const dir = join(root.dir, 'age-p');
    mkdirSync(dir);
    makeNotes(join(dir, 'notes.db'), 'age-p', 100);
    const expected = rowsOf(join(dir, 'notes.db'));
    assert.equal(cli(['dehydrate', '--data-dir', dir], root.dir).code, 0);
    const archives = join(dir, 'json_archives');
    const made = runInPty(
      ['age', '-p', '-o', join(archives, 'notes.json.age'), join(archives, 'notes.json')],
      {
        cwd: dir,
        answers: [
          { expect: 'passphrase', send: `${PASSPHRASE}\r` },
          { expect: 'onfirm', send: `${PASSPHRASE}\r` },
        ],
      },
    );
    assert.equal(made.code, 0, made.output);
    rmSync(join(archives, 'notes.json'));
    rmSync(join(dir, 'notes.db'));
    const env = cli(['hydrate', '--data-dir', dir], root.dir, { DB_HYDRATION_AGE_PASSPHRASE: PASSPHRASE });
    assert.equal(env.code, 0, env.stderr);
    assert.deepEqual(rowsOf(join(dir, 'notes.db')), expected);
    rmSync(join(dir, 'notes.db'));
    const asked = cliInPty(['hydrate', '--data-dir', dir], root.dir, [
      { expect: 'Passphrase of the encrypted archives', send: `${PASSPHRASE}\r` },
    ]);
    assert.equal(asked.code, 0, asked.output);
    assert.deepEqual(rowsOf(join(dir, 'notes.db')), expected);
  });

  it('the library asks its passphrase provider once, only when a passphrase is needed', async () => {
    const p = passphraseProject('pass-provider');
    makeNotes(join(p.dataDir, 'more.db'), 'more', 20);
    const asked: string[] = [];
    const manager = new DBHydrationManager({
      dataDir: p.dataDir,
      encrypt: { passphrase: true },
      passphrase: (request) => {
        asked.push(request.purpose);
        return PASSPHRASE;
      },
    });
    assert.deepEqual((await manager.dehydrateAll()).errors, []);
    assert.deepEqual(asked, ['encrypt'], 'asked once for both archives');
    // Unchanged: nothing to decrypt or encrypt, so a new manager does not ask at all.
    const quiet: string[] = [];
    const again = new DBHydrationManager({
      dataDir: p.dataDir,
      encrypt: { passphrase: true },
      passphrase: (request) => {
        quiet.push(request.purpose);
        return PASSPHRASE;
      },
    });
    const result = await again.dehydrateAll();
    assert.deepEqual(
      Object.values(result.databases).map((d) => d.changed),
      [false, false],
    );
    assert.deepEqual(quiet, []);
    rmSync(p.db);
    rmSync(join(p.dataDir, 'more.db'));
    assert.deepEqual((await again.hydrateAll()).errors, []);
    assert.deepEqual(quiet, ['decrypt']);
    // A provider that refuses: the error, asked once for both archives, and nothing written.
    let refusals = 0;
    const refusing = new DBHydrationManager({
      dataDir: p.dataDir,
      passphrase: () => {
        refusals++;
        throw new Error('no, thank you');
      },
    });
    rmSync(p.db);
    rmSync(join(p.dataDir, 'more.db'));
    const refused = await refusing.hydrateAll();
    assert.deepEqual(refused.errors.length, 2);
    assert.match(refused.errors[0] ?? '', /no, thank you/);
    assert.equal(refusals, 1);
    assert.equal(existsSync(p.db), false);
  });

  it('compressed and encrypted (.json.gz.age): age -d | gzip -dc is the plain archive; hydrate, no churn, a passphrase too', () => {
    const dir = join(root.dir, 'gz-age');
    mkdirSync(join(dir, 'data'), { recursive: true });
    const key = join(root.dir, 'gz-age.key');
    const recipient = ageKeygen(key);
    const db = join(dir, 'data', 'notes.db');
    makeNotes(db, 'gz-age', 2000);
    const expected = rowsOf(db);
    const archive = join(dir, 'data', 'json_archives', 'notes.json.gz.age');
    const first = cli(['dehydrate', '--compress', 'gzip', '--recipient', recipient], dir);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(readdirSync(join(dir, 'data', 'json_archives')).sort(), [
      'manifest.json',
      'notes.json.gz.age',
    ]);
    const bytes = readFileSync(archive);
    assert.ok(bytes.subarray(0, 21).toString('latin1') === 'age-encryption.org/v1');
    // Inside the age layer, gzip (its magic bytes), which decompresses into the plain archive.
    const gz = execFileSync('age', ['-d', '-i', key, archive]);
    assert.deepEqual([...gz.subarray(0, 2)], [0x1f, 0x8b]);
    const plainText = execFileSync('gzip', ['-dc'], { input: gz }).toString('utf8');
    const plainDir = join(dir, 'plain');
    mkdirSync(plainDir);
    writeFileSync(join(plainDir, 'notes.db'), readFileSync(db));
    writeFileSync(join(plainDir, 'none.json'), '{}');
    assert.equal(
      cli(['dehydrate', '--data-dir', plainDir, '--config', join(plainDir, 'none.json')], dir).code,
      0,
    );
    assert.equal(
      contentLines(plainText),
      contentLines(readFileSync(join(plainDir, 'json_archives', 'notes.json'), 'utf8')),
    );
    // The compressed archive is smaller than the plain one would be, even encrypted.
    assert.ok(bytes.length < plainText.length / 2, `${bytes.length} < ${plainText.length} / 2`);
    // No churn: written again without a change (a plain `dehydrate` keeps the codec), byte for byte the same.
    const touch = (): void => {
      const d = new Database(db);
      d.prepare('UPDATE notes SET body = body WHERE id = 1').run();
      d.close();
    };
    touch();
    assert.match(cli(['dehydrate', '--recipient', recipient], dir).stdout, /unchanged\s+notes\.db/);
    touch();
    assert.match(
      cli(['dehydrate', '--recipient', recipient, '--identity', key], dir).stdout,
      /unchanged\s+notes\.db/,
    );
    assert.deepEqual(readFileSync(archive), bytes);
    // Hydrate: refused without the identity (nothing written), then exactly the rows.
    rmSync(db);
    const refused = cli(['hydrate'], dir);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /notes\.json\.gz\.age: the archive is encrypted and no identity/);
    assert.equal(existsSync(db), false);
    const hydrated = cli(['hydrate', '--identity', key], dir);
    assert.equal(hydrated.code, 0, hydrated.stderr);
    assert.deepEqual(rowsOf(db), expected);
    // To a passphrase, compressed: the age binary (through a terminal) and gzip read it back.
    writeFileSync(
      join(dir, 'db-hydration.config.json'),
      JSON.stringify({ compress: 'gzip', encrypt: { passphrase: true } }),
    );
    const d = new Database(db);
    d.prepare("UPDATE notes SET body = 'now to a passphrase' WHERE id = 3").run();
    d.close();
    const toPassphrase = cli(['dehydrate'], dir, { DB_HYDRATION_AGE_PASSPHRASE: PASSPHRASE });
    assert.equal(toPassphrase.code, 0, toPassphrase.stderr);
    const out = join(dir, 'out.json.gz');
    ageDecryptWithPassphrase(archive, out, dir);
    assert.match(execFileSync('gzip', ['-dc', out], { encoding: 'utf8' }), /"now to a passphrase"/);
  });

  it('git: the merge driver merges passphrase-encrypted archives and encrypts the result to the passphrase', () => {
    const repo = join(root.dir, 'pass-merge');
    mkdirSync(join(repo, 'data'), { recursive: true });
    const home = join(root.dir, 'pass-merge-home');
    mkdirSync(home);
    const env = {
      HOME: home,
      GIT_CONFIG_GLOBAL: join(home, 'none'),
      GIT_CONFIG_NOSYSTEM: '1',
      DB_HYDRATION_AGE_PASSPHRASE: PASSPHRASE,
    };
    const { run, git } = gitRunner(() => env);
    git(repo, 'init', '-q', '-b', 'main');
    git(repo, 'config', 'user.email', 'dev@example.com');
    git(repo, 'config', 'user.name', 'Dev');
    addLocalBin(repo);
    writeFileSync(join(repo, '.gitignore'), 'node_modules/\n');
    writeFileSync(join(repo, 'db-hydration.config.json'), JSON.stringify({ encrypt: { passphrase: true } }));
    const db = join(repo, 'data', 'notes.db');
    makeNotes(db, 'merge', 30);
    const dh = (...args: string[]): void => {
      const r = cli(args, repo, env);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    };
    const edit = (sql: string): void => {
      const d = new Database(db);
      d.exec(sql);
      d.close();
    };
    dh('git', 'install');
    dh('dehydrate');
    git(repo, 'add', '.');
    git(repo, 'commit', '-qm', 'start');
    git(repo, 'checkout', '-q', '-b', 'other');
    edit("UPDATE notes SET body = 'theirs-1' WHERE id = 1");
    dh('dehydrate');
    git(repo, 'commit', '-qam', 'theirs');
    git(repo, 'checkout', '-q', 'main');
    dh('hydrate', '--force');
    edit("UPDATE notes SET body = 'ours-2' WHERE id = 2");
    dh('dehydrate');
    git(repo, 'commit', '-qam', 'ours');
    const merged = run('git', ['merge', '-q', '--no-edit', 'other'], repo);
    assert.equal(merged.code, 0, merged.stdout + merged.stderr);
    const archive = join(repo, 'data', 'json_archives', 'notes.json.age');
    const bytes = readFileSync(archive);
    assert.ok(!bytes.includes('theirs-1'), 'the merged archive is encrypted');
    assert.match(bytes.subarray(0, 64).toString('latin1'), /^age-encryption\.org\/v1\n-> scrypt /);
    const out = join(root.dir, 'pass-merge.json');
    ageDecryptWithPassphrase(archive, out, repo);
    const text = readFileSync(out, 'utf8');
    assert.match(text, /"theirs-1"/);
    assert.match(text, /"ours-2"/);
  });
});

// CLI tests: the BUILT cli (node dist/cli.js; `npm test` builds first) run as real child processes on real
// databases in temp directories.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { CLI, cli, ROOT, type CliRun } from './helpers/cli.js';
import { makeDatabase, tempDir } from './helpers/fixtures.js';
import { snapshot } from './helpers/snapshot.js';
import { leafPagesOf, makeShop as makeBigShop, overwritePages } from './helpers/damage.js';

const COMMANDS = ['dehydrate', 'hydrate', 'fix', 'stats', 'status', 'verify'] as const;

function makeShop(path: string, extra = ''): void {
  makeDatabase(path, (db) => {
    db.exec(`
      CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, big INTEGER, data BLOB);
      CREATE TABLE notes (body TEXT);
      INSERT INTO items VALUES (1, 'one', 9223372036854775807, x'00ff'), (2, 'two', -9223372036854775808, NULL);
      INSERT INTO notes VALUES ('a'), ('b'), ('c');
      ${extra}
    `);
  });
}

function parseJson(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout) as Record<string, unknown>;
}

describe('db-hydration CLI', () => {
  let root: string;
  let cleanup: () => void;
  before(() => {
    ({ dir: root, cleanup } = tempDir('dh-cli-'));
  });
  after(() => {
    cleanup();
  });
  let n = 0;
  const project = (): string => {
    const dir = join(root, `p${++n}`);
    mkdirSync(join(dir, 'data'), { recursive: true });
    return dir;
  };

  it('prints its version (the package version) and help listing every command with examples', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const version = cli(['--version'], root);
    assert.equal(version.code, 0);
    assert.equal(version.stdout.trim(), pkg.version);
    const help = cli(['--help'], root);
    assert.equal(help.code, 0);
    for (const c of COMMANDS) assert.match(help.stdout, new RegExp(`^  ${c} `, 'm'));
    assert.match(help.stdout, /Exit codes: 0 success, 1 .*, 2 usage error/);
  });

  it('ends quietly when its reader closes the pipe early (`--help | head -1`)', () => {
    const r = spawnSync('bash', ['-c', `node ${JSON.stringify(CLI)} --help | head -1`], {
      cwd: root,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^Usage: db-hydration/);
    assert.doesNotMatch(r.stderr, /EPIPE|Unhandled/);
  });

  it('gives every command a --help with its options and examples', () => {
    for (const c of COMMANDS) {
      const r = cli([c, '--help'], root);
      assert.equal(r.code, 0, c);
      for (const option of [
        '--data-dir',
        '--archive-dir',
        '--config',
        '--db',
        '--json',
        '--quiet',
        '--verbose',
      ])
        assert.ok(r.stdout.includes(option), `${c} --help lacks ${option}`);
      assert.match(r.stdout, /Examples:\n {2}\$ .*db-hydration /, c);
    }
    assert.match(cli(['hydrate', '--help'], root).stdout, /--force/);
  });

  it('exits 2 with a suggestion on a wrong command, option or value, and prints nothing on stdout', () => {
    const cases: [string[], RegExp][] = [
      [['dehydrat'], /unknown command 'dehydrat'[\s\S]*Did you mean dehydrate\?/],
      [['hydrate', '--forse'], /unknown option '--forse'[\s\S]*Did you mean --force\?/],
      [['stats', '--busy-timeout', 'soon'], /--busy-timeout must be a whole number/],
      [
        ['fix', '--busy-timeout', '3000000000'],
        /--busy-timeout must be a whole number of milliseconds from 0 to 2147483647/,
      ],
      [['status', '--data-dir'], /option '--data-dir <dir>' argument missing/],
      [['dehydrate', '--db', '../etc/passwd.db'], /not a database file name/],
      [[], /Usage: db-hydration/],
    ];
    for (const [args, message] of cases) {
      const r = cli(args, root);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
    }
  });

  it('dehydrates and hydrates on another machine into the same database; --json output parses', () => {
    const a = project();
    makeShop(join(a, 'data', 'shop.db'));
    const d = cli(['dehydrate', '--json'], a);
    assert.equal(d.code, 0, d.stderr);
    const result = parseJson(d.stdout);
    assert.deepEqual(Object.keys(result.databases as object), ['shop.db']);
    assert.equal(result.totalRows, 5);
    assert.deepEqual(result.errors, []);
    assert.equal(d.stderr, '');

    const b = project();
    const h = cli(['hydrate', '--archive-dir', join(a, 'data', 'json_archives')], b);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /hydrated {2}shop\.db <- .*shop\.json {2}\(2 tables, 5 rows\)/);
    assert.match(h.stdout, /^Hydrated 1 database, skipped 0: 2 tables, 5 rows in \d+/m);
    assert.deepEqual(snapshot(join(b, 'data', 'shop.db')), snapshot(join(a, 'data', 'shop.db')));

    // Second run: the database exists, so it is skipped; --force replaces it and reports the backup.
    const again = cli(['hydrate', '--archive-dir', join(a, 'data', 'json_archives')], b);
    assert.match(again.stdout, /skipped {3}shop\.db {2}\(exists; use --force to replace it\)/);
    const forced = cli(
      ['hydrate', '--force', '--json', '--archive-dir', join(a, 'data', 'json_archives')],
      b,
    );
    assert.equal(forced.code, 0, forced.stderr);
    const fr = parseJson(forced.stdout) as {
      databases: Record<string, { status: string; backupPath: string }>;
    };
    const entry = new Map(Object.entries(fr.databases)).get('shop.db');
    assert.equal(entry?.status, 'hydrated');
    assert.ok(existsSync(entry.backupPath));
  });

  it('reports a damaged database with its file, reason and next step, keeps its archive, and exits 1', () => {
    const p = project();
    makeShop(join(p, 'data', 'shop.db'));
    makeShop(join(p, 'data', 'other.db'));
    assert.equal(cli(['dehydrate', '-q'], p).code, 0);
    const archive = join(p, 'data', 'json_archives', 'shop.json');
    const before = readFileSync(archive);
    writeFileSync(join(p, 'data', 'shop.db'), Buffer.alloc(8192, 0x41));
    const r = cli(['dehydrate'], p);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error: .*shop\.db/);
    assert.match(r.stderr, /hint: .*db-hydration fix/);
    assert.match(r.stdout, /unchanged {2}other\.db/);
    assert.deepEqual(readFileSync(archive), before);
    const json = cli(['dehydrate', '--json'], p);
    assert.equal(json.code, 1);
    assert.equal(json.stderr, '');
    const parsed = parseJson(json.stdout) as { errorDetails: { file: string; code: string }[] };
    assert.equal(parsed.errorDetails.length, 1);
    assert.ok(parsed.errorDetails[0]?.file.endsWith('shop.db'));
    // A command that fails as a whole still answers --json with JSON on stdout; a data directory that is a file is
    // a wrong option value (exit 2), said in words.
    writeFileSync(join(p, 'not-a-dir'), 'x');
    const whole = cli(['dehydrate', '--data-dir', 'not-a-dir', '--json'], p);
    assert.equal(whole.code, 2);
    assert.match(whole.stderr, /error: .*not-a-dir: the data directory is a file, not a directory/);
    assert.match(whole.stderr, /hint: give --data-dir/);
    assert.equal(whole.stdout, '', 'a usage error (exit 2) prints nothing on stdout, with --json too');
  });

  it('fails on a data directory that does not exist, creating nothing, and never reports success for nothing checked', () => {
    const p = project();
    makeShop(join(p, 'data', 'shop.db'));
    assert.equal(cli(['dehydrate', '-q'], p).code, 0);
    for (const command of ['dehydrate', 'fix', 'verify', 'status']) {
      const r = cli([command, '--data-dir', 'typo'], p);
      assert.equal(r.code, 2, `${command}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /error: .*typo: the data directory does not exist/, command);
      assert.match(r.stderr, /hint: check --data-dir/, command);
      assert.equal(r.stdout, '', command);
      assert.equal(existsSync(join(p, 'typo')), false, `${command} created the data directory`);
    }
    // hydrate into a missing data directory (a fresh clone) creates it.
    const h = cli(['hydrate', '--data-dir', 'fresh', '--archive-dir', 'data/json_archives'], p);
    assert.equal(h.code, 0, h.stderr);
    assert.ok(existsSync(join(p, 'fresh', 'shop.db')));
    // An existing but empty data and archive directory: nothing to check is not a success.
    mkdirSync(join(p, 'empty'));
    const verify = cli(['verify', '--data-dir', 'empty'], p);
    assert.equal(verify.code, 1, verify.stdout);
    assert.doesNotMatch(verify.stdout, /OK/);
    assert.match(verify.stderr, /empty[/\\]json_archives: there are no archives to verify/);
    assert.match(verify.stderr, /hint: .*db-hydration dehydrate/);
    const status = cli(['status', '--data-dir', 'empty', '--json'], p);
    assert.equal(status.code, 1);
    const result = parseJson(status.stdout) as { clean: boolean; errorDetails: { code: string }[] };
    assert.equal(result.clean, false);
    assert.equal(result.errorDetails[0]?.code, 'PATH');
    assert.match(cli(['status', '--data-dir', 'empty'], p).stderr, /found no databases in .*empty/);
  });

  it('says in words, with a hint and exit 2, that an --archive-dir is a file or a --db name does not exist', () => {
    const p = project();
    makeShop(join(p, 'data', 'shop.db'));
    assert.equal(cli(['dehydrate', '-q'], p).code, 0);
    writeFileSync(join(p, 'archives.txt'), 'not a directory');
    for (const command of COMMANDS) {
      const r = cli([command, '--archive-dir', 'archives.txt'], p);
      assert.equal(r.code, 2, `${command}: ${r.stdout}${r.stderr}`);
      assert.match(
        r.stderr,
        /error: .*archives\.txt: the archive directory is a file, not a directory/,
        command,
      );
      assert.match(r.stderr, /hint: give --archive-dir .* a directory/, command);
      assert.doesNotMatch(r.stderr, /EEXIST|ENOTDIR|ENOENT/, command);
      assert.equal(readFileSync(join(p, 'archives.txt'), 'utf8'), 'not a directory');
    }
    for (const command of COMMANDS) {
      const r = cli([command, '--db', 'nosuch'], p);
      assert.equal(r.code, 2, `${command}: ${r.stdout}${r.stderr}`);
      assert.match(
        r.stderr,
        /error: --db nosuch: there is no database data[/\\]nosuch\.db and no archive data[/\\]json_archives[/\\]nosuch\.json/,
        command,
      );
      assert.match(r.stderr, /hint: check the name; the databases here are: shop/, command);
      assert.doesNotMatch(r.stderr, /ENOENT/, command);
      assert.equal(existsSync(join(p, 'data', 'nosuch.db')), false, command);
    }
    // A database without its archive yet: verify names the missing archive, not ENOENT.
    makeShop(join(p, 'data', 'fresh.db'));
    const v = cli(['verify', '--db', 'fresh'], p);
    assert.equal(v.code, 1);
    assert.match(v.stderr, /fresh\.json: there is no archive for this database/);
    assert.match(v.stderr, /hint: .*db-hydration dehydrate/);
    // An archive without its database: dehydrate says there is no such database file.
    unlinkSync(join(p, 'data', 'shop.db'));
    const d = cli(['dehydrate', '--db', 'shop'], p);
    assert.equal(d.code, 1);
    assert.match(d.stderr, /shop\.db: there is no such database file, so it was not dehydrated/);
    assert.match(d.stderr, /hint: .*db-hydration hydrate/);
  });

  it('verify runs again in a child process with a small young generation, and keeps its output and exit codes', () => {
    const p = project();
    makeShop(join(p, 'data', 'shop.db'));
    assert.equal(cli(['dehydrate', '-q'], p).code, 0);
    // A preloaded probe records each Node process's flags: the CLI's, then its child's.
    const probe = join(p, 'probe.cjs');
    const log = join(p, 'flags.log');
    writeFileSync(
      probe,
      `require('node:fs').appendFileSync(${JSON.stringify(log)}, JSON.stringify(process.execArgv) + '\\n');`,
    );
    const same = cli(['verify'], p, { NODE_OPTIONS: `--require ${probe}` });
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /^OK: 1 of 1 database matches its archive/m);
    const runs = readFileSync(log, 'utf8').trim().split('\n');
    assert.equal(runs.length, 2, runs.join(' | '));
    assert.deepEqual(JSON.parse(runs[0] ?? ''), []);
    assert.deepEqual(JSON.parse(runs[1] ?? ''), ['--max-semi-space-size=2']);
    // A difference still exits 1, through the child.
    const db = new Database(join(p, 'data', 'shop.db'));
    db.exec("UPDATE items SET name = 'changed' WHERE id = 1");
    db.close();
    const different = cli(['verify', '--json'], p);
    assert.equal(different.code, 1);
    assert.equal((JSON.parse(different.stdout) as { ok: boolean }).ok, false);
    // A semi-space size given already: no second process.
    unlinkSync(log);
    const given = cli(['verify', '-q'], p, { NODE_OPTIONS: `--require ${probe} --max-semi-space-size=4` });
    assert.equal(given.code, 1);
    assert.equal(readFileSync(log, 'utf8').trim().split('\n').length, 1);
  });

  it('names a directory standing at a database path in every command, says what to do, and never moves it', () => {
    const p = project();
    const data = join(p, 'data');
    makeShop(join(data, 'shop.db'));
    makeShop(join(data, 'other.db'));
    assert.equal(cli(['dehydrate', '-q'], p).code, 0);
    const archive = join(data, 'json_archives', 'shop.json');
    const archiveBytes = readFileSync(archive);
    unlinkSync(join(data, 'shop.db'));
    mkdirSync(join(data, 'shop.db'));
    writeFileSync(join(data, 'shop.db', 'inside.txt'), 'keep me');
    const listing = (): string[] => readdirSync(data).sort();
    const before = listing();
    const said = /shop\.db: it is a directory, not a database file/;
    const hint = /hint: db-hydration leaves it where it is: move or rename the directory yourself/;
    for (const args of [['dehydrate'], ['hydrate'], ['hydrate', '--force'], ['verify'], ['fix']]) {
      const r = cli(args, p);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, said, args.join(' '));
      assert.match(r.stderr, /hint: .*move or rename/, args.join(' '));
      assert.deepEqual(
        listing().filter((f) => !f.endsWith('.bak')),
        before,
        args.join(' '),
      );
      assert.deepEqual(readdirSync(join(data, 'shop.db')), ['inside.txt'], args.join(' '));
      assert.deepEqual(readFileSync(archive), archiveBytes, args.join(' '));
    }
    assert.match(cli(['fix'], p).stderr, hint);
    const status = cli(['status', '--json'], p);
    const states = (parseJson(status.stdout) as { databases: { fileName: string; state: string }[] })
      .databases;
    assert.deepEqual(
      states.map((d) => [d.fileName, d.state]),
      [
        ['other.db', 'in-sync'],
        ['shop.db', 'not-a-file'],
      ],
    );
    assert.match(cli(['status'], p).stdout, /^shop\.db +not a database file .*move it away/m);
  });

  it('hydrate over a database with damaged pages says it is damaged and points at fix, leaving it as it is', () => {
    const p = project();
    const shop = join(p, 'data', 'shop.db');
    makeBigShop(shop, 2000);
    makeShop(join(p, 'data', 'other.db'));
    assert.equal(cli(['dehydrate', '-q'], p).code, 0);
    overwritePages(shop, leafPagesOf(shop, 'items').slice(2, 4));
    const damaged = readFileSync(shop);
    const r = cli(['hydrate'], p);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^skipped {3}shop\.db {2}\(exists but is not usable; see the error below\)$/m);
    assert.match(r.stdout, /^skipped {3}other\.db {2}\(exists; use --force to replace it\)$/m);
    assert.match(r.stderr, /error: .*shop\.db: exists but is damaged \(.*\), so it was not hydrated/);
    assert.match(r.stderr, /hint: run `db-hydration fix`/);
    assert.doesNotMatch(r.stderr, /other\.db/);
    assert.deepEqual(readFileSync(shop), damaged);
  });

  it('status tells in sync, changed (naming the table), missing, damaged and no archive yet', () => {
    const p = project();
    const data = join(p, 'data');
    for (const name of ['same', 'changed', 'gone', 'broken']) makeShop(join(data, `${name}.db`));
    assert.equal(cli(['dehydrate', '-q'], p).code, 0);
    makeShop(join(data, 'fresh.db'));
    makeDatabase(join(data, 'changed.db'), (db) => db.exec("UPDATE notes SET body = 'B' WHERE body = 'b'"));
    writeFileSync(
      join(data, 'broken.db'),
      'version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n',
    );
    unlinkSync(join(data, 'gone.db'));
    const r = cli(['status', '--json'], p);
    assert.equal(r.code, 0, r.stderr);
    const result = parseJson(r.stdout) as {
      clean: boolean;
      databases: { fileName: string; state: string; changedTable?: string }[];
    };
    const states = Object.fromEntries(result.databases.map((d) => [d.fileName, d.state]));
    assert.deepEqual(states, {
      'broken.db': 'damaged',
      'changed.db': 'changed',
      'fresh.db': 'no-archive',
      'gone.db': 'missing',
      'same.db': 'in-sync',
    });
    assert.equal(result.databases.find((d) => d.fileName === 'changed.db')?.changedTable, 'notes');
    assert.equal(result.clean, false);
    const human = cli(['status'], p);
    assert.match(human.stdout, /^database +state +archive exported +next step$/m);
    assert.match(
      human.stdout,
      /^changed\.db +changed since archive \(table "notes"\) +\d{4}-\d\d-\d\d .*db-hydration dehydrate/m,
    );
    assert.match(human.stdout, /^broken\.db +damaged .*db-hydration fix/m);
    assert.match(human.stdout, /^gone\.db +missing .*db-hydration hydrate/m);
    assert.match(
      human.stdout,
      /5 databases: 1 in sync, 1 changed since archive, 1 missing, 1 damaged, 1 no archive yet\./,
    );
  });

  it('verify exits 0 when every archive matches and 1 naming the table when one does not', () => {
    const p = project();
    makeShop(join(p, 'data', 'shop.db'));
    assert.equal(cli(['dehydrate', '-q'], p).code, 0);
    const ok = cli(['verify'], p);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^same +shop\.db {2}matches /m);
    assert.match(ok.stdout, /OK: 1 of 1 database match/);
    makeDatabase(join(p, 'data', 'shop.db'), (db) => db.exec("UPDATE items SET data = x'01' WHERE id = 2"));
    const bad = cli(['verify', '--json'], p);
    assert.equal(bad.code, 1);
    const result = parseJson(bad.stdout) as {
      ok: boolean;
      databases: { status: string; difference?: { table?: string } }[];
    };
    assert.equal(result.ok, false);
    assert.equal(result.databases.at(0)?.status, 'different');
    assert.equal(result.databases.at(0)?.difference?.table, 'items');
  });

  it('summaries count only what the run did, in the singular for one', () => {
    const p = project();
    makeShop(join(p, 'data', 'shop.db'));
    assert.equal(cli(['dehydrate', '-q'], p).code, 0);
    const one = cli(['verify'], p);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^OK: 1 of 1 database matches its archive \(/m);
    // A dehydrate that failed on its only database dehydrated nothing: its kept archive's tables are not counted.
    writeFileSync(join(p, 'data', 'shop.db'), Buffer.alloc(8192, 0x41));
    const failed = cli(['dehydrate'], p);
    assert.equal(failed.code, 1);
    assert.match(
      failed.stdout,
      /^Dehydrated 0 databases \(0 changed\): 0 tables, 0 rows in \S+ \S+\. 1 error\.$/m,
    );
    const json = parseJson(cli(['dehydrate', '--json'], p).stdout);
    assert.deepEqual([json.totalTables, json.totalRows], [0, 0]);
    // Two databases, one of them still damaged: only the other is counted.
    makeShop(join(p, 'data', 'other.db'));
    const mixed = cli(['dehydrate'], p);
    assert.equal(mixed.code, 1);
    assert.match(
      mixed.stdout,
      /^Dehydrated 1 database \(1 changed\): 2 tables, 5 rows in \S+ \S+\. 1 error\.$/m,
    );
    unlinkSync(join(p, 'data', 'shop.db'));
    makeShop(join(p, 'data', 'shop.db'));
    assert.equal(cli(['dehydrate', '-q'], p).code, 0);
    const two = cli(['verify'], p);
    assert.equal(two.code, 0, two.stderr);
    assert.match(two.stdout, /^OK: 2 of 2 databases match their archives \(/m);
    makeDatabase(join(p, 'data', 'shop.db'), (db) => db.exec("UPDATE items SET name = 'uno' WHERE id = 1"));
    const half = cli(['verify'], p);
    assert.equal(half.code, 1);
    assert.match(half.stdout, /^FAILED: 1 of 2 databases matches its archive \(/m);
  });

  it('fix restores a damaged database from its archive and keeps the damaged file', () => {
    const p = project();
    const db = join(p, 'data', 'shop.db');
    makeShop(db);
    const original = snapshot(db);
    assert.equal(cli(['dehydrate', '-q'], p).code, 0);
    writeFileSync(db, '<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> branch\n');
    const r = cli(['fix'], p);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /shop\.db: .*merge/i);
    assert.match(r.stdout, /-> restored from data\/json_archives\/shop\.json/);
    assert.match(r.stdout, /-> damaged file kept as data\/shop\.db\.corrupt-/);
    assert.match(r.stdout, /Checked 1 database: 1 missing or damaged, 1 fixed/);
    assert.deepEqual(snapshot(db), original);
    assert.equal(readdirSync(join(p, 'data')).filter((f) => f.startsWith('shop.db.corrupt-')).length, 1);
  });

  it('stats prints an aligned table with readable sizes; --json totals agree', () => {
    const p = project();
    makeShop(
      join(p, 'data', 'shop.db'),
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO notes SELECT 'n' || i FROM n",
    );
    assert.equal(cli(['dehydrate', '-q'], p).code, 0);
    const r = cli(['stats', '--verbose'], p);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^database +tables +rows +archive size +plain size +exported at +db file$/m);
    assert.match(
      r.stdout,
      /^shop\.db +2 +2,005 +\d+\.\d KB +\d+\.\d KB +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC +present$/m,
    );
    assert.match(r.stdout, /^ {2}notes: 2,003 rows$/m);
    const json = parseJson(cli(['stats', '--json'], p).stdout) as { totalRows: number; totalBytes: number };
    assert.equal(json.totalRows, 2005);
    assert.equal(json.totalBytes, statSync(join(p, 'data', 'json_archives', 'shop.json')).size);
  });

  it('reads the config file, lets flags override it, and rejects a bad key with exit 2', () => {
    const p = project();
    mkdirSync(join(p, 'dbs'));
    makeShop(join(p, 'dbs', 'a.db'));
    makeShop(join(p, 'dbs', 'b.db'));
    writeFileSync(
      join(p, 'db-hydration.config.json'),
      JSON.stringify({ dataDir: 'dbs', archiveDir: 'archives', databases: ['a.db'] }),
    );
    const r = cli(['dehydrate', '--json'], p);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(Object.keys(parseJson(r.stdout).databases as object), ['a.db']);
    assert.ok(existsSync(join(p, 'archives', 'a.json')));
    // --db overrides the configured list, --archive-dir the configured archive dir.
    const o = cli(['dehydrate', '--db', 'b', '--archive-dir', 'other', '--json'], p);
    assert.equal(o.code, 0, o.stderr);
    assert.deepEqual(Object.keys(parseJson(o.stdout).databases as object), ['b.db']);
    assert.ok(existsSync(join(p, 'other', 'b.json')));
    writeFileSync(join(p, 'db-hydration.config.json'), JSON.stringify({ dataDir: 'dbs', backups: 3 }));
    const bad = cli(['stats'], p);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /db-hydration\.config\.json: unknown key "backups"/);
  });

  it('keeps only backupsKept backups per database when hydrate --force replaces it', () => {
    const p = project();
    makeShop(join(p, 'data', 'shop.db'));
    writeFileSync(join(p, 'package.json'), JSON.stringify({ name: 'app', dbHydration: { backupsKept: 2 } }));
    assert.equal(cli(['dehydrate', '-q'], p).code, 0);
    for (let i = 0; i < 4; i++) assert.equal(cli(['hydrate', '--force', '-q'], p).code, 0);
    const backups = readdirSync(join(p, 'data')).filter(
      (f) => f.startsWith('shop.db.') && f.endsWith('.bak'),
    );
    assert.equal(backups.length, 2, backups.join(', '));
  });

  it('--quiet prints nothing on success; errors still go to stderr', () => {
    const p = project();
    makeShop(join(p, 'data', 'shop.db'));
    const r = cli(['dehydrate', '--quiet'], p);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, '');
    const db = new Database(join(p, 'data', 'shop.db'));
    db.close();
    writeFileSync(join(p, 'data', 'shop.db'), Buffer.alloc(100));
    const e = cli(['dehydrate', '--quiet'], p);
    assert.equal(e.code, 1);
    assert.equal(e.stdout, '');
    assert.match(e.stderr, /shop\.db/);
  });

  it('--json: errors are in the JSON on stdout and nothing is on stderr, also when the command fails as a whole', () => {
    // docs/cli.md: "Nothing is printed on stderr for errors that are in the result." A usage error (exit 2) has no
    // result: its message goes to stderr and stdout stays empty.
    const p = project();
    makeShop(join(p, 'data', 'shop.db'));
    assert.equal(cli(['dehydrate', '-q'], p).code, 0);
    writeFileSync(join(p, 'data', 'shop.db'), Buffer.alloc(8192, 0x41));
    writeFileSync(join(p, 'data', 'json_archives', 'broken.json'), '{"database": "broken", ');
    writeFileSync(join(p, 'a-file'), 'x');
    const runs: [string, string[]][] = [
      ...COMMANDS.map((c): [string, string[]] => [c, [c, '--json']]),
      // The whole command fails: the data or archive directory is a file.
      ...COMMANDS.map((c): [string, string[]] => [
        `${c} --data-dir a-file`,
        [c, '--data-dir', 'a-file', '--json'],
      ]),
      ...COMMANDS.map((c): [string, string[]] => [
        `${c} --archive-dir a-file`,
        [c, '--archive-dir', 'a-file', '--json'],
      ]),
    ];
    const results = new Map<string, CliRun>();
    for (const [name, args] of runs) {
      const r = cli(args, p);
      results.set(name, r);
      if (r.code === 2) {
        assert.equal(r.stdout, '', name);
        assert.match(r.stderr, /^error: /, name);
        continue;
      }
      assert.equal(r.stderr, '', `${name}: printed on stderr with --json`);
      const answer = parseJson(r.stdout);
      assert.ok(Array.isArray(answer.errors) && Array.isArray(answer.errorDetails), name);
    }
    // The commands that read the damaged database or the broken archive report it in their result, exit 1.
    for (const c of ['dehydrate', 'hydrate', 'fix', 'stats', 'verify']) {
      const r = results.get(c);
      assert.equal(r?.code, 1, `${c}: ${r?.stdout ?? ''}`);
      assert.ok(((parseJson(r.stdout).errors as string[] | undefined) ?? []).length > 0, c);
    }
    const usage = cli(['status', '--json', '--busy-timeout', 'soon'], p);
    assert.equal(usage.code, 2);
    assert.equal(usage.stdout, '');
    assert.match(usage.stderr, /^error: --busy-timeout/);
  });
});

describe('db-hydration CLI progress bars', () => {
  // `script` runs the CLI under a pseudo-terminal, so stderr is a TTY as in an interactive shell.
  const underTty = (args: string, cwd: string): string => {
    const r = spawnSync('script', ['-qec', `node ${CLI} ${args}`, '/dev/null'], {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, DB_HYDRATION_PROGRESS_DELAY_MS: '0' },
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };

  it('draws a bar on a terminal, and none with --json, --quiet or when stderr is not a terminal', () => {
    const { dir, cleanup } = tempDir('dh-cli-tty-');
    try {
      mkdirSync(join(dir, 'data'));
      makeShop(
        join(dir, 'data', 'shop.db'),
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) INSERT INTO notes SELECT 'n' || i FROM n",
      );
      const tty = underTty('dehydrate', dir);
      assert.match(tty, /dehydrate shop \[[█░]+\] \d+% \| notes: \d+\/20003 rows/);
      assert.match(tty, /Dehydrated 1 database/);
      const json = underTty('hydrate --force --json', dir);
      assert.doesNotMatch(json, /\[[█░]+\]/);
      JSON.parse(json.replace(/\r/g, ''));
      assert.doesNotMatch(underTty('hydrate --force --quiet', dir), /\[[█░]+\]/);
      const plain = cli(['hydrate', '--force'], dir, { DB_HYDRATION_PROGRESS_DELAY_MS: '0' });
      assert.equal(plain.stderr, '');
      assert.match(underTty('hydrate --force', dir), /hydrate shop \[[█░]+\]/);
    } finally {
      cleanup();
    }
  });
});

// `db-hydration git install | uninstall | check | pre-commit` with REAL git in temp repositories: the built CLI runs
// as a child process (and git runs our hooks, which run it through the launcher); git's global and system config
// are shut out, so only what the test (and install) sets is seen.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { cli, ROOT, type CliRun } from './helpers/cli.js';
import { addLocalBin, gitRunner } from './helpers/git.js';
import { makeDatabase, tempDir } from './helpers/fixtures.js';
import { installGit, uninstallGit } from '../src/index.js';
import { DRIVER_COMMAND } from '../src/git/driver-command.js';
import { attributeLines, ignoreLines } from '../src/git/patterns.js';

let root: string;
let cleanup: () => void;
let env: NodeJS.ProcessEnv;

before(() => {
  ({ dir: root, cleanup } = tempDir('dh-git-'));
  const home = join(root, 'home');
  mkdirSync(home);
  env = {
    HOME: home,
    GIT_CONFIG_GLOBAL: join(home, 'no-global-config'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_DIR: undefined,
    GIT_WORK_TREE: undefined,
    GIT_INDEX_FILE: undefined,
  };
  // The library functions called in this process (the property test) see the same isolation.
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) Reflect.deleteProperty(process.env, k);
    else process.env[k] = v;
  }
});
after(() => {
  cleanup();
});

const { run, git } = gitRunner(() => env);

function dh(cwd: string, ...args: string[]): CliRun {
  return cli(args, cwd, env);
}

let n = 0;
/** A fresh repository with a data directory and db-hydration as a "local dependency" in node_modules/.bin. */
function newRepo(): string {
  const dir = join(root, `repo${++n}`);
  mkdirSync(join(dir, 'data'), { recursive: true });
  git(dir, 'init', '-q', '-b', 'main');
  git(dir, 'config', 'user.email', 'test@example.com');
  git(dir, 'config', 'user.name', 'Test');
  addLocalBin(dir);
  return dir;
}

function makeApp(dir: string): void {
  makeDatabase(join(dir, 'data', 'app.db'), (db) => {
    db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);
      INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three');`);
  });
}

/** Every byte (and mode) of the files install and uninstall may touch. */
function setupFiles(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const add = (name: string, path: string): void => {
    if (existsSync(path))
      out[name] = `${(statSync(path).mode & 0o777).toString(8)}:${readFileSync(path).toString('base64')}`;
  };
  add('.gitattributes', join(dir, '.gitattributes'));
  add('.gitignore', join(dir, '.gitignore'));
  add('config', join(dir, '.git', 'config'));
  const hooks = join(dir, '.git', 'hooks');
  for (const h of readdirSync(hooks)) add(`hooks/${h}`, join(hooks, h));
  return out;
}

const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

describe('db-hydration git install / uninstall', () => {
  it('install writes the attributes, ignore rules, driver and hooks; a second install changes no byte', () => {
    const dir = newRepo();
    const first = dh(dir, 'git', 'install', '--hooks');
    assert.equal(first.code, 0, first.stderr);
    const attributes = readFileSync(join(dir, '.gitattributes'), 'utf8');
    assert.match(attributes, /^data\/json_archives\/\*\.json merge=db-hydration diff=db-hydration$/m);
    assert.match(attributes, /^data\/json_archives\/manifest\.json merge=db-hydration$/m);
    const ignore = readFileSync(join(dir, '.gitignore'), 'utf8');
    for (const line of ['data/*.db', 'data/*-wal', 'data/*.bak', 'data/*.corrupt-*', 'data/.db-hydration/'])
      assert.ok(ignore.split('\n').includes(line), line);
    assert.equal(git(dir, 'config', '--local', '--get', 'merge.db-hydration.driver').trim(), DRIVER_COMMAND);
    assert.match(git(dir, 'config', '--local', '--get', 'merge.db-hydration.name'), /db-hydration/);
    for (const h of ['post-merge', 'post-checkout', 'post-rewrite', 'pre-commit'])
      assert.ok((statSync(join(dir, '.git', 'hooks', h)).mode & 0o111) !== 0, h);
    // git itself sees the attributes and ignores the databases and their side files.
    assert.match(git(dir, 'check-attr', 'merge', 'data/json_archives/app.json'), /merge: db-hydration/);
    assert.equal(run('git', ['check-ignore', '-q', 'data/app.db-wal'], dir).code, 0);
    assert.equal(run('git', ['check-ignore', '-q', 'data/app.db.2026-01-01T00-00-00-000Z.bak'], dir).code, 0);
    assert.equal(run('git', ['check-ignore', '-q', 'data/json_archives/app.json'], dir).code, 1);

    const before = setupFiles(dir);
    const second = dh(dir, 'git', 'install', '--hooks', '--json');
    assert.equal(second.code, 0, second.stderr);
    const result = JSON.parse(second.stdout) as { changed: boolean; changes: { action: string }[] };
    assert.equal(result.changed, false);
    assert.ok(result.changes.every((c) => c.action === 'unchanged'));
    assert.deepEqual(setupFiles(dir), before);
  });

  it('uninstall restores pre-existing files exactly; an existing pre-commit hook is chained and keeps running', () => {
    const dir = newRepo();
    writeFileSync(join(dir, '.gitignore'), 'node_modules/\ndata/*.db\n# mine, no newline at the end');
    writeFileSync(join(dir, '.gitattributes'), '*.png binary\r\n');
    const hook = join(dir, '.git', 'hooks', 'pre-commit');
    writeFileSync(
      hook,
      '#!/bin/sh\nif [ -f stop ]; then echo "the original hook refuses" >&2; exit 3; fi\necho ran >> hook-ran\n',
    );
    chmodSync(hook, 0o750);
    const original = setupFiles(dir);

    const install = dh(dir, 'git', 'install', '--hooks');
    assert.equal(install.code, 0, install.stderr);
    const ignore = readFileSync(join(dir, '.gitignore'), 'utf8');
    assert.equal(ignore.split('\n').filter((l) => l === 'data/*.db').length, 1, 'no duplicated line');
    assert.ok(
      ignore.startsWith('node_modules/\ndata/*.db\n# mine, no newline at the end\n# db-hydration: begin'),
    );
    assert.ok(existsSync(`${hook}.pre-db-hydration`));

    writeFileSync(join(dir, 'README'), 'hello\n');
    git(dir, 'add', 'README');
    git(dir, 'commit', '-q', '-m', 'first');
    assert.equal(readFileSync(join(dir, 'hook-ran'), 'utf8'), 'ran\n', 'the chained hook ran');
    writeFileSync(join(dir, 'stop'), '');
    writeFileSync(join(dir, 'README'), 'hello again\n');
    git(dir, 'add', 'README');
    const refused = run('git', ['commit', '-q', '-m', 'second'], dir);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /the original hook refuses/);
    rmSync(join(dir, 'stop'));

    const uninstall = dh(dir, 'git', 'uninstall');
    assert.equal(uninstall.code, 0, uninstall.stderr);
    assert.deepEqual(setupFiles(dir), original);
  });

  it('a `git worktree add` worktree sees the driver, its launcher resolves there, and post-checkout hydrates', () => {
    const dir = newRepo();
    makeApp(dir);
    assert.equal(dh(dir, 'dehydrate').code, 0);
    assert.equal(dh(dir, 'git', 'install', '--hooks').code, 0);
    git(dir, 'add', '.gitattributes', '.gitignore', 'data/json_archives');
    git(dir, 'commit', '-q', '-m', 'archives');
    const wt = join(root, `worktree${n}`);
    git(dir, 'worktree', 'add', '-q', '-b', 'feature', wt);
    assert.equal(existsSync(join(wt, 'node_modules')), false, 'the worktree has no node_modules of its own');
    const driver = git(wt, 'config', '--get', 'merge.db-hydration.driver').trim();
    assert.equal(driver, DRIVER_COMMAND);
    assert.match(git(wt, 'check-attr', 'merge', 'data/json_archives/app.json'), /merge: db-hydration/);
    // The configured command, with db-hydration's arguments swapped for --version, run where git runs drivers.
    const launched = run('sh', ['-c', driver.replace('git merge %O %A %B --path %P', '--version')], wt);
    assert.equal(launched.code, 0, launched.stderr);
    assert.equal(launched.stdout.trim(), version);
    // The post-checkout hook of the new worktree ran `hydrate` through the same launcher.
    assert.ok(existsSync(join(wt, 'data', 'app.db')), 'post-checkout hydrated the database');
    const check = dh(wt, 'git', 'check');
    assert.equal(check.code, 0, check.stderr);
  });
});

describe('db-hydration git check', () => {
  it('passes on a good setup and fails, per problem, on a missing driver, missing attributes, markers, bad JSON', () => {
    const dir = newRepo();
    makeApp(dir);
    assert.equal(dh(dir, 'dehydrate').code, 0);
    assert.equal(dh(dir, 'git', 'install').code, 0);
    const good = dh(dir, 'git', 'check');
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /OK: .*1 archive/);

    git(dir, 'config', '--local', '--remove-section', 'merge.db-hydration');
    const noDriver = dh(dir, 'git', 'check');
    assert.equal(noDriver.code, 1);
    assert.match(noDriver.stderr, /merge driver "db-hydration" is not registered/);
    assert.equal(dh(dir, 'git', 'check', '--no-driver').code, 0, 'CI mode does not require the driver');
    assert.equal(dh(dir, 'git', 'install').code, 0);

    const attributes = readFileSync(join(dir, '.gitattributes'));
    writeFileSync(join(dir, '.gitattributes'), '*.png binary\n');
    const noAttributes = dh(dir, 'git', 'check', '--json');
    assert.equal(noAttributes.code, 1);
    const problems = (JSON.parse(noAttributes.stdout) as { problems: { kind: string; message: string }[] })
      .problems;
    assert.deepEqual(
      problems.map((p) => p.kind),
      ['attributes', 'attributes'],
    );
    assert.match(problems[0]?.message ?? '', /manifest\.json/);
    writeFileSync(join(dir, '.gitattributes'), attributes);

    const archive = join(dir, 'data', 'json_archives', 'app.json');
    const text = readFileSync(archive, 'utf8');
    const lines = text.split('\n');
    const row = lines.findIndex((l) => l.startsWith('{"id":2,'));
    assert.ok(row > 0, text);
    const marked = [
      ...lines.slice(0, row),
      '<<<<<<< HEAD',
      lines[row] ?? '',
      '=======',
      '{"id":2,"name":"deux"},',
      '>>>>>>> feature',
      ...lines.slice(row + 1),
    ];
    writeFileSync(archive, marked.join('\n'));
    const markers = dh(dir, 'git', 'check');
    assert.equal(markers.code, 1);
    assert.match(markers.stderr, /app\.json.*line \d+: unresolved merge conflict marker/);

    writeFileSync(archive, text.slice(0, Math.floor(text.length / 2)));
    const broken = dh(dir, 'git', 'check');
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /app\.json/);

    writeFileSync(archive, text);
    assert.equal(dh(dir, 'git', 'check').code, 0);
  });
});

describe('db-hydration git pre-commit', () => {
  it('the hook refuses a commit while a database has changes its staged archive lacks, and allows it after dehydrate + git add', () => {
    const dir = newRepo();
    makeApp(dir);
    makeDatabase(join(dir, 'data', 'scratch.db'), (db) => db.exec('CREATE TABLE t (x)'));
    assert.equal(dh(dir, 'dehydrate', '--db', 'app').code, 0);
    assert.equal(dh(dir, 'git', 'install', '--hooks').code, 0);
    git(dir, 'add', '.gitattributes', '.gitignore', 'data/json_archives/app.json');
    git(dir, 'commit', '-q', '-m', 'archives'); // scratch.db has no archive staged: skipped

    makeDatabase(join(dir, 'data', 'app.db'), (db) => db.exec("INSERT INTO items VALUES (4, 'four')"));
    writeFileSync(join(dir, 'notes.txt'), 'a change\n');
    git(dir, 'add', 'notes.txt');
    const refused = run('git', ['commit', '-q', '-m', 'notes'], dir);
    assert.notEqual(refused.code, 0, 'the commit must be refused');
    assert.match(
      refused.stderr,
      /app\.db has changes that its staged archive data\/json_archives\/app\.json lacks/,
    );
    assert.match(refused.stderr, /db-hydration dehydrate --db app && git add data\/json_archives\/app\.json/);
    assert.equal(git(dir, 'rev-list', '--count', 'HEAD').trim(), '1');

    // Dehydrated but not staged is still refused: the staged archive is what gets committed.
    assert.equal(dh(dir, 'dehydrate', '--db', 'app').code, 0);
    const unstaged = run('git', ['commit', '-q', '-m', 'notes'], dir);
    assert.notEqual(unstaged.code, 0);
    assert.match(unstaged.stderr, /run `git add data\/json_archives\/app.json`/);

    git(dir, 'add', 'data/json_archives/app.json');
    const allowed = run('git', ['commit', '-q', '-m', 'notes'], dir);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(git(dir, 'rev-list', '--count', 'HEAD').trim(), '2');
    const json = dh(dir, 'git', 'pre-commit', '--json');
    assert.equal(json.code, 0, json.stderr);
    const states = (JSON.parse(json.stdout) as { databases: { fileName: string; state: string }[] })
      .databases;
    assert.deepEqual(
      states.map((d) => [d.fileName, d.state]),
      [
        ['app.db', 'staged'],
        ['scratch.db', 'not-staged'],
      ],
    );
  });
});

describe('Property 16: git install and uninstall', () => {
  // Feature: database-hydration, Property 16: Git Setup Reversibility
  it('for any pre-existing .gitignore/.gitattributes, install is idempotent and uninstall restores the bytes', () => {
    const dir = newRepo();
    const ours = [...attributeLines('data/json_archives'), ...ignoreLines('data', 'data/json_archives')];
    const line = fc.oneof(
      fc.constantFrom(...ours, '', '# a comment', '*.log', '  data/*.db  '),
      fc
        .string({ maxLength: 30 })
        .filter((s) => !s.includes('\n') && !s.includes('\r') && !s.startsWith('# db-hydration')),
    );
    const content = fc.option(
      fc.record({
        lines: fc.array(line, { maxLength: 12 }),
        eol: fc.constantFrom('\n', '\r\n'),
        trailing: fc.boolean(),
      }),
      { nil: undefined },
    );
    const text = (c: { lines: string[]; eol: string; trailing: boolean } | undefined): string | undefined =>
      c === undefined ? undefined : c.lines.join(c.eol) + (c.trailing && c.lines.length > 0 ? c.eol : '');
    const place = (path: string, value: string | undefined): void => {
      if (value === undefined) rmSync(path, { force: true });
      else writeFileSync(path, value);
    };
    const options = { cwd: dir, dataDir: join(dir, 'data') };
    fc.assert(
      fc.property(content, content, (ignore, attributes) => {
        place(join(dir, '.gitignore'), text(ignore));
        place(join(dir, '.gitattributes'), text(attributes));
        const original = setupFiles(dir);
        const first = installGit(options);
        const installed = setupFiles(dir);
        // every line of ours is there exactly once, whether it was there before or not
        const count = (t: string | undefined, l: string): number =>
          (t ?? '').split(/\r?\n/).filter((a) => a.trim() === l).length;
        const after = readFileSync(join(dir, '.gitignore'), 'utf8');
        for (const l of ignoreLines('data', 'data/json_archives'))
          assert.equal(count(after, l), Math.max(1, count(text(ignore), l)), l);
        assert.equal(first.changed, true, 'the driver was registered');
        const second = installGit(options);
        assert.equal(second.changed, false);
        assert.deepEqual(setupFiles(dir), installed);
        uninstallGit(options);
        assert.deepEqual(setupFiles(dir), original);
      }),
      { numRuns: 100 },
    );
  });
});

// The install the README gives for another project: `npm pack` in a clone, then `npm install <the .tgz>`. The packed
// tarball is installed into a temp project outside this repository, and both the library import and the
// `db-hydration` bin run from there, as a real user's project would run them.
//
// What this proves: the tarball ships everything the import and the bin need (`files`, `exports`, `bin`, the
// shebang; npm makes the bin executable at install), its `dependencies` are complete (only they and their own
// dependencies are installed: no devDependency and no file of this repository can be reached from the temp project),
// and the package works when installed as a dependency.
//
// How it stays fast and offline: the temp project's lockfile pins the packed tarball and, for every package that
// the tarball's `dependencies` pull in, the exact entry (version, resolved URL, integrity) of this repository's
// package-lock.json, so `npm ci --offline` installs them from the npm cache that `npm ci` filled here. With
// `--ignore-scripts`, better-sqlite3's install script (a one-minute compile, there are no prebuilt binaries to
// download here) does not run; the test copies in this repository's compiled better_sqlite3.node, built by that very
// script for the same better-sqlite3 version and the same Node. So what is not proven here is only that
// better-sqlite3 compiles on install, which `npm ci` of this repository does itself.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers/cli.js';
import { makeDatabase, tempDir } from './helpers/fixtures.js';

interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly license?: string;
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
  readonly bin?: Record<string, string>;
  readonly engines?: Record<string, string>;
}

interface LockEntry {
  readonly version?: string;
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
}

function run(command: string, args: readonly string[], cwd: string): string {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${command} ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe('the packed package, installed into another project', () => {
  let root: string;
  let cleanup: () => void;
  let app: string;
  let pkg: PackageJson;
  let files: string[];
  before(() => {
    ({ dir: root, cleanup } = tempDir('dh-package-'));
    // `npm test` has just built dist/; --ignore-scripts skips `prepare`, which would rebuild dist/ under the other
    // test files that are running from it.
    const [packed] = JSON.parse(
      run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', root], ROOT),
    ) as { filename: string; files: { path: string }[] }[];
    assert.ok(packed !== undefined);
    files = packed.files.map((f) => f.path);
    const tarball = join(root, packed.filename);
    pkg = JSON.parse(run('tar', ['-xzOf', tarball, 'package/package.json'], root)) as PackageJson;

    app = join(root, 'app');
    for (const d of ['data', 'lib']) mkdirSync(join(app, d), { recursive: true });
    const spec = `file:../${packed.filename}`;
    const dependencies = { 'db-hydration': spec };
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module', dependencies }, null, 2),
    );
    // The packages the tarball's dependencies pull in, with this repository's locked versions (all are hoisted there).
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, LockEntry>;
    };
    const locked: Record<string, LockEntry> = {};
    const todo = Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies });
    for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
      const key = `node_modules/${name}`;
      if (key in locked) continue;
      const entry = lock.packages[key];
      assert.ok(entry !== undefined, `${name} is not in package-lock.json`);
      locked[key] = entry;
      todo.push(...Object.keys({ ...entry.dependencies, ...entry.optionalDependencies }));
      // A version a package needs that the hoisted one does not satisfy sits nested under it (age-encryption's
      // @noble/post-quantum pins older @noble/curves and @noble/hashes).
      for (const [nested, nestedEntry] of Object.entries(lock.packages))
        if (nested.startsWith(`${key}/node_modules/`)) locked[nested] = nestedEntry;
    }
    const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    writeFileSync(
      join(app, 'package-lock.json'),
      JSON.stringify(
        {
          name: 'app',
          lockfileVersion: 3,
          requires: true,
          packages: {
            '': { name: 'app', dependencies },
            'node_modules/db-hydration': {
              version: pkg.version,
              resolved: spec,
              integrity,
              license: pkg.license,
              dependencies: pkg.dependencies,
              bin: pkg.bin,
              engines: pkg.engines,
            },
            ...locked,
          },
        },
        null,
        2,
      ),
    );
    run('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], app);

    const versionOf = (dir: string): string =>
      (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    const installed = join(app, 'node_modules', 'better-sqlite3');
    assert.equal(versionOf(installed), versionOf(join(ROOT, 'node_modules', 'better-sqlite3')));
    mkdirSync(join(installed, 'build', 'Release'), { recursive: true });
    copyFileSync(
      join(ROOT, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node'),
      join(installed, 'build', 'Release', 'better_sqlite3.node'),
    );
  });
  after(() => {
    cleanup();
  });

  it("is the install the README gives for another project, with this version's tarball name", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const own = readme.slice(readme.indexOf('In your own project'));
    const block = /```sh\n([\s\S]*?)```/.exec(own)?.[1] ?? '';
    const tarball = `${pkg.name}-${pkg.version}.tgz`;
    assert.match(block, /^npm pack\b/m);
    assert.ok(block.includes(`npm install ../db-hydration/${tarball}`), block);
    // The registry name is only for later: it is not published, npm answers 404 for it today.
    assert.doesNotMatch(block, /npm install db-hydration\b/);
  });

  it('ships dist/ with the library entry, its types and the bin with a shebang, and not the sources', () => {
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'package.json', 'README.md'])
      assert.ok(files.includes(f), f);
    assert.deepEqual(
      files.filter((f) => /^(src|test|bench|scripts|examples)\//.test(f)),
      [],
    );
    assert.equal(pkg.name, 'db-hydration');
    assert.equal(pkg.bin?.['db-hydration'], 'dist/cli.js');
    const cli = join(app, 'node_modules', 'db-hydration', 'dist', 'cli.js');
    assert.match(readFileSync(cli, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  });

  it('runs the db-hydration bin of node_modules/.bin directly (shebang, executable)', () => {
    makeDatabase(join(app, 'data', 'shop.db'), (db) => {
      db.exec(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO items VALUES (1, 'one'), (2, 'two')",
      );
    });
    const bin = join(app, 'node_modules', '.bin', 'db-hydration');
    assert.equal(run(bin, ['--version'], app).trim(), pkg.version);
    assert.match(run(bin, ['dehydrate'], app), /Dehydrated 1 database \(1 changed\): 1 table, 2 rows/);
    assert.ok(existsSync(join(app, 'data', 'json_archives', 'shop.json')));
  });

  it("imports { DBHydrationManager } from 'db-hydration' and dehydrates and hydrates with it", () => {
    makeDatabase(join(app, 'lib', 'shop.db'), (db) => {
      db.exec(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO items VALUES (1, 'one'), (2, 'two')",
      );
    });
    const script = `
      import { DBHydrationManager } from 'db-hydration';
      import Database from 'better-sqlite3';
      const dehydrated = await new DBHydrationManager({ dataDir: 'lib' }).dehydrateAll();
      const hydrated = await new DBHydrationManager({ dataDir: 'copy', archiveDir: 'lib/json_archives' }).hydrateAll();
      const db = new Database('copy/shop.db', { readonly: true });
      console.log(JSON.stringify({
        resolved: import.meta.resolve('db-hydration'),
        errors: [...dehydrated.errors, ...hydrated.errors],
        rows: db.prepare('SELECT name FROM items ORDER BY id').pluck().all(),
      }));
      db.close();
    `;
    const out = JSON.parse(run(process.execPath, ['--input-type=module', '-e', script], app)) as {
      resolved: string;
      errors: string[];
      rows: string[];
    };
    assert.deepEqual(out.errors, []);
    assert.deepEqual(out.rows, ['one', 'two']);
    // From the installed copy, not from this repository.
    assert.equal(
      realpathSync(new URL(out.resolved)),
      realpathSync(join(app, 'node_modules', 'db-hydration', 'dist', 'index.js')),
    );
  });
});

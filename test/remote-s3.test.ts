/**
 * push and pull against a real S3-protocol server (s3rver on 127.0.0.1, started here), with the CLI as real child
 * processes where it is the subject: a fresh clone, nothing-changed pushes, concurrent pushes, a push killed midway,
 * a server answering 500, damaged objects, wrong credentials, local changes, and Property 20 (remote round trip).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { CLI, type CliRun } from './helpers/cli.js';
import { ageKeygen, makeDatabase, tempDir } from './helpers/fixtures.js';
import { S3_ENV, startProxy, startS3Server, useS3Env, type S3Server } from './helpers/s3-server.js';
import { buildDatabase, databaseSpec } from './helpers/generators.js';
import { DBHydrationManager } from '../src/manager.js';
import { HydrationError } from '../src/errors.js';
import { S3Store } from '../src/stores/s3-store.js';

let server: S3Server | undefined;
const s3 = (): S3Server => {
  if (server === undefined) throw new Error('s3rver is not running');
  return server;
};
let prefixes = 0;
/** A fresh remote URL (its own prefix in the one bucket). */
const freshRemote = (): string => `s3://${s3().bucket}/t${String((prefixes += 1))}`;

before(async () => {
  useS3Env();
  server = await startS3Server();
});
after(async () => {
  await server?.stop();
});

/** Runs the CLI asynchronously (the server runs in this process, so a synchronous spawn would block it); `env` adds to
 * the environment, and an empty value removes a variable. */
function cli(
  args: readonly string[],
  cwd: string,
  env: Record<string, string> = {},
  onSpawn?: (child: ChildProcess) => void,
): Promise<CliRun> {
  // An empty value unsets the variable (the SDK takes an empty AWS_REGION as a region named "").
  const childEnv = Object.fromEntries(
    Object.entries({ ...process.env, ...S3_ENV, ...env }).filter(([k, v]) => v !== '' || env[k] !== ''),
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
}

/** `--remote URL --endpoint ENDPOINT` */
const at = (remote: string, endpoint = s3().endpoint): string[] => [
  '--remote',
  remote,
  '--endpoint',
  endpoint,
];

/** A project directory with `data/<name>.db` databases of `rows` rows each, dehydrated. */
async function project(names: readonly string[], rows = 3): Promise<{ dir: string; cleanup: () => void }> {
  const t = tempDir('dh-remote-');
  mkdirSync(join(t.dir, 'data'));
  for (const name of names) {
    makeDatabase(join(t.dir, 'data', `${name}.db`), (db) => {
      db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT, n INTEGER)');
      const insert = db.prepare('INSERT INTO items VALUES (?, ?, ?)');
      for (let i = 1; i <= rows; i++) insert.run(i, `${name} ${String(i)}`, BigInt(i) * 9007199254740993n);
    });
  }
  const r = await cli(['dehydrate'], t.dir);
  assert.equal(r.code, 0, r.stderr);
  return t;
}

const archiveDir = (dir: string): string => join(dir, 'data', 'json_archives');

/** Every file of a directory (recursively, by relative path) with its bytes. */
function filesOf(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile())
      out.set(join(e.parentPath, e.name).slice(dir.length + 1), readFileSync(join(e.parentPath, e.name)));
  }
  return out;
}

function rowsOf(path: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    db.defaultSafeIntegers(true);
    return db.prepare('SELECT * FROM items ORDER BY id').all();
  } finally {
    db.close();
  }
}

/** Changes one row of a database and dehydrates. */
async function editAndDehydrate(dir: string, name: string, label: string): Promise<void> {
  const db = new Database(join(dir, 'data', `${name}.db`));
  db.prepare('UPDATE items SET label = ? WHERE id = 1').run(label);
  db.close();
  const r = await cli(['dehydrate'], dir);
  assert.equal(r.code, 0, r.stderr);
}

const putsOf = (requests: readonly string[], from: number): string[] =>
  requests.slice(from).filter((r) => r.startsWith('PUT '));

describe('push and pull (CLI, s3rver)', () => {
  it('push, then pull into an empty clone: same archives byte for byte, databases hydrated', async () => {
    const a = await project(['shop', 'users']);
    const b = tempDir('dh-remote-clone-');
    try {
      const remote = freshRemote();
      const pushed = await cli(['push', ...at(remote), '--json'], a.dir);
      assert.equal(pushed.code, 0, pushed.stderr);
      const result = JSON.parse(pushed.stdout) as { uploaded: number; manifestWritten: boolean };
      assert.equal(result.uploaded, 2);
      assert.equal(result.manifestWritten, true);
      assert.equal(pushed.stderr, '', 'no SDK warning or other noise on stderr');
      const prefix = remote.slice(`s3://${s3().bucket}/`.length);
      assert.equal(s3().keys(`${prefix}/objects/`).length, 2);

      const pulled = await cli(['pull', ...at(remote)], b.dir);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.match(pulled.stdout, /2 archives downloaded/);
      assert.deepEqual(filesOf(archiveDir(b.dir)), filesOf(archiveDir(a.dir)));
      for (const name of ['shop', 'users'])
        assert.deepEqual(
          rowsOf(join(b.dir, 'data', `${name}.db`)),
          rowsOf(join(a.dir, 'data', `${name}.db`)),
        );
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });

  it('a second push with nothing changed uploads nothing and writes nothing; one change uploads one object', async () => {
    const a = await project(['shop', 'users']);
    try {
      const remote = freshRemote();
      assert.equal((await cli(['push', ...at(remote)], a.dir)).code, 0);
      let mark = s3().requests.length;
      const again = await cli(['push', ...at(remote)], a.dir);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /up to date: nothing uploaded, nothing written/);
      assert.deepEqual(putsOf(s3().requests, mark), []);
      assert.equal(s3().requests.length - mark, 1, 'one GET of the remote manifest, nothing else');

      await editAndDehydrate(a.dir, 'shop', 'changed');
      mark = s3().requests.length;
      const third = await cli(['push', ...at(remote), '--json'], a.dir);
      assert.equal(third.code, 0, third.stderr);
      const puts = putsOf(s3().requests, mark);
      assert.equal(puts.filter((p) => p.includes('/objects/')).length, 1, puts.join('\n'));
      assert.equal(puts.filter((p) => p.includes('/manifest.json')).length, 1);
      const r = JSON.parse(third.stdout) as { archives: Record<string, { status: string }> };
      assert.equal(r.archives['shop.json']?.status, 'uploaded');
      assert.equal(r.archives['users.json']?.status, 'unchanged');
    } finally {
      a.cleanup();
    }
  });

  it('push refuses, uploading nothing, when a database has changes its archive lacks', async () => {
    const a = await project(['shop']);
    try {
      const db = new Database(join(a.dir, 'data', 'shop.db'));
      db.exec("UPDATE items SET label = 'not dehydrated' WHERE id = 2");
      db.close();
      const mark = s3().requests.length;
      const r = await cli(['push', ...at(freshRemote())], a.dir);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /shop\.db has changes its archive does not hold/);
      assert.match(r.stderr, /hint: run `db-hydration dehydrate`/);
      assert.equal(s3().requests.length, mark, 'not one request');
    } finally {
      a.cleanup();
    }
  });

  it('two concurrent pushes: one wins, the other is told to pull first, the remote holds one complete state', async () => {
    const proxy = await startProxy(s3().endpoint, { enforceConditions: true });
    const a = await project(['shop', 'users']);
    const b = await project(['shop', 'users']);
    const c = tempDir('dh-remote-clone-');
    try {
      const remote = freshRemote();
      await editAndDehydrate(a.dir, 'shop', 'from a');
      await editAndDehydrate(b.dir, 'users', 'from b');
      const [ra, rb] = await Promise.all([
        cli(['push', ...at(remote, proxy.endpoint)], a.dir),
        cli(['push', ...at(remote, proxy.endpoint)], b.dir),
      ]);
      const codes = [ra.code, rb.code].sort();
      assert.deepEqual(codes, [0, 1], `${ra.stderr}\n${rb.stderr}`);
      const loser = ra.code === 1 ? ra : rb;
      const winner = ra.code === 0 ? a : b;
      assert.match(loser.stderr, /pull first/);
      const pulled = await cli(['pull', ...at(remote)], c.dir);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.deepEqual(filesOf(archiveDir(c.dir)), filesOf(archiveDir(winner.dir)));
    } finally {
      await proxy.stop();
      a.cleanup();
      b.cleanup();
      c.cleanup();
    }
  });

  it('a push that lost the race between its check and its write is refused by If-Match (412), not written', async () => {
    // The other writer's manifest lands exactly between this push's HEAD check and its conditional PUT, so only the
    // condition itself can stop it: the proxy enforces If-Match as S3 does (s3rver alone ignores it).
    const a = await project(['shop']);
    const b = tempDir('dh-remote-clone-');
    const proxy = await startProxy(s3().endpoint, { enforceConditions: true });
    try {
      const remote = freshRemote();
      assert.equal((await cli(['push', ...at(remote)], a.dir)).code, 0);
      assert.equal((await cli(['pull', ...at(remote)], b.dir)).code, 0);
      await editAndDehydrate(a.dir, 'shop', 'a again');
      await editAndDehydrate(b.dir, 'shop', 'b');
      const winnerManifest = new Promise<void>((resolve, reject) => {
        proxy.before = async (method, url) => {
          if (method !== 'PUT' || !url.includes('/manifest.json')) return;
          proxy.before = undefined;
          const r = await cli(['push', ...at(remote)], a.dir);
          if (r.code === 0) resolve();
          else reject(new Error(r.stderr));
        };
      });
      const lost = await cli(['push', ...at(remote, proxy.endpoint)], b.dir);
      await winnerManifest;
      assert.equal(lost.code, 1);
      assert.match(lost.stderr, /someone else pushed while this push was running/);
      assert.match(lost.stderr, /pull first/);
      assert.ok(
        proxy.refused.some((r) => r.startsWith('412 PUT') && r.includes('/manifest.json')),
        proxy.refused.join('\n'),
      );
      const c = tempDir('dh-remote-clone-');
      try {
        assert.equal((await cli(['pull', ...at(remote)], c.dir)).code, 0);
        assert.deepEqual(filesOf(archiveDir(c.dir)), filesOf(archiveDir(a.dir)));
      } finally {
        c.cleanup();
      }
    } finally {
      await proxy.stop();
      a.cleanup();
      b.cleanup();
    }
  });

  it('a push killed midway leaves the previous complete state, which pull serves; pushing again completes', async () => {
    const names = ['a1', 'a2', 'a3', 'a4'];
    const a = await project(names);
    const proxy = await startProxy(s3().endpoint);
    const c = tempDir('dh-remote-clone-');
    try {
      const remote = freshRemote();
      assert.equal((await cli(['push', ...at(remote)], a.dir)).code, 0);
      const before = filesOf(archiveDir(a.dir));
      for (const n of names) await editAndDehydrate(a.dir, n, `second ${n}`);
      let child: ChildProcess | undefined;
      let objectPuts = 0;
      proxy.before = async (method, url) => {
        if (method === 'PUT' && url.includes('/objects/') && (objectPuts += 1) === 3) {
          child?.kill('SIGKILL');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      };
      const killed = await cli(['push', ...at(remote, proxy.endpoint)], a.dir, {}, (ch) => (child = ch));
      assert.notEqual(killed.code, 0, 'the push did not finish');
      assert.ok(objectPuts >= 3);

      const pulled = await cli(['pull', ...at(remote)], c.dir);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.deepEqual(filesOf(archiveDir(c.dir)), before, 'the previous state, complete');

      proxy.before = undefined;
      const again = await cli(['push', ...at(remote), '--json'], a.dir);
      assert.equal(again.code, 0, again.stderr);
      const r = JSON.parse(again.stdout) as { archives: Record<string, { status: string }> };
      const statuses = Object.values(r.archives).map((x) => x.status);
      assert.ok(
        statuses.includes('reused'),
        `objects uploaded before the kill are reused: ${statuses.join()}`,
      );
      const d = tempDir('dh-remote-clone-');
      try {
        assert.equal((await cli(['pull', ...at(remote)], d.dir)).code, 0);
        assert.deepEqual(filesOf(archiveDir(d.dir)), filesOf(archiveDir(a.dir)));
      } finally {
        d.cleanup();
      }
    } finally {
      await proxy.stop();
      a.cleanup();
      c.cleanup();
    }
  });

  it('a server answering 500: the push fails clearly and publishes nothing; a transient 500 is retried', async () => {
    const a = await project(['shop']);
    const proxy = await startProxy(s3().endpoint);
    const c = tempDir('dh-remote-clone-');
    try {
      const remote = freshRemote();
      proxy.rule = (method, url) => (method === 'PUT' && url.includes('/manifest.json') ? 500 : 'pass');
      const failed = await cli(['push', ...at(remote, proxy.endpoint)], a.dir);
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, /writing the remote manifest failed: .*HTTP 500/);
      assert.match(failed.stderr, /hint: the service failed/);
      assert.ok(proxy.refused.length >= 2, 'the SDK retried');
      const none = await cli(['pull', ...at(remote)], c.dir);
      assert.equal(none.code, 1);
      assert.match(none.stderr, /has no remote manifest/);

      let failures = 0;
      proxy.rule = (method, url) =>
        method === 'PUT' && url.includes('/manifest.json') && (failures += 1) === 1 ? 500 : 'pass';
      const retried = await cli(['push', ...at(remote, proxy.endpoint)], a.dir);
      assert.equal(retried.code, 0, retried.stderr);

      // A pull whose object download fails writes nothing locally.
      proxy.rule = (method, url) => (method === 'GET' && url.includes('/objects/') ? 503 : 'pass');
      const pullFailed = await cli(['pull', ...at(remote, proxy.endpoint)], c.dir);
      assert.equal(pullFailed.code, 1);
      assert.match(pullFailed.stderr, /downloading objects\/[0-9a-f]{64}\.json \(shop\.json\) failed/);
      assert.deepEqual(
        [...filesOf(join(c.dir, 'data')).keys()].filter((k) => !k.startsWith('.db-hydration')),
        [],
      );
    } finally {
      await proxy.stop();
      a.cleanup();
      c.cleanup();
    }
  });

  it('a truncated or altered object: pull refuses, naming the object and the database, and writes nothing', async () => {
    const a = await project(['shop', 'users']);
    try {
      const remote = freshRemote();
      assert.equal((await cli(['push', ...at(remote), '--json'], a.dir)).code, 0);
      const prefix = remote.slice(`s3://${s3().bucket}/`.length);
      const sha = (await new S3Store(remote, { endpoint: s3().endpoint }).readState())?.manifest.archives[
        'users.json'
      ]?.sha256;
      assert.ok(sha !== undefined);
      const key = `${prefix}/objects/${sha}.json`;
      const file = s3().objectFile(key);
      const original = readFileSync(file);
      for (const damaged of [
        original.subarray(0, original.length - 7),
        Buffer.from(original.toString().replace('users 1', 'users 9')),
      ]) {
        writeFileSync(file, damaged);
        const c = tempDir('dh-remote-clone-');
        try {
          const r = await cli(['pull', ...at(remote)], c.dir);
          assert.equal(r.code, 1);
          assert.ok(r.stderr.includes(`objects/${sha}.json`), r.stderr);
          assert.match(r.stderr, /archive users\.json of database users/);
          assert.match(r.stderr, /nothing was written locally/);
          assert.deepEqual([...filesOf(join(c.dir, 'data')).keys()], []);
        } finally {
          c.cleanup();
        }
      }
      writeFileSync(file, original);
    } finally {
      a.cleanup();
    }
  });

  it('an encrypted, compressed archive travels as its ciphertext: object named by the ciphertext hash, no plaintext hash on the remote', async () => {
    const keys = tempDir('dh-remote-key-');
    const a = tempDir('dh-remote-');
    const b = tempDir('dh-remote-clone-');
    try {
      const identity = join(keys.dir, 'key.txt');
      const recipient = ageKeygen(identity);
      const remote = freshRemote();
      const config = JSON.stringify({
        encrypt: { recipients: [recipient], identityFile: identity },
        compress: 'gzip',
      });
      for (const dir of [a.dir, b.dir]) writeFileSync(join(dir, 'db-hydration.config.json'), config);
      mkdirSync(join(a.dir, 'data'));
      makeDatabase(join(a.dir, 'data', 'secret.db'), (db) => {
        db.exec(
          "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT, n INTEGER); INSERT INTO items VALUES (1, 'plaintext-marker', 7)",
        );
      });
      assert.equal((await cli(['dehydrate'], a.dir)).code, 0);
      const pushed = await cli(['push', ...at(remote), '--json'], a.dir);
      assert.equal(pushed.code, 0, pushed.stderr);
      const archive = join(archiveDir(a.dir), 'secret.json.gz.age');
      const sha = createHash('sha256').update(readFileSync(archive)).digest('hex');
      const prefix = remote.slice(`s3://${s3().bucket}/`.length);
      assert.deepEqual(s3().keys(`${prefix}/`), [
        `${prefix}/manifest.json`,
        `${prefix}/objects/${sha}.json.gz.age`,
      ]);
      const remoteManifest = readFileSync(s3().objectFile(`${prefix}/manifest.json`), 'utf8');
      assert.doesNotMatch(remoteManifest, /content_sha256/);
      assert.doesNotMatch(
        readFileSync(s3().objectFile(`${prefix}/objects/${sha}.json.gz.age`), 'latin1'),
        /plaintext-marker/,
      );
      const pulled = await cli(['pull', ...at(remote)], b.dir);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.deepEqual(filesOf(archiveDir(b.dir)), filesOf(archiveDir(a.dir)));
      assert.equal(
        (rowsOf(join(b.dir, 'data', 'secret.db'))[0] as { label: string }).label,
        'plaintext-marker',
      );
    } finally {
      keys.cleanup();
      a.cleanup();
      b.cleanup();
    }
  });

  it('wrong or missing credentials are a clear error that says where credentials come from', async () => {
    // s3rver checks the access key id but not SigV4 signatures (its own source says so), so a wrong secret key
    // cannot be shown here; an unknown key id and no credentials at all can.
    const a = await project(['shop']);
    try {
      const cases: [Record<string, string>, RegExp][] = [
        [
          { AWS_ACCESS_KEY_ID: 'NOBODY' },
          /reading the remote manifest failed: InvalidAccessKeyId \(HTTP 403\)/,
        ],
        [
          { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' },
          /reading the remote manifest failed: CredentialsProviderError/,
        ],
      ];
      for (const [env, message] of cases) {
        const r = await cli(['push', ...at(freshRemote())], a.dir, env);
        assert.equal(r.code, 1, r.stdout);
        assert.match(r.stderr, message);
        assert.match(r.stderr, /hint: check the credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
      }
    } finally {
      a.cleanup();
    }
  });

  it('an unreachable endpoint, a missing region or a missing bucket is a clear error naming it; a remote URL that is not s3:// is a usage error', async () => {
    const a = await project(['shop']);
    try {
      const r = await cli(['push', ...at(freshRemote(), 'http://127.0.0.1:9')], a.dir);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /reading the remote manifest failed/);
      assert.match(r.stderr, /hint: check that http:\/\/127\.0\.0\.1:9 is reachable/);
      const noRegion = await cli(['push', ...at(freshRemote())], a.dir, { AWS_REGION: '' });
      assert.equal(noRegion.code, 1);
      assert.match(noRegion.stderr, /Region is missing/);
      assert.match(noRegion.stderr, /hint: set AWS_REGION/);
      const noBucket = await cli(['push', ...at('s3://no-such-bucket/app')], a.dir);
      assert.equal(noBucket.code, 1);
      assert.match(noBucket.stderr, /NoSuchBucket/);
      assert.match(noBucket.stderr, /hint: create the bucket no-such-bucket or fix the remote URL/);
      const bad = await cli(['push', '--remote', 'https://bucket/app'], a.dir);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--remote: "https:\/\/bucket\/app" is not an S3 remote URL/);
      assert.match(bad.stderr, /hint: give the remote as s3:\/\/BUCKET\/PREFIX/);
    } finally {
      a.cleanup();
    }
  });

  it('push or pull with no remote (no --remote, none in the config) is a usage error: exit 2, naming --remote and where to set it, no request', async () => {
    const a = await project(['shop']);
    try {
      const files = filesOf(a.dir);
      const mark = s3().requests.length;
      for (const command of ['push', 'pull']) {
        const r = await cli([command], a.dir);
        assert.equal(r.code, 2, r.stderr);
        assert.equal(r.stdout, '');
        assert.match(
          r.stderr,
          new RegExp(
            `^error: ${command} needs a remote: no --remote was given and no config file was found\\n`,
          ),
        );
        assert.match(
          r.stderr,
          /\n {2}hint: give --remote s3:\/\/BUCKET\/PREFIX, or set "remote": "s3:\/\/BUCKET\/PREFIX" in db-hydration\.config\.json/,
        );
      }
      // A config file without "remote" is named in the message; --json does not turn the usage error into a result.
      writeFileSync(join(a.dir, 'db-hydration.config.json'), JSON.stringify({ dataDir: 'data' }));
      const configured = filesOf(a.dir);
      for (const command of ['push', 'pull']) {
        const r = await cli([command, '--json'], a.dir);
        assert.equal(r.code, 2, r.stderr);
        assert.equal(r.stdout, '');
        assert.match(
          r.stderr,
          new RegExp(
            `^error: ${command} needs a remote: no --remote was given and db-hydration\\.config\\.json has no "remote"\\n`,
          ),
        );
        assert.match(
          r.stderr,
          /hint: give --remote s3:\/\/BUCKET\/PREFIX, or set "remote": "s3:\/\/BUCKET\/PREFIX" in db-hydration\.config\.json/,
        );
      }
      assert.deepEqual(filesOf(a.dir), configured, 'nothing written');
      // A config in package.json: the hint says where in it.
      rmSync(join(a.dir, 'db-hydration.config.json'));
      writeFileSync(
        join(a.dir, 'package.json'),
        JSON.stringify({ name: 'app', dbHydration: { dataDir: 'data' } }),
      );
      const inPackage = await cli(['push'], a.dir);
      assert.equal(inPackage.code, 2, inPackage.stderr);
      assert.match(
        inPackage.stderr,
        /^error: push needs a remote: no --remote was given and package\.json has no "remote"\n/,
      );
      assert.match(
        inPackage.stderr,
        /hint: give --remote s3:\/\/BUCKET\/PREFIX, or set "remote": "s3:\/\/BUCKET\/PREFIX" under "dbHydration" in package\.json/,
      );
      assert.equal(s3().requests.length, mark, 'not one request');
      const now = filesOf(a.dir);
      now.delete('package.json');
      assert.deepEqual(now, files, 'nothing written');
    } finally {
      a.cleanup();
    }
  });

  it('pull refuses to overwrite a local archive with changes of its own; --force takes the remote and backs up', async () => {
    const a = await project(['shop']);
    const b = tempDir('dh-remote-clone-');
    try {
      const remote = freshRemote();
      assert.equal((await cli(['push', ...at(remote)], a.dir)).code, 0);
      assert.equal((await cli(['pull', ...at(remote)], b.dir)).code, 0);
      await editAndDehydrate(a.dir, 'shop', 'remote change');
      assert.equal((await cli(['push', ...at(remote)], a.dir)).code, 0);
      await editAndDehydrate(b.dir, 'shop', 'local change');
      const mine = filesOf(archiveDir(b.dir));

      const refused = await cli(['pull', ...at(remote)], b.dir);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /nothing was pulled: .*shop\.json has local changes/);
      assert.match(refused.stderr, /pull --force/);
      assert.deepEqual(filesOf(archiveDir(b.dir)), mine, 'nothing written');
      const pushed = await cli(['push', ...at(remote)], b.dir);
      assert.equal(pushed.code, 1, 'b cannot push over a state it has not pulled');
      assert.match(pushed.stderr, /pull first/);

      const forced = await cli(['pull', ...at(remote), '--force'], b.dir);
      assert.equal(forced.code, 0, forced.stderr);
      assert.deepEqual(filesOf(archiveDir(b.dir)), filesOf(archiveDir(a.dir)));
      assert.equal((rowsOf(join(b.dir, 'data', 'shop.db'))[0] as { label: string }).label, 'remote change');
      assert.ok(readdirSync(join(b.dir, 'data')).some((f) => f.startsWith('shop.db.') && f.endsWith('.bak')));
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });

  it('a pull brings an update into a database without changes of its own, and the remote and endpoint come from the config', async () => {
    const a = await project(['shop']);
    const b = tempDir('dh-remote-clone-');
    try {
      const remote = freshRemote();
      for (const dir of [a.dir, b.dir])
        writeFileSync(
          join(dir, 'db-hydration.config.json'),
          JSON.stringify({ remote, endpoint: s3().endpoint }),
        );
      assert.equal((await cli(['push'], a.dir)).code, 0);
      assert.equal((await cli(['pull'], b.dir)).code, 0);
      await editAndDehydrate(a.dir, 'shop', 'update');
      assert.equal((await cli(['push'], a.dir)).code, 0);
      const r = await cli(['pull'], b.dir);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /downloaded shop\.json/);
      assert.equal((rowsOf(join(b.dir, 'data', 'shop.db'))[0] as { label: string }).label, 'update');
      writeFileSync(join(b.dir, 'db-hydration.config.json'), JSON.stringify({ remote: 'https://x' }));
      const bad = await cli(['pull'], b.dir);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /"remote" must be an S3 remote URL/);
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });
});

describe('pull follows the remote like git pull (library)', () => {
  it('removes an archive the remote dropped, replaces a codec switch, keeps a local-only archive; the next push publishes it', async () => {
    const a = await project(['shop', 'users']);
    const b = tempDir('dh-remote-clone-');
    try {
      const remote = freshRemote();
      const endpoint = s3().endpoint;
      const managerA = (compress: 'none' | 'gzip' = 'none'): DBHydrationManager =>
        new DBHydrationManager({ dataDir: join(a.dir, 'data'), remote, endpoint, compress });
      const managerB = new DBHydrationManager({ dataDir: join(b.dir, 'data'), remote, endpoint });
      await managerA().push();
      await managerB.pull();
      assert.deepEqual(readdirSync(archiveDir(b.dir)).sort(), ['manifest.json', 'shop.json', 'users.json']);

      // a: users goes away, shop switches to gzip.
      rmSync(join(a.dir, 'data', 'users.db'));
      rmSync(join(archiveDir(a.dir), 'users.json'));
      assert.deepEqual((await managerA('gzip').dehydrateAll()).errors, []);
      rmSync(join(archiveDir(a.dir), 'shop.json'), { force: true });
      assert.deepEqual((await managerA('gzip').dehydrateAll()).errors, []);
      assert.deepEqual(readdirSync(archiveDir(a.dir)).sort(), ['manifest.json', 'shop.json.gz']);
      const pushed = await managerA('gzip').push();
      assert.deepEqual(pushed.removed, ['shop.json', 'users.json']);

      // b: a new database of its own.
      makeDatabase(join(b.dir, 'data', 'notes.db'), (db) => {
        db.exec(
          "CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT, n INTEGER); INSERT INTO items VALUES (1, 'mine', 1)",
        );
      });
      assert.deepEqual((await managerB.dehydrateAll()).errors, []);
      const pulled = await managerB.pull();
      assert.deepEqual(Object.fromEntries(Object.entries(pulled.archives).map(([n, x]) => [n, x.status])), {
        'notes.json': 'local-only',
        'shop.json': 'removed',
        'shop.json.gz': 'downloaded',
        'users.json': 'removed',
      });
      assert.deepEqual(readdirSync(archiveDir(b.dir)).sort(), [
        'manifest.json',
        'notes.json',
        'shop.json.gz',
      ]);
      assert.deepEqual(
        readFileSync(join(archiveDir(b.dir), 'shop.json.gz')),
        readFileSync(join(archiveDir(a.dir), 'shop.json.gz')),
      );
      const manifest = JSON.parse(readFileSync(join(archiveDir(b.dir), 'manifest.json'), 'utf8')) as {
        databases: Record<string, unknown>;
      };
      assert.deepEqual(Object.keys(manifest.databases).sort(), ['notes.db', 'shop.db']);

      // users.db stays (a pull never deletes a database); with no archive, push refuses until it goes or is dehydrated.
      assert.ok(existsSync(join(b.dir, 'data', 'users.db')));
      await assert.rejects(managerB.push(), /users\.db has no archive/);
      rmSync(join(b.dir, 'data', 'users.db'));
      const published = await managerB.push();
      assert.equal(published.archives['notes.json']?.status, 'uploaded');
      assert.equal(published.archives['shop.json.gz']?.status, 'unchanged');
      const c = tempDir('dh-remote-clone-');
      try {
        await new DBHydrationManager({ dataDir: join(c.dir, 'data'), remote, endpoint }).pull();
        assert.deepEqual(filesOf(archiveDir(c.dir)), filesOf(archiveDir(b.dir)));
      } finally {
        c.cleanup();
      }
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });

  it('with --json, a refused pull prints the error as JSON on stdout and nothing on stderr', async () => {
    const b = tempDir('dh-remote-clone-');
    try {
      const r = await cli(['pull', ...at(freshRemote()), '--json'], b.dir);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, '');
      const out = JSON.parse(r.stdout) as { errorDetails: { code: string; hint?: string }[] };
      const [first] = out.errorDetails;
      assert.ok(first !== undefined);
      assert.equal(first.code, 'REMOTE');
      assert.match(first.hint ?? '', /push first/);
    } finally {
      b.cleanup();
    }
  });
});

describe('Property 20: remote round trip', () => {
  // Feature: database-hydration, Property 20: remote round trip
  it('for random sets of databases and edits, push then pull into an empty directory gives the pushed archives byte for byte', async () => {
    const dbName = fc.constantFrom('alpha', 'beta', 'gamma');
    const round = fc.array(
      fc.tuple(dbName, fc.option(databaseSpec({ maxTables: 2, maxRows: 4, utf16: false }))),
      {
        minLength: 1,
        maxLength: 3,
      },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(round, { minLength: 1, maxLength: 2 }),
        fc.constantFrom('none', 'gzip' as const),
        async (rounds, compress) => {
          const a = tempDir('dh-p20-');
          const b = tempDir('dh-p20-');
          try {
            const dataDir = join(a.dir, 'data');
            mkdirSync(dataDir);
            const remote = freshRemote();
            const manager = new DBHydrationManager({ dataDir, remote, endpoint: s3().endpoint, compress });
            for (const edits of rounds) {
              for (const [name, spec] of edits) {
                const path = join(dataDir, `${name}.db`);
                rmSync(path, { force: true });
                for (const ext of ['.json', '.json.gz'])
                  rmSync(join(dataDir, 'json_archives', `${name}${ext}`), { force: true });
                if (spec !== null) buildDatabase(path, spec);
              }
              const d = await manager.dehydrateAll({ force: true });
              assert.deepEqual(d.errors, []);
              if (Object.keys(d.databases).length === 0) return; // nothing to push
              await manager.push();
            }
            const clone = new DBHydrationManager({
              dataDir: join(b.dir, 'data'),
              remote,
              endpoint: s3().endpoint,
            });
            const pulled = await clone.pull();
            assert.deepEqual(pulled.hydration.errors, []);
            assert.deepEqual(
              filesOf(join(b.dir, 'data', 'json_archives')),
              filesOf(join(dataDir, 'json_archives')),
            );
          } finally {
            a.cleanup();
            b.cleanup();
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('the library refuses a push without a remote, naming the option', async () => {
    const manager = new DBHydrationManager({ dataDir: 'nowhere' });
    await assert.rejects(
      manager.push(),
      (e: unknown) => e instanceof HydrationError && /--remote/.test(e.hint ?? ''),
    );
  });
});

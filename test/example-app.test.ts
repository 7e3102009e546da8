// The trading-journal example app run as a real process (seed Integration Tests 1-5): start-up with missing
// databases, start-up with a corrupted database, graceful shutdown with dehydration, the CLI sequence
// dehydrate -> delete -> hydrate, and reads and writes going on while `hydrate --force` runs in another process.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { DBHydrationManager, checkDatabase } from '../src/index.js';
import { cli, cliAsync, ROOT } from './helpers/cli.js';
import { tempDir } from './helpers/fixtures.js';
import { snapshot } from './helpers/snapshot.js';

const APP = join(ROOT, 'examples', 'trading-journal');
const SAMPLE_ARCHIVES = join(APP, 'data', 'json_archives');
const DB_FILES = ['trading_journal.db', 'arbiter.db', 'market_data.db'];

interface App {
  readonly child: ChildProcess;
  readonly base: string;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<[number | null, NodeJS.Signals | null]>;
}

async function startApp(dataDir: string): Promise<App> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(APP, 'server.ts'), '--data-dir', dataDir, '--port', '0'],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m !== null) {
        clearInterval(timer);
        resolve(Number(m[1]));
      }
    }, 20);
    void exited.then(() => {
      clearInterval(timer);
      reject(new Error(`the app ended before listening:\n${out}`));
    });
  });
  return {
    child,
    base: `http://127.0.0.1:${port}`,
    output: () => out,
    stop: (signal = 'SIGTERM') => {
      child.kill(signal);
      return exited;
    },
  };
}

/** Rows per table of the committed sample archives, read with the library (not copied from output). */
async function sampleCounts(): Promise<Record<string, Record<string, number>>> {
  const stats = await new DBHydrationManager({
    dataDir: join(ROOT, 'no-such-dir'),
    archiveDir: SAMPLE_ARCHIVES,
  }).getArchiveStats();
  return Object.fromEntries(stats.archives.map((a) => [a.fileName, { ...a.tables }]));
}

/** The -wal, -shm and -journal files of `file` in `dir`, sorted. */
function sidecars(dir: string, file: string): string[] {
  return readdirSync(dir)
    .filter((n) => ['-wal', '-shm', '-journal'].some((s) => n === `${file}${s}`))
    .sort();
}

async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url);
  assert.equal(res.status, 200, url);
  return res.json();
}

async function addTrade(base: string, note: string): Promise<number> {
  const res = await fetch(`${base}/api/trades`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      symbol: 'ETH-USD',
      side: 'long',
      qty: 2,
      entry_price: 3000.5,
      exit_price: 3100.25,
      note,
    }),
  });
  assert.equal(res.status, 201);
  return ((await res.json()) as { id: number }).id;
}

describe('example app: trading-journal', () => {
  let root: string;
  let cleanup: () => void;
  let n = 0;
  before(() => {
    ({ dir: root, cleanup } = tempDir('dh-app-'));
  });
  after(() => {
    cleanup();
  });
  /** A data dir holding a copy of the committed sample archives and no databases. */
  const freshData = (): string => {
    const data = join(root, `data${++n}`);
    cpSync(SAMPLE_ARCHIVES, join(data, 'json_archives'), { recursive: true });
    return data;
  };

  it('starts with missing databases: hydrates all three from the archives and serves them', async () => {
    const data = freshData();
    const app = await startApp(data);
    try {
      for (const f of DB_FILES)
        assert.match(app.output(), new RegExp(`startup: ${f.replace('.', '\\.')}: restored`));
      assert.deepEqual(await getJson(`${app.base}/api/counts`), await sampleCounts());
      const page = await fetch(`${app.base}/`);
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.match(html, /<h1>Trading journal<\/h1>/);
      assert.match(html, /All databases are in sync with their archives\./);
      const notFound = await fetch(`${app.base}/nope`);
      assert.equal(notFound.status, 404);
      const bad = await fetch(`${app.base}/api/trades`, {
        method: 'POST',
        body: 'symbol=not a symbol&qty=1',
      });
      assert.equal(bad.status, 400);
    } finally {
      await app.stop();
    }
  });

  it('starts with a corrupted database: keeps the damaged file aside and restores it from its archive', async () => {
    const data = freshData();
    assert.equal(cli(['hydrate', '-q', '--data-dir', data], root).code, 0);
    const db = join(data, 'trading_journal.db');
    const original = snapshot(db);
    const bytes = readFileSync(db);
    bytes.fill(0xee, 4096, 3 * 4096); // pages 2-3: the header still says SQLite, the b-tree pages are garbage
    writeFileSync(db, bytes);
    assert.equal(checkDatabase(db).status, 'damaged');
    const app = await startApp(data);
    try {
      assert.match(
        app.output(),
        /startup: trading_journal\.db: restored \(damaged file kept as .*trading_journal\.db\.corrupt-/,
      );
      assert.match(app.output(), /startup: arbiter\.db: ok/);
      assert.deepEqual(snapshot(db), original);
      const kept = readdirSync(data).filter(
        (f) => f.startsWith('trading_journal.db.corrupt-') && !/-(wal|shm|journal)$/.test(f),
      );
      assert.equal(kept.length, 1);
      assert.deepEqual(readFileSync(join(data, kept[0] ?? '')), bytes);
      const trades = (await getJson(`${app.base}/api/trades?limit=1000`)) as unknown[];
      assert.equal(trades.length, (await sampleCounts())['trading_journal.db']?.trades);
    } finally {
      await app.stop();
    }
  });

  it('dehydrates on SIGTERM: the archive holds a trade written through the app, and the app dies of SIGTERM', async () => {
    const data = freshData();
    const app = await startApp(data);
    const id = await addTrade(app.base, 'written before SIGTERM');
    // The app runs its databases in WAL mode: while it is up, each has its -wal and -shm.
    for (const f of DB_FILES) assert.deepEqual(sidecars(data, f), [`${f}-shm`, `${f}-wal`]);
    const [code, signal] = await app.stop('SIGTERM');
    assert.equal(signal, 'SIGTERM', app.output());
    assert.equal(code, null);
    // It closed cleanly: the last connection to each database checkpointed it and removed its -wal and -shm.
    for (const f of DB_FILES) assert.deepEqual(sidecars(data, f), [], f);
    for (const f of DB_FILES) assert.equal(checkDatabase(join(data, f)).status, 'valid', f);
    assert.match(app.output(), /shutdown: dehydrated \d+ rows; archives changed: trading_journal\.db\n/);
    const archive = readFileSync(join(data, 'json_archives', 'trading_journal.json'), 'utf8');
    assert.ok(archive.includes(`{"id":${id},`));
    assert.ok(archive.includes('"note":"written before SIGTERM"'));
    // The other archives did not change at all.
    for (const f of ['arbiter.json', 'market_data.json'])
      assert.deepEqual(readFileSync(join(data, 'json_archives', f)), readFileSync(join(SAMPLE_ARCHIVES, f)));
    // And the next start on another machine sees the trade.
    const other = join(root, `data${++n}`);
    cpSync(join(data, 'json_archives'), join(other, 'json_archives'), { recursive: true });
    const app2 = await startApp(other);
    try {
      const trades = (await getJson(`${app2.base}/api/trades?limit=1`)) as { id: number; note: string }[];
      assert.deepEqual(
        trades.map((t) => [t.id, t.note]),
        [[id, 'written before SIGTERM']],
      );
    } finally {
      await app2.stop('SIGINT');
    }
    for (const f of DB_FILES) assert.deepEqual(sidecars(other, f), [], f);
  });

  it('CLI sequence dehydrate -> delete -> hydrate gives back the same databases and leaves the archives alone', () => {
    const data = freshData();
    assert.equal(cli(['hydrate', '-q', '--data-dir', data], root).code, 0);
    const before = Object.fromEntries(DB_FILES.map((f) => [f, snapshot(join(data, f))]));
    const d = cli(['dehydrate', '--json', '--data-dir', data], root);
    assert.equal(d.code, 0, d.stderr);
    const result = JSON.parse(d.stdout) as { databases: Record<string, { changed: boolean }> };
    assert.deepEqual(
      Object.values(result.databases).map((x) => x.changed),
      [false, false, false],
    );
    for (const f of ['arbiter.json', 'market_data.json', 'trading_journal.json'])
      assert.deepEqual(readFileSync(join(data, 'json_archives', f)), readFileSync(join(SAMPLE_ARCHIVES, f)));
    for (const f of readdirSync(data))
      if (f.endsWith('.db') || f.includes('.db-')) rmSync(join(data, f), { recursive: true });
    const h = cli(['hydrate', '--data-dir', data], root);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /Hydrated 3 databases, skipped 0/);
    for (const f of DB_FILES) assert.deepEqual(snapshot(join(data, f)), before[f], f);
  });

  it('keeps serving reads and writes while `hydrate --force` runs in another process, which reports the databases in use', async () => {
    const data = freshData();
    const app = await startApp(data);
    const failures: string[] = [];
    let writes = 0;
    let reads = 0;
    const state = { running: true };
    const traffic = (async () => {
      while (state.running) {
        try {
          const r = await fetch(`${app.base}/api/trades?limit=5`, { signal: AbortSignal.timeout(20_000) });
          if (r.status !== 200) failures.push(`GET ${r.status}: ${await r.text()}`);
          else if (((await r.json()) as unknown[]).length === 5) reads++;
          const w = await fetch(`${app.base}/api/trades`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ symbol: 'BTC-USD', side: 'short', qty: 0.1, entry_price: 60000 }),
            signal: AbortSignal.timeout(20_000),
          });
          if (w.status !== 201) failures.push(`POST ${w.status}: ${await w.text()}`);
          else writes++;
        } catch (error) {
          failures.push(String(error));
        }
      }
    })();
    const sampleTrades = (await sampleCounts())['trading_journal.db']?.trades ?? 0;
    let hydration: { code: number | null; stdout: string; stderr: string } | undefined;
    try {
      try {
        hydration = await cliAsync(['hydrate', '--force', '--busy-timeout', '300', '--data-dir', data], root);
      } finally {
        state.running = false;
        await traffic;
      }
      assert.equal(hydration.code, 1, `${hydration.stdout}${hydration.stderr}`);
      for (const f of DB_FILES)
        assert.match(
          hydration.stderr,
          new RegExp(`${f.replace('.', '\\.')}: the database is in use by another connection`),
        );
      assert.match(hydration.stderr, /hint: close the programs using it and run again/);
      assert.deepEqual(failures, []);
      assert.ok(writes > 3 && reads > 3, `${writes} writes, ${reads} reads`);
      for (const f of DB_FILES) assert.equal(checkDatabase(join(data, f)).status, 'valid', f);
      const counts = (await getJson(`${app.base}/api/counts`)) as Record<string, Record<string, number>>;
      assert.equal(counts['trading_journal.db']?.trades, sampleTrades + writes);
    } finally {
      await app.stop();
    }
    // With the app stopped (and its writes dehydrated), the same command replaces the databases from the archives.
    const after = cli(['hydrate', '--force', '--json', '--data-dir', data], root);
    assert.equal(after.code, 0, after.stderr);
    const result = JSON.parse(after.stdout) as { databases: Record<string, { status: string }> };
    assert.deepEqual(
      Object.values(result.databases).map((d) => d.status),
      ['hydrated', 'hydrated', 'hydrated'],
    );
    const archive = readFileSync(join(data, 'json_archives', 'trading_journal.json'), 'utf8');
    assert.match(archive, new RegExp(`"row_count": ${sampleTrades + writes}, "rows"`));
  });
});

/**
 * Concurrency with real second processes: dehydrating while another process writes, databases locked by another
 * process, and hydrate --force while other connections read or hold the database open.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { DBHydrationManager, checkDatabase } from '../src/index.js';
import { dehydrateDatabase } from '../src/dehydrate/dehydrate-database.js';
import { tempDir } from './helpers/fixtures.js';
import { leafPagesOf, makeShop, overwritePages } from './helpers/damage.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BATCH = 40; // test/children/writer.ts

interface Child {
  readonly proc: ChildProcessWithoutNullStreams;
  output: string;
  /** Resolves when the child has printed `line`. */
  readonly until: (line: string) => Promise<void>;
  /** Closes its stdin (the signal to finish) and waits for it to exit. */
  readonly finish: () => Promise<string>;
}

function startChild(script: string, args: readonly string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'test', 'children', script), ...args], {
    cwd: REPO,
    stdio: 'pipe',
  });
  let stderr = '';
  proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) =>
    proc.on('exit', () => {
      resolve();
    }),
  );
  const child: Child = {
    proc,
    output: '',
    until: (line) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (child.output.split('\n').includes(line)) resolve();
        };
        proc.stdout.on('data', check);
        proc.on('exit', () => {
          reject(new Error(`${script} exited: ${child.output} ${stderr}`));
        });
        check();
      }),
    finish: async () => {
      proc.stdin.end();
      await exited;
      return child.output;
    },
  };
  proc.stdout.on('data', (c: Buffer) => (child.output += c.toString()));
  return child;
}

interface Row {
  readonly id: number;
  readonly batch: number;
  readonly v: string;
}

/** Checks that an archive of the writer's database holds one committed state; returns its batch count. */
function committedState(archivePath: string): number {
  const doc = JSON.parse(readFileSync(archivePath, 'utf8')) as {
    tables: { t: { rows: Row[] }; counter: { rows: { n: number }[] } };
  };
  const n = doc.tables.counter.rows[0]?.n ?? -1;
  const rows = doc.tables.t.rows;
  assert.equal(rows.length, BATCH * n, `${BATCH} rows per committed batch (n = ${n})`);
  const perBatch = new Map<number, number>();
  for (const r of rows) perBatch.set(r.batch, (perBatch.get(r.batch) ?? 0) + 1);
  assert.equal(perBatch.has(-1), false, 'no row of a rolled-back transaction');
  for (let b = 1; b <= n; b++) assert.equal(perBatch.get(b), BATCH, `batch ${b} is complete`);
  return n;
}

describe('concurrency with other processes', () => {
  for (const mode of ['wal', 'delete'] as const) {
    it(`dehydrating while another process writes (${mode} journal) exports exactly one committed state`, async () => {
      const { dir, cleanup } = tempDir();
      const data = join(dir, 'data');
      mkdirSync(data);
      // A 2 ms pause between commits bounds the database's growth: without it, on a loaded machine the writer added
      // rows faster than the exports read them, until the archive outgrew what one string can hold.
      const writer = startChild('writer.ts', [join(data, 'live.db'), mode, '2']);
      try {
        await writer.until('ready');
        const manager = new DBHydrationManager({ dataDir: data, busyTimeoutMs: 10_000 });
        const seen = new Set<number>();
        // At least 12 exports, and more (up to 60) until the writer has committed between several of them.
        for (let i = 0; i < 60 && (i < 12 || seen.size < 3); i++) {
          const r = await manager.dehydrateAll();
          assert.deepEqual(r.errors, []);
          seen.add(committedState(join(data, 'json_archives', 'live.json')));
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        assert.ok(seen.size >= 3, `the writer made progress between exports (${[...seen].join(', ')})`);
      } finally {
        await writer.finish();
        cleanup();
      }
    });
  }

  for (const mode of ['wal', 'delete'] as const) {
    it(`a parallel export (two threads, two connections) while another process writes (${mode} journal) exports exactly one committed state`, async () => {
      const { dir, cleanup } = tempDir();
      const data = join(dir, 'data');
      mkdirSync(data);
      const dbPath = join(data, 'live.db');
      // Units of one committed batch (40 rows), so a helper reading another snapshot would show as a torn batch.
      const before = process.env.DB_HYDRATION_PARALLEL;
      process.env.DB_HYDRATION_PARALLEL = 'force:40';
      const writer = startChild('writer.ts', [dbPath, mode, '2']);
      try {
        await writer.until('ready');
        const seen = new Set<number>();
        let helperRows = 0;
        for (let i = 0; i < 40 && (i < 10 || seen.size < 3 || helperRows === 0); i++) {
          const outcome = dehydrateDatabase({
            dbPath,
            archivePath: join(data, 'live.json'),
            database: 'live',
            fileName: 'live.db',
            busyTimeoutMs: 10_000,
          });
          helperRows += outcome.helperRows;
          seen.add(committedState(join(data, 'live.json')));
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        assert.ok(seen.size >= 3, `the writer made progress between exports (${[...seen].join(', ')})`);
        assert.ok(helperRows > 0, 'the helper thread read rows');
        assert.deepEqual(
          readdirSync(data).filter((name) => name.startsWith('.') && name !== '.db-hydration'),
          [],
          'no temp or part file is left',
        );
      } finally {
        if (before === undefined) Reflect.deleteProperty(process.env, 'DB_HYDRATION_PARALLEL');
        else process.env.DB_HYDRATION_PARALLEL = before;
        await writer.finish();
        cleanup();
      }
    });
  }

  for (const how of ['exclusive', 'wal-exclusive'] as const) {
    it(`a database locked by another process (${how}) is waited for, then skipped with an error naming it`, async () => {
      const { dir, cleanup } = tempDir();
      const data = join(dir, 'data');
      mkdirSync(data);
      makeShop(join(data, 'a.db'), 50, how === 'exclusive' ? 'delete' : 'wal');
      makeShop(join(data, 'b.db'), 50);
      const manager = new DBHydrationManager({ dataDir: data, busyTimeoutMs: 300 });
      assert.deepEqual((await manager.dehydrateAll()).errors, []);
      const archiveA = join(data, 'json_archives', 'a.json');
      const archiveBefore = readFileSync(archiveA);
      const changer = new Database(join(data, 'b.db'));
      changer.exec("UPDATE items SET name = 'changed' WHERE id = 1");
      changer.close();
      const locker = startChild('hold-lock.ts', [join(data, 'a.db'), how]);
      try {
        await locker.until('locked');
        const started = performance.now();
        const r = await manager.dehydrateAll();
        const elapsed = performance.now() - started;
        assert.ok(elapsed < 5000, `the run does not hang (${elapsed.toFixed(0)} ms)`);
        assert.equal(r.errors.length, 1);
        const e = r.errorDetails[0];
        assert.equal(e?.code, 'DATABASE_LOCKED');
        assert.equal(e.file, join(data, 'a.db'));
        assert.match(e.message, /a\.db.*locked/);
        assert.deepEqual(readFileSync(archiveA), archiveBefore, 'the archive of the locked database is kept');
        assert.equal(r.databases['b.db']?.changed, true, 'the other database is exported');
        assert.equal(checkDatabase(join(data, 'a.db'), { busyTimeoutMs: 200 }).status, 'locked');
        const fix = await manager.fixCorruptedDbs();
        assert.deepEqual(fix.corrupted, []);
        assert.equal(fix.details['a.db']?.action, 'skipped');
        assert.equal(fix.details['b.db']?.action, 'none');
        assert.equal(fix.errorDetails[0]?.code, 'DATABASE_LOCKED');
      } finally {
        await locker.finish();
        cleanup();
      }
    });
  }

  it('hydrate --force while another process keeps reading: readers see the old or the new database, never a half-built one', async () => {
    const { dir, cleanup } = tempDir();
    const data = join(dir, 'data');
    const archives = join(dir, 'archives');
    mkdirSync(data);
    // Two versions of the same database, as archives.
    const versions: Buffer[] = [];
    for (const rows of [3000, 2000]) {
      const src = join(dir, `v${rows}`);
      mkdirSync(src);
      makeShop(join(src, 'shop.db'), rows);
      await new DBHydrationManager({ dataDir: src }).dehydrateAll();
      versions.push(readFileSync(join(src, 'json_archives', 'shop.json')));
    }
    mkdirSync(archives);
    makeShop(join(data, 'shop.db'), 3000);
    const reader = startChild('reader.ts', [join(data, 'shop.db')]);
    try {
      await reader.until('ready');
      const manager = new DBHydrationManager({ dataDir: data, archiveDir: archives, backupsKept: 2 });
      for (let i = 0; i < 8; i++) {
        writeFileSync(join(archives, 'shop.json'), versions[(i + 1) % 2] ?? '');
        const r = await manager.hydrateAll({ force: true });
        assert.deepEqual(r.errors, []);
        assert.equal(r.databases['shop.db']?.status, 'hydrated');
      }
      const backups = readdirSync(data).filter((n) => n.endsWith('.bak'));
      assert.equal(backups.length, 2, 'backups are bounded by backupsKept');
    } finally {
      const out = await reader.finish();
      cleanup();
      const report = JSON.parse(out.split('\n')[1] ?? '{}') as {
        reads: number;
        states: string[];
        errors: string[];
      };
      assert.deepEqual(report.errors, []);
      const expected = new Set([`3000:${(3000 * 3001) / 8}`, `2000:${(2000 * 2001) / 8}`]);
      for (const s of report.states) assert.ok(expected.has(s), `state ${s} is one of the two versions`);
      assert.ok(report.reads > 0);
    }
  });

  it('hydrate --force refuses to replace a WAL database another process has open, and leaves it as it was', async () => {
    const { dir, cleanup } = tempDir();
    const data = join(dir, 'data');
    mkdirSync(data);
    makeShop(join(data, 'shop.db'), 500, 'wal');
    const manager = new DBHydrationManager({ dataDir: data, busyTimeoutMs: 300 });
    await manager.dehydrateAll();
    const before = readFileSync(join(data, 'shop.db'));
    const holder = startChild('hold-lock.ts', [join(data, 'shop.db'), 'open']);
    try {
      await holder.until('locked');
      const r = await manager.hydrateAll({ force: true });
      assert.equal(r.errors.length, 1);
      assert.equal(r.errorDetails[0]?.code, 'DATABASE_LOCKED');
      assert.match(r.errors[0] ?? '', /in use/);
      assert.deepEqual(readFileSync(join(data, 'shop.db')), before);
      assert.deepEqual(
        readdirSync(data).filter((n) => n.endsWith('.bak')),
        [],
        'no backup was needed',
      );
    } finally {
      await holder.finish();
    }
    // Once the other process is gone, the same call goes through.
    const again = await manager.hydrateAll({ force: true });
    assert.deepEqual(again.errors, []);
    cleanup();
  });

  it('fix refuses to replace a damaged WAL database another process has open, and keeps it as it was', async () => {
    const { dir, cleanup } = tempDir();
    const data = join(dir, 'data');
    mkdirSync(data);
    const shop = join(data, 'shop.db');
    makeShop(shop, 3000, 'wal');
    const manager = new DBHydrationManager({ dataDir: data, busyTimeoutMs: 300 });
    await manager.dehydrateAll();
    overwritePages(shop, leafPagesOf(shop, 'items').slice(3, 5));
    const damaged = readFileSync(shop);
    const holder = startChild('hold-lock.ts', [shop, 'open']);
    try {
      await holder.until('locked');
      const r = await manager.fixCorruptedDbs();
      assert.deepEqual(r.corrupted, ['shop.db']);
      assert.deepEqual(r.fixed, []);
      assert.equal(r.errorDetails[0]?.code, 'DATABASE_LOCKED');
      assert.match(r.errors[0] ?? '', /in use/);
      assert.deepEqual(readFileSync(shop), damaged);
    } finally {
      await holder.finish();
    }
    const again = await manager.fixCorruptedDbs();
    assert.deepEqual(again.fixed, ['shop.db']);
    cleanup();
  });
});

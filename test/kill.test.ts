/**
 * Crash safety: a real child process runs dehydrate, hydrate --force or fix and is killed with SIGKILL at a random
 * moment. Afterwards every database and archive must be either exactly as it was or completely new (the result of a
 * full run), and the next run must clean up the temp files the killed one left.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import Database from 'better-sqlite3';
import { DBHydrationManager } from '../src/index.js';
import { snapshot, type DatabaseSnapshot } from './helpers/snapshot.js';
import { leafPagesOf, makeShop, overwritePages, scratchDir } from './helpers/damage.js';
import { tempDir } from './helpers/fixtures.js';

const CHILD = fileURLToPath(new URL('./children/run-operation.ts', import.meta.url));
const REPO = fileURLToPath(new URL('..', import.meta.url));
/** Kills in the middle of each operation, and the most rounds tried to get them. */
const KILLS_PER_OPERATION = 17;
const MAX_ROUNDS_PER_OPERATION = 40;

/** Archive or manifest text with its timestamps blanked, to compare content. */
function normalized(text: string): string {
  // The manifest also holds each archive's path and its hash (which covers exported_at): blank those too.
  return text.replace(/"(exported_at|timestamp|archive_path|sha256)": ?"[^"]*"/g, '"$1": ""');
}

interface Child {
  readonly process: ChildProcessWithoutNullStreams;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  output: string;
}

function spawnChild(op: string, root: string, env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', CHILD, op, join(root, 'data'), join(root, 'archives')],
    { cwd: REPO, stdio: 'pipe', env: { ...process.env, ...env } },
  );
  const child: Child = {
    process: proc,
    output: '',
    ready: new Promise((resolve, reject) => {
      proc.stdout.on('data', (chunk: Buffer) => {
        child.output += chunk.toString();
        if (child.output.startsWith('ready\n')) resolve();
      });
      proc.on('exit', () => {
        reject(new Error(`child exited before it was ready: ${child.output}`));
      });
    }),
    exited: new Promise((resolve) =>
      proc.on('exit', () => {
        resolve();
      }),
    ),
  };
  proc.stderr.resume();
  return child;
}

interface Scenario {
  readonly op: string;
  /** Name in messages and paths (default: `op`). */
  readonly label?: string;
  /** Environment of the child, added to this process's. */
  readonly env?: NodeJS.ProcessEnv;
  /** Builds the "before" state under root/data and root/archives. */
  readonly prepare: (root: string) => void;
  /** Problems found after a kill: each names a file that is neither as before nor completely new. */
  readonly check: (root: string) => string[];
}

function bytesOf(path: string): Buffer | undefined {
  return existsSync(path) ? readFileSync(path) : undefined;
}

function safeSnapshot(path: string): DatabaseSnapshot | string {
  try {
    return snapshot(path);
  } catch (error) {
    return `unreadable: ${(error as Error).message}`;
  }
}

/** Builds the template states and the expected "after" states of each operation, in-process. */
async function buildScenarios(work: string): Promise<Scenario[]> {
  // Dehydrate: a.db changed since its archive was written, b.db unchanged.
  const dTpl = join(work, 'dehydrate-template');
  mkdirSync(join(dTpl, 'data'), { recursive: true });
  makeShop(join(dTpl, 'data', 'a.db'), 8000);
  makeShop(join(dTpl, 'data', 'b.db'), 300);
  await new DBHydrationManager({
    dataDir: join(dTpl, 'data'),
    archiveDir: join(dTpl, 'archives'),
  }).dehydrateAll();
  const changer = new Database(join(dTpl, 'data', 'a.db'));
  changer.exec("UPDATE items SET name = name || ' (changed)' WHERE id % 7 = 0");
  changer.close();
  const dRef = join(work, 'dehydrate-ref');
  cpSync(dTpl, dRef, { recursive: true });
  await new DBHydrationManager({
    dataDir: join(dRef, 'data'),
    archiveDir: join(dRef, 'archives'),
  }).dehydrateAll();
  const dOld = new Map(
    readdirSync(join(dTpl, 'archives')).map((n) => [n, readFileSync(join(dTpl, 'archives', n), 'utf8')]),
  );
  const dNew = new Map(
    readdirSync(join(dRef, 'archives')).map((n) => [
      n,
      normalized(readFileSync(join(dRef, 'archives', n), 'utf8')),
    ]),
  );
  const dDbs = new Map(['a.db', 'b.db'].map((n) => [n, readFileSync(join(dTpl, 'data', n))]));
  assert.notEqual(normalized(dOld.get('a.json') ?? ''), dNew.get('a.json'));

  // Hydrate --force: a.db holds an older version than its archive; b.db is missing.
  const hTpl = join(work, 'hydrate-template');
  mkdirSync(join(hTpl, 'data'), { recursive: true });
  makeShop(join(hTpl, 'data', 'a.db'), 12000, 'wal');
  makeShop(join(hTpl, 'data', 'b.db'), 500);
  await new DBHydrationManager({
    dataDir: join(hTpl, 'data'),
    archiveDir: join(hTpl, 'archives'),
  }).dehydrateAll();
  const hNew = new Map(['a.db', 'b.db'].map((n) => [n, snapshot(join(hTpl, 'data', n))]));
  rmSync(join(hTpl, 'data', 'b.db'));
  const older = new Database(join(hTpl, 'data', 'a.db'));
  older.exec('DELETE FROM items WHERE id > 6000');
  older.close();
  const hOld = snapshot(join(hTpl, 'data', 'a.db'));
  const hArchives = new Map(
    readdirSync(join(hTpl, 'archives')).map((n) => [n, readFileSync(join(hTpl, 'archives', n))]),
  );

  // Fix: a.db damaged with an archive, c.db damaged without one, b.db healthy.
  const fTpl = join(work, 'fix-template');
  mkdirSync(join(fTpl, 'data'), { recursive: true });
  makeShop(join(fTpl, 'data', 'a.db'), 8000);
  makeShop(join(fTpl, 'data', 'b.db'), 300);
  await new DBHydrationManager({
    dataDir: join(fTpl, 'data'),
    archiveDir: join(fTpl, 'archives'),
  }).dehydrateAll();
  const fRestored = snapshot(join(fTpl, 'data', 'a.db'));
  makeShop(join(fTpl, 'data', 'c.db'), 8000);
  for (const n of ['a.db', 'c.db']) {
    const p = join(fTpl, 'data', n);
    overwritePages(p, leafPagesOf(p, 'items').slice(20, 22));
  }
  const fDamaged = new Map(['a.db', 'b.db', 'c.db'].map((n) => [n, readFileSync(join(fTpl, 'data', n))]));
  const fArchives = new Map(
    readdirSync(join(fTpl, 'archives')).map((n) => [n, readFileSync(join(fTpl, 'archives', n))]),
  );
  const fRef = join(work, 'fix-ref');
  cpSync(fTpl, fRef, { recursive: true });
  const refFix = await new DBHydrationManager({
    dataDir: join(fRef, 'data'),
    archiveDir: join(fRef, 'archives'),
  }).fixCorruptedDbs();
  assert.deepEqual(refFix.fixed, ['a.db', 'c.db']);
  const fSalvaged = snapshot(join(fRef, 'data', 'c.db'));

  const copy =
    (tpl: string) =>
    (root: string): void => {
      cpSync(tpl, root, { recursive: true });
    };
  const dehydrateCheck = (root: string): string[] => {
    const problems: string[] = [];
    for (const [name, old] of dOld) {
      const now = bytesOf(join(root, 'archives', name))?.toString('utf8');
      if (now !== old && (now === undefined || normalized(now) !== dNew.get(name)))
        problems.push(`archives/${name}`);
    }
    for (const [name, bytes] of dDbs) {
      if (!isDeepStrictEqual(bytesOf(join(root, 'data', name)), bytes))
        problems.push(`data/${name} (source changed)`);
    }
    return problems;
  };
  return [
    { op: 'dehydrate', prepare: copy(dTpl), check: dehydrateCheck },
    // The same with the helper thread of a parallel export (tiny units, so it always takes part): its part files are
    // temp files too.
    {
      op: 'dehydrate',
      label: 'dehydrate-parallel',
      env: { DB_HYDRATION_PARALLEL: 'force:500' },
      prepare: copy(dTpl),
      check: dehydrateCheck,
    },
    {
      op: 'hydrate-force',
      prepare: copy(hTpl),
      check: (root) => {
        const problems: string[] = [];
        const a = join(root, 'data', 'a.db');
        const snapA = safeSnapshot(a);
        if (!isDeepStrictEqual(snapA, hOld) && !isDeepStrictEqual(snapA, hNew.get('a.db')))
          problems.push('data/a.db');
        const b = join(root, 'data', 'b.db');
        if (existsSync(b) && !isDeepStrictEqual(safeSnapshot(b), hNew.get('b.db')))
          problems.push('data/b.db');
        // A backup is a complete copy of a state its database had: a.db old or new (a later run backs up the new
        // one), b.db new.
        for (const name of readdirSync(join(root, 'data'))) {
          if (!name.endsWith('.bak')) continue;
          const snap = safeSnapshot(join(root, 'data', name));
          const allowed = name.startsWith('a.db.') ? [hOld, hNew.get('a.db')] : [hNew.get('b.db')];
          if (!allowed.some((a) => isDeepStrictEqual(snap, a)))
            problems.push(`data/${name} (incomplete backup)`);
        }
        for (const [name, bytes] of hArchives) {
          if (!isDeepStrictEqual(bytesOf(join(root, 'archives', name)), bytes))
            problems.push(`archives/${name}`);
        }
        return problems;
      },
    },
    {
      op: 'fix',
      prepare: copy(fTpl),
      check: (root) => {
        const problems: string[] = [];
        const expectedNew = new Map([
          ['a.db', fRestored],
          ['c.db', fSalvaged],
        ]);
        for (const [name, damaged] of fDamaged) {
          const path = join(root, 'data', name);
          const now = bytesOf(path);
          if (isDeepStrictEqual(now, damaged)) continue;
          const fresh = expectedNew.get(name);
          if (fresh === undefined || !isDeepStrictEqual(safeSnapshot(path), fresh))
            problems.push(`data/${name}`);
        }
        for (const name of readdirSync(join(root, 'data'))) {
          const m = /^(.*\.db)\.corrupt-/.exec(name);
          if (m !== null && !name.endsWith('-shm') && !name.endsWith('-wal') && !name.endsWith('-journal')) {
            if (!isDeepStrictEqual(readFileSync(join(root, 'data', name)), fDamaged.get(m[1] ?? ''))) {
              problems.push(`data/${name} (quarantine copy differs from the damaged file)`);
            }
          }
        }
        for (const [name, bytes] of fArchives) {
          if (!isDeepStrictEqual(bytesOf(join(root, 'archives', name)), bytes))
            problems.push(`archives/${name}`);
        }
        return problems;
      },
    },
  ];
}

async function timeFullRun(s: Scenario, root: string): Promise<number> {
  s.prepare(root);
  const child = spawnChild(s.op, root, s.env);
  await child.ready;
  const start = performance.now();
  child.process.stdin.end('go\n');
  await child.exited;
  const ms = performance.now() - start;
  assert.match(child.output, /"errors"/, `${s.op}: the child completes a full run`);
  assert.deepEqual(s.check(root), [], `${s.op}: a full run ends in the new state`);
  return ms;
}

describe('SIGKILL at random moments', () => {
  it('leaves every database and archive as it was or completely new', { timeout: 300_000 }, async () => {
    const { dir, cleanup } = scratchDir('dh-kill-');
    const live = new Set<Child>();
    try {
      const scenarios = await buildScenarios(join(dir, 'templates'));
      let round = 0;
      let killed = 0;
      let midOperation = 0;
      const lost: string[] = [];
      for (const s of scenarios) {
        const name = s.label ?? s.op;
        let duration = await timeFullRun(s, join(dir, `full-${name}`));
        const rootOf = (i: number): string => join(dir, `${name}-${i}`);
        s.prepare(rootOf(0));
        let next = spawnChild(s.op, rootOf(0), s.env);
        live.add(next);
        let inside = 0;
        // Rounds go on until this operation was killed mid-way KILLS_PER_OPERATION times (bounded, in case the
        // machine is so loaded that timing is meaningless).
        for (let i = 0; inside < KILLS_PER_OPERATION && i < MAX_ROUNDS_PER_OPERATION; i++) {
          const child = next;
          const root = rootOf(i);
          await child.ready;
          // Random point from the start of the operation to just before its usual end.
          const delay = Math.random() * duration * 0.98;
          child.process.stdin.end('go\n');
          const timer = setTimeout(() => child.process.kill('SIGKILL'), delay);
          s.prepare(rootOf(i + 1));
          next = spawnChild(s.op, rootOf(i + 1), s.env);
          live.add(next);
          await child.exited;
          live.delete(child);
          clearTimeout(timer);
          round++;
          const finished = child.output.includes('"errors"');
          if (child.process.signalCode === 'SIGKILL') killed++;
          if (child.process.signalCode === 'SIGKILL' && !finished) {
            midOperation++;
            inside++;
          }
          // Finished before the kill: the operation runs faster than measured, so aim earlier from now on.
          if (finished) duration *= 0.8;
          for (const p of s.check(root))
            lost.push(`${name} round ${i} (killed after ${delay.toFixed(0)} ms): ${p}`);
          // The next run removes the temp files the killed one left, and completes.
          const manager = new DBHydrationManager({
            dataDir: join(root, 'data'),
            archiveDir: join(root, 'archives'),
          });
          const next_ =
            s.op === 'dehydrate'
              ? await manager.dehydrateAll()
              : s.op === 'hydrate-force'
                ? await manager.hydrateAll({ force: true })
                : await manager.fixCorruptedDbs();
          if (s.op !== 'fix') assert.deepEqual(next_.errors, [], `${name} round ${i}: the next run succeeds`);
          assert.deepEqual(s.check(root), [], `${name} round ${i}: the next run ends in a valid state`);
          for (const sub of ['data', 'archives']) {
            const leftovers = readdirSync(join(root, sub)).filter((n) => n.includes('.dh-tmp-'));
            assert.deepEqual(leftovers, [], `${name} round ${i}: stale temp files are cleaned up`);
          }
          rmSync(root, { recursive: true, force: true });
        }
        // The last prepared child is not needed.
        next.ready.catch(() => undefined);
        next.process.kill('SIGKILL');
        await next.exited;
        live.delete(next);
      }
      // Figures for the report.
      console.log(
        `kill test: ${round} rounds, ${killed} SIGKILLs, ${midOperation} in the middle of an operation, ${lost.length} files lost`,
      );
      assert.deepEqual(lost, []);
      assert.ok(midOperation >= 60, `at least 60 kills in the middle of an operation (got ${midOperation})`);
    } finally {
      // A failed assertion must not leave children behind.
      for (const c of live) {
        c.ready.catch(() => undefined);
        c.process.kill('SIGKILL');
      }
      cleanup();
    }
  });
});

/**
 * Runs `op` with the given dirs where writes fail for lack of space: on a small tmpfs mounted for the test when the
 * machine allows it (root), otherwise in a child process under a file-size limit (`ulimit -f`), where writes past the
 * limit fail with EFBIG. Returns the errors and how the failure was produced.
 */
async function runOutOfSpace(
  op: 'dehydrate' | 'hydrate-force',
  mountPoint: string,
  dataDir: string,
  archiveDir: string,
): Promise<{ errors: string[]; how: string }> {
  if (isMounted(mountPoint)) {
    const manager = new DBHydrationManager({ dataDir, archiveDir });
    const r = op === 'dehydrate' ? await manager.dehydrateAll() : await manager.hydrateAll({ force: true });
    return { errors: [...r.errors], how: 'tmpfs' };
  }
  const out = execFileSync(
    'sh',
    [
      '-c',
      `ulimit -f 1024 && exec "${process.execPath}" --import tsx "${CHILD}" ${op} "${dataDir}" "${archiveDir}"`,
    ],
    { cwd: REPO, input: 'go\n', encoding: 'utf8' },
  );
  const line = out.split('\n').find((l) => l.startsWith('{')) ?? '{"errors": []}';
  return { errors: (JSON.parse(line) as { errors: string[] }).errors, how: 'ulimit -f' };
}

function isMounted(mountPoint: string): boolean {
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === mountPoint);
}

function tryMountTmpfs(mountPoint: string, size: string): void {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mountPoint], { stdio: 'ignore' });
  } catch {
    // Not root, or no mount(8): runOutOfSpace falls back to a file-size limit.
  }
}

describe('running out of disk space', () => {
  it('dehydrate: the archive that does not fit is abandoned, the old one stays, and the error says why', async () => {
    const { dir, cleanup } = tempDir('dh-full-');
    const small = join(dir, 'small');
    mkdirSync(small);
    tryMountTmpfs(small, '1m');
    try {
      const data = join(dir, 'data');
      const archives = join(small, 'archives');
      mkdirSync(data);
      makeShop(join(data, 'big.db'), 10);
      const first = await new DBHydrationManager({ dataDir: data, archiveDir: archives }).dehydrateAll();
      assert.deepEqual(first.errors, []);
      const before = new Map(readdirSync(archives).map((n) => [n, readFileSync(join(archives, n))]));
      // Grow the database so that its new archive (several MB) cannot fit.
      rmSync(join(data, 'big.db'));
      makeShop(join(data, 'big.db'), 30000);
      const { errors, how } = await runOutOfSpace('dehydrate', small, data, archives);
      assert.equal(errors.length, 1, `${how}: ${JSON.stringify(errors)}`);
      assert.match(errors[0] ?? '', /ENOSPC|no space|EFBIG|too large/i);
      assert.match(errors[0] ?? '', /big\.db/);
      assert.match(errors[0] ?? '', /kept/);
      assert.deepEqual(
        readdirSync(archives).sort(),
        ['big.json', 'manifest.json'],
        `${how}: no temp file is left`,
      );
      assert.deepEqual(
        readFileSync(join(archives, 'big.json')),
        before.get('big.json'),
        `${how}: the old archive stays`,
      );
      // Nothing new was exported, so the manifest (with the old archive's entry) stays byte for byte: the error is
      // the run's, not something to commit.
      assert.deepEqual(
        readFileSync(join(archives, 'manifest.json')),
        before.get('manifest.json'),
        `${how}: the manifest stays`,
      );
    } finally {
      if (isMounted(small)) execFileSync('umount', [small]);
      cleanup();
    }
  });

  it('hydrate --force: the database that does not fit is abandoned, and the old one stays', async () => {
    const { dir, cleanup } = tempDir('dh-full-');
    const small = join(dir, 'small');
    mkdirSync(small);
    tryMountTmpfs(small, '1m');
    try {
      const src = join(dir, 'src');
      const archives = join(dir, 'archives');
      mkdirSync(src);
      makeShop(join(src, 'big.db'), 30000);
      await new DBHydrationManager({ dataDir: src, archiveDir: archives }).dehydrateAll();
      const data = join(small, 'data');
      mkdirSync(data);
      makeShop(join(data, 'big.db'), 10);
      const before = readFileSync(join(data, 'big.db'));
      const { errors, how } = await runOutOfSpace('hydrate-force', small, data, archives);
      assert.equal(errors.length, 1, `${how}: ${JSON.stringify(errors)}`);
      assert.match(errors[0] ?? '', /full|ENOSPC|no space|EFBIG|too large|disk I\/O/i);
      assert.match(errors[0] ?? '', /big\.json/);
      assert.deepEqual(readFileSync(join(data, 'big.db')), before, `${how}: the old database stays`);
      assert.deepEqual(readdirSync(data), ['big.db'], `${how}: no temp file or backup is left`);
    } finally {
      if (isMounted(small)) execFileSync('umount', [small]);
      cleanup();
    }
  });
});

/**
 * Parallel export: a helper thread with its own read-only connection reads part of a large database while the main
 * thread reads the rest, so reading rows (most of dehydrate's time) uses two cores.
 *
 * One snapshot. The helper's read transaction must see exactly the main connection's snapshot:
 * - rollback journal: the main connection's read transaction holds a SHARED lock from before the helper starts
 *   reading until after it has finished, and no writer can commit while any SHARED lock is held;
 * - WAL: readers do not block writers, so a short "gate" (a third connection holding the write lock with
 *   `BEGIN IMMEDIATE`) keeps commits out from before the main connection's snapshot until the helper has taken its
 *   own. If the gate cannot be taken at once (a writer is busy, a read-only file), the export runs on one thread.
 * The helper also compares a fingerprint of what it sees with the main connection's, and the file's inode is
 * compared before and after, so a file renamed into place meanwhile is never mixed in.
 *
 * Work. The tables, in archive order, are cut into units (large tables read in rowid order are split into rowid
 * ranges). The main thread claims units from the front and writes them straight into the archive; the helper claims
 * from the back and writes each unit to a part file, which the main thread appends in order. Whatever the helper
 * claimed but could not finish, the main thread reads itself, so a failing helper costs time, never correctness.
 */
import { availableParallelism } from 'node:os';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { ArchivePragmas } from '../archive/format.js';
import type { TablePlan } from './read-schema.js';
import { quoteIdent } from '../sqlite/identifiers.js';
import { rowidKeyOf, type RowRange } from './export-rows.js';

/** One piece of work: a table, or a rowid range of one. */
export interface ExportUnit {
  /** Index of the table in the plan. */
  readonly table: number;
  readonly range?: RowRange | undefined;
}

/** When the export is split over two threads. */
export interface ParallelSettings {
  /** Smaller database files are read on one thread (starting the helper costs about 50 ms). */
  readonly minFileBytes: number;
  /** Fewer rows in all are read on one thread. */
  readonly minRows: number;
  /** Rows per unit when a table is split into rowid ranges. */
  readonly unitRows: number;
  /** Whether the main thread waits for the helper's snapshot before it starts (tests: so the helper takes part). */
  readonly waitForHelper: boolean;
}

/**
 * The settings for this process, or `undefined` for one thread. `DB_HYDRATION_PARALLEL=off` turns the helper off;
 * `force` or `force:<rows per unit>` (for tests) uses it for every database, with tiny units, and has the main thread
 * wait for it.
 */
function parallelSettings(): ParallelSettings | undefined {
  const mode = process.env.DB_HYDRATION_PARALLEL ?? '';
  const forced = /^force(?::(\d+))?$/.exec(mode);
  if (forced !== null) {
    return {
      minFileBytes: 0,
      minRows: 0,
      unitRows: Math.max(1, Number(forced[1] ?? 16)),
      waitForHelper: true,
    };
  }
  if (mode === 'off' || availableParallelism() < 2) return undefined;
  return { minFileBytes: 8 << 20, minRows: 100_000, unitRows: 65_536, waitForHelper: false };
}

/**
 * Cuts the tables into units, in archive order. A table read in rowid order with more than `unitRows` rows is split
 * into ranges of its rowid values (`min`..`max` cut evenly: the first range is open below and the last open above,
 * so every row falls in exactly one range whatever the values).
 */
function planUnits(
  db: Database.Database,
  tables: readonly TablePlan[],
  counts: readonly number[],
  unitRows: number,
): ExportUnit[] {
  const units: ExportUnit[] = [];
  tables.forEach((table, index) => {
    const count = counts[index] ?? 0;
    const rowid = count > unitRows ? rowidKeyOf(table) : undefined;
    if (rowid === undefined) {
      units.push({ table: index });
      return;
    }
    const [low, high] = db
      .prepare(`SELECT min(${rowid.key}), max(${rowid.key}) FROM main.${quoteIdent(table.name)}`)
      .raw(true)
      .safeIntegers(true)
      .get() as [bigint | null, bigint | null];
    if (low === null || high === null) {
      units.push({ table: index });
      return;
    }
    const pieces = BigInt(Math.min(Math.ceil(count / unitRows), MAX_UNITS_PER_TABLE));
    const span = high - low + 1n;
    let after: bigint | undefined;
    for (let k = 1n; k <= pieces; k++) {
      const upTo = k === pieces ? undefined : low - 1n + (span * k) / pieces;
      if (upTo !== undefined && after !== undefined && upTo <= after) continue;
      units.push({ table: index, range: { after, upTo } });
      after = upTo;
    }
  });
  return units;
}

/** A table is cut into at most this many ranges: every unit costs a statement and a part file. */
const MAX_UNITS_PER_TABLE = 64;

/** What both connections must see alike. */
export type SnapshotFingerprint = readonly [schemaVersion: bigint, pageCount: bigint, freelistCount: bigint];

/** Reads the fingerprint; inside a read transaction this also starts the snapshot. */
export function readFingerprint(db: Database.Database): SnapshotFingerprint {
  db.prepare('SELECT count(*) FROM main.sqlite_schema').pluck().get();
  const value = (pragma: string): bigint => BigInt(db.pragma(pragma, { simple: true }) as number | bigint);
  return [value('schema_version'), value('page_count'), value('freelist_count')];
}

// Layout of the shared Int32Array.
export const STATUS = 0;
export const GO = 1;
export const SIGNAL = 2;
export const WORKER_ROWS = 3;
export const HEARTBEAT = 4;
export const CLAIMS = 8;

/** Helper status values. */
export const Status = {
  starting: 0,
  opened: 1,
  ready: 2,
  /** Running quick_check: one long SQLite call, without heartbeats. */
  checking: 3,
  declined: 4,
  failed: 5,
  finished: 6,
} as const;

/** How long the helper may stay silent (no heartbeat) before it is given up for dead, by status. */
const SILENCE_LIMIT_MS = { starting: 30_000, working: 60_000 } as const;

/** GO values: wait, take the snapshot, stop. */
export const Go = { wait: 0, go: 1, stop: 2 } as const;

/** Data the helper starts with. */
export interface HelperData {
  readonly dbPath: string;
  readonly state: SharedArrayBuffer;
  readonly fingerprint: SharedArrayBuffer;
  readonly port: MessagePort;
}

/** The work, sent once the main connection has read the schema. */
export interface HelperPlan {
  readonly tables: readonly TablePlan[];
  readonly units: readonly ExportUnit[];
  readonly encoding: ArchivePragmas['encoding'];
  readonly partPrefix: string;
  readonly quickCheck: boolean;
}

/** Messages from the helper. */
export type HelperMessage =
  | { readonly kind: 'check'; readonly problems: readonly string[] }
  | { readonly kind: 'unit'; readonly index: number; readonly rows: number; readonly path: string }
  | { readonly kind: 'error'; readonly message: string };

/** A unit the helper finished: its rows are in a part file. */
export interface FinishedUnit {
  readonly rows: number;
  readonly path: string;
}

/** The helper's module, beside this one (TypeScript when this module runs as TypeScript, in the tests). */
const WORKER_FILE = new URL(
  import.meta.url.endsWith('.ts') ? './export-worker.ts' : './export-worker.js',
  import.meta.url,
);

/**
 * How to start the helper. Run as TypeScript (the tests, through tsx), the worker registers tsx itself: Node 20 does
 * not pass `--import` hooks on to worker threads.
 */
function workerSource(): { source: URL | string; eval: boolean } {
  if (!import.meta.url.endsWith('.ts')) return { source: WORKER_FILE, eval: false };
  return {
    source: `import { register } from 'tsx/esm/api'; register(); await import(${JSON.stringify(WORKER_FILE.href)});`,
    eval: true,
  };
}

/**
 * Begins `db`'s read transaction (the snapshot every row is read from) and, for a database large enough, starts a
 * helper thread that takes the same snapshot: in rollback-journal mode the shared lock `db` now holds keeps commits
 * out; in WAL mode a write gate does, from before `db`'s snapshot until the helper has its own. Returns the helper,
 * or `undefined` to read on one thread.
 */
export function beginSnapshot(
  db: Database.Database,
  dbPath: string,
  fileBytes: number,
): ExportHelper | undefined {
  const settings = parallelSettings();
  let helper =
    settings !== undefined && fileBytes >= settings.minFileBytes
      ? ExportHelper.start(dbPath, settings)
      : undefined;
  let gate: { release(): void } | undefined;
  try {
    if (helper !== undefined && String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal') {
      gate = helper.waitOpened(5000) ? takeWalGate(dbPath) : undefined;
      if (gate === undefined) {
        helper.stop();
        helper = undefined;
      }
    }
    db.exec('BEGIN');
    const fingerprint = readFingerprint(db);
    if (helper !== undefined) {
      helper.go(fingerprint);
      if (gate !== undefined && !helper.waitReady(5000)) {
        helper.stop();
        helper = undefined;
      }
    }
    return helper;
  } catch (error) {
    helper?.stop();
    throw error;
  } finally {
    gate?.release();
  }
}

/** The main thread's side of the helper. Every wait is bounded; nothing here throws past {@link stop}. */
export class ExportHelper {
  private readonly state: Int32Array;
  private readonly fingerprint: BigInt64Array;
  private readonly port: MessagePort;
  private readonly worker: Worker;
  private readonly finished = new Map<number, FinishedUnit>();
  private problems: readonly string[] | undefined;
  private unitCount = 0;
  private partPrefix: string | undefined;
  private stopped = false;
  /** The helper's last error, for diagnostics. */
  error: string | undefined;

  private constructor(
    dbPath: string,
    private readonly settings: ParallelSettings,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const stateBuffer = new SharedArrayBuffer(4 * CLAIMS);
    const fingerprintBuffer = new SharedArrayBuffer(8 * 3);
    this.state = new Int32Array(stateBuffer);
    this.fingerprint = new BigInt64Array(fingerprintBuffer);
    const data: HelperData = { dbPath, state: stateBuffer, fingerprint: fingerprintBuffer, port: port2 };
    const { source, eval: isEval } = workerSource();
    this.worker = new Worker(source, {
      eval: isEval,
      workerData: data,
      transferList: [port2],
      stdout: true,
      stderr: true,
      // V8's young generation grows to 32 MiB by default under this allocation rate; 8 MiB keeps the helper's share of
      // peak RSS near 20 MiB at little cost in collections (measured at 1M rows: 4 MiB +4% time, 16 MiB +10 MiB RSS).
      resourceLimits: { maxYoungGenerationSizeMb: 8 },
    });
    this.worker.unref();
    // This thread waits synchronously while the export runs, so these only run once it is over. Without a listener,
    // a helper that died abnormally (out of memory, a module that failed to load) would be an uncaught 'error' then.
    this.worker.on('error', (error: Error) => {
      this.error ??= `the helper thread failed: ${error.message}`;
    });
    // A helper given up for silence may still write the unit it was reading: whatever part file is left goes.
    this.worker.on('exit', () => {
      this.removeParts();
    });
  }

  /**
   * Starts a helper thread, or returns `undefined` when one cannot be started (a bundler that left the worker's
   * module behind would otherwise cost the silence limit before the export goes on alone).
   */
  static start(dbPath: string, settings: ParallelSettings): ExportHelper | undefined {
    try {
      if (!existsSync(fileURLToPath(WORKER_FILE))) return undefined;
      return new ExportHelper(dbPath, settings);
    } catch {
      return undefined;
    }
  }

  /** Waits until the helper has opened its connection; false when it did not within the time. */
  waitOpened(timeoutMs: number): boolean {
    return (
      this.waitFor(() => this.status() !== Status.starting, timeoutMs) && this.status() === Status.opened
    );
  }

  /** Lets the helper take its snapshot, which must match `fingerprint`. */
  go(fingerprint: SnapshotFingerprint): void {
    fingerprint.forEach((v, i) => (this.fingerprint[i] = v));
    Atomics.store(this.state, GO, Go.go);
    Atomics.notify(this.state, GO);
  }

  /** Waits until the helper holds its snapshot (true), or has declined or failed (false). */
  waitReady(timeoutMs: number): boolean {
    this.waitFor(() => this.status() >= Status.ready, timeoutMs);
    const s = this.status();
    return s === Status.ready || s === Status.checking || s === Status.finished;
  }

  /**
   * Shares the tables with the helper, cut into units, and asks it to run quick_check. Returns the units, or
   * `undefined` when there are too few rows for two threads (the helper is then stopped).
   * @param partPrefix path prefix of the helper's part files (the archive's temp path)
   */
  share(
    db: Database.Database,
    tables: readonly TablePlan[],
    counts: readonly number[],
    encoding: ArchivePragmas['encoding'],
    partPrefix: string,
  ): readonly ExportUnit[] | undefined {
    const total = counts.reduce((a, b) => a + b, 0);
    const units = total >= this.settings.minRows ? planUnits(db, tables, counts, this.settings.unitRows) : [];
    if (units.length < 2) {
      this.stop();
      return undefined;
    }
    this.sendPlan({ tables, units, encoding, partPrefix, quickCheck: true });
    if (this.settings.waitForHelper) this.waitReady(30_000);
    return units;
  }

  /** Sends the work; claims are sized for its units. */
  private sendPlan(plan: HelperPlan): void {
    this.unitCount = plan.units.length;
    this.partPrefix = plan.partPrefix;
    this.claimsView = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, plan.units.length)));
    this.port.postMessage({ plan, claims: this.claimsView.buffer });
    Atomics.add(this.state, SIGNAL, 1);
    Atomics.notify(this.state, SIGNAL);
  }

  private claimsView: Int32Array | undefined;

  /** Claims unit `index` for the main thread; false when the helper has it. */
  claim(index: number): boolean {
    const claims = this.claimsView;
    if (claims === undefined) return true;
    return Atomics.compareExchange(claims, index, 0, 1) === 0;
  }

  /**
   * Waits for unit `index`, which the helper claimed. Returns `undefined` when the helper ended without finishing it
   * (then the main thread reads it itself).
   * @param onWait called about every 200 ms while waiting
   */
  takeUnit(index: number, onWait?: () => void): FinishedUnit | undefined {
    for (;;) {
      this.drain();
      const done = this.finished.get(index);
      if (done !== undefined) {
        this.finished.delete(index);
        return done;
      }
      if (this.ended()) {
        // The helper posts before it sets its status: whatever it finished is in the queue by now.
        this.drain();
        const last = this.finished.get(index);
        this.finished.delete(index);
        return last;
      }
      this.waitSignal(200);
      onWait?.();
    }
  }

  /** The helper's quick_check problems, waiting for them; `undefined` when it ended without checking. */
  checkResult(): readonly string[] | undefined {
    for (;;) {
      this.drain();
      if (this.problems !== undefined) return this.problems;
      if (this.ended()) {
        this.drain();
        return this.problems;
      }
      this.waitSignal(200);
    }
  }

  /**
   * Whether the helper has stopped (finished, declined or failed), or is given up for dead: silent for longer than
   * {@link SILENCE_LIMIT_MS} (a thread that fails to start, or is killed for memory, never reports its end).
   */
  ended(): boolean {
    if (this.abandoned) return true;
    const s = this.status();
    if (s === Status.declined || s === Status.failed || s === Status.finished) return true;
    const beat = Atomics.load(this.state, HEARTBEAT);
    const now = performance.now();
    if (beat !== this.lastBeat || s === Status.checking) {
      this.lastBeat = beat;
      this.lastBeatAt = now;
      return false;
    }
    const limit = s === Status.starting ? SILENCE_LIMIT_MS.starting : SILENCE_LIMIT_MS.working;
    if (now - this.lastBeatAt <= limit) return false;
    this.error = `the helper thread was silent for ${Math.round(limit / 1000)} s`;
    this.abandoned = true;
    Atomics.store(this.state, GO, Go.stop);
    Atomics.notify(this.state, GO);
    return true;
  }

  private abandoned = false;
  private lastBeat = 0;
  private lastBeatAt = performance.now();

  /**
   * Stops the helper: no more claims, wait (bounded) for it to close its connection, remove part files not taken.
   */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    Atomics.store(this.state, GO, Go.stop);
    Atomics.notify(this.state, GO);
    // A helper given up for silence, or still busy after 10 s, is stopped by force: nothing of it is used any more.
    if (!this.waitFor(() => this.ended(), 10_000) || this.abandoned) void this.worker.terminate();
    this.drain();
    this.finished.clear();
    this.removeParts();
  }

  /** Removes the part files of this export that are still there (those appended were removed already). */
  private removeParts(): void {
    if (this.partPrefix === undefined) return;
    for (let i = 0; i < this.unitCount; i++) rmSync(`${this.partPrefix}.part-${i}`, { force: true });
  }

  /** Rows the helper has read in its current unit. */
  rowsInFlight(): number {
    return Atomics.load(this.state, WORKER_ROWS);
  }

  private status(): number {
    return Atomics.load(this.state, STATUS);
  }

  private drain(): void {
    for (;;) {
      const received = receiveMessageOnPort(this.port) as { message: HelperMessage } | undefined;
      if (received === undefined) return;
      const m = received.message;
      if (m.kind === 'unit') this.finished.set(m.index, { rows: m.rows, path: m.path });
      else if (m.kind === 'check') this.problems = m.problems;
      else this.error = m.message;
    }
  }

  private waitSignal(timeoutMs: number): void {
    const seen = Atomics.load(this.state, SIGNAL);
    this.drain();
    Atomics.wait(this.state, SIGNAL, seen, timeoutMs);
  }

  private waitFor(done: () => boolean, timeoutMs: number): boolean {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seen = Atomics.load(this.state, SIGNAL);
      if (done()) return true;
      const left = deadline - performance.now();
      if (left <= 0) return false;
      Atomics.wait(this.state, SIGNAL, seen, Math.min(left, 200));
    }
  }
}

/**
 * The WAL gate: a read-write connection holding the write lock, so nothing commits until it is released. Taken
 * without waiting; `undefined` when it cannot be taken now.
 */
function takeWalGate(dbPath: string): { release(): void } | undefined {
  let gate: Database.Database | undefined;
  try {
    gate = new Database(dbPath, { fileMustExist: true, timeout: 0 });
    gate.exec('BEGIN IMMEDIATE');
  } catch {
    if (gate?.open === true) gate.close();
    return undefined;
  }
  const held = gate;
  return {
    release(): void {
      try {
        if (held.inTransaction) held.exec('ROLLBACK');
      } finally {
        held.close();
      }
    },
  };
}

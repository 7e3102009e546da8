/**
 * The main thread's side of a parallel export's helper thread (see parallel-export.ts): starts it, shares the work
 * with it through the protocol of parallel-protocol.ts, and takes over whatever it does not finish.
 */
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { ArchivePragmas } from '../archive/format.js';
import type { TablePlan } from './read-schema.js';
import { planUnits, type ParallelSettings } from './plan-units.js';
import {
  CLAIMS,
  GO,
  Go,
  HEARTBEAT,
  SIGNAL,
  Status,
  STATUS,
  WORKER_ROWS,
  type ExportFaults,
  type ExportUnit,
  type FinishedUnit,
  type HelperData,
  type HelperMessage,
  type HelperPlan,
  type SnapshotFingerprint,
} from './parallel-protocol.js';

/** How long the helper may stay silent (no heartbeat) before it is given up for dead, by status. */
const SILENCE_LIMIT_MS = { starting: 30_000, working: 60_000 } as const;

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
    faults: ExportFaults | undefined,
  ) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const stateBuffer = new SharedArrayBuffer(4 * CLAIMS);
    const fingerprintBuffer = new SharedArrayBuffer(8 * 3);
    this.state = new Int32Array(stateBuffer);
    this.fingerprint = new BigInt64Array(fingerprintBuffer);
    const data: HelperData = {
      dbPath,
      state: stateBuffer,
      fingerprint: fingerprintBuffer,
      port: port2,
      faults,
    };
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
  static start(dbPath: string, settings: ParallelSettings, faults?: ExportFaults): ExportHelper | undefined {
    try {
      if (!existsSync(fileURLToPath(WORKER_FILE))) return undefined;
      return new ExportHelper(dbPath, settings, faults);
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

/**
 * Dehydration at shutdown. On SIGINT, SIGTERM or a normal exit the databases are
 * dehydrated once, never twice and never concurrently with itself, without leaving the export's `-wal` and `-shm`
 * behind; then a signal is re-raised so the process ends with the conventional code (128 + signal number) that its
 * parent expects.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { DBHydrationManager, DehydrationResult } from '../manager.js';

/** Options of {@link dehydrateOnExit}. */
export interface DehydrateOnExitOptions {
  /** Signals to handle. Default `['SIGINT', 'SIGTERM']`. */
  readonly signals?: readonly NodeJS.Signals[];
  /**
   * How long to wait for the application's `beforeDehydrate`, in milliseconds. Default 30000. After that the
   * databases are dehydrated anyway (SQLite gives a consistent snapshot even with the application's connections
   * still open) and the process ends. The export itself runs synchronously and is not cut short once started.
   */
  readonly timeoutMs?: number;
  /**
   * Called first: stop accepting work, close the application's connections. May return a promise. If it throws,
   * rejects or times out, the databases are still dehydrated and the error goes to `onResult`.
   */
  readonly beforeDehydrate?: () => unknown;
  /**
   * Receives the result after the dehydration, and the error if one was thrown: by `dehydrateAll` (then `result` is
   * `undefined`), or by `beforeDehydrate` (then the dehydration still ran). Called synchronously, also from an `exit`
   * handler. The library never prints.
   */
  readonly onResult?: (result: DehydrationResult | undefined, error?: unknown) => void;
  /** Also dehydrate when the process ends normally (`beforeExit`, or `exit` after `process.exit()`). Default true. */
  readonly onNormalExit?: boolean;
}

/** Removes the hooks installed by {@link dehydrateOnExit}. */
export type Unhook = () => void;

/**
 * Installs shutdown hooks that dehydrate the manager's databases once.
 *
 * @returns a function that removes the hooks again
 *
 * @example
 * ```ts
 * const manager = new DBHydrationManager({ dataDir: 'data' });
 * const unhook = dehydrateOnExit(manager, {
 *   beforeDehydrate: () => { server.close(); db.close(); },
 *   onResult: (r) => console.log(`dehydrated ${r?.totalRows ?? 0} rows`),
 * });
 * ```
 */
export function dehydrateOnExit(manager: DBHydrationManager, options: DehydrateOnExitOptions = {}): Unhook {
  const signals = options.signals ?? ['SIGINT', 'SIGTERM'];
  const timeoutMs = options.timeoutMs ?? 30_000;
  const onNormalExit = options.onNormalExit ?? true;
  let running: Promise<void> | undefined;
  /** Whether the dehydration itself has begun: from then on nothing starts it again. */
  let started = false;

  /** Dehydrates now, synchronously, unless that has begun already; reports to onResult. */
  const dehydrateNow = (earlier?: unknown): void => {
    if (started) return;
    started = true;
    let result: DehydrationResult | undefined;
    let error: unknown = earlier;
    try {
      result = manager.dehydrateAllSync();
    } catch (thrown) {
      error = thrown;
    }
    if (result !== undefined)
      for (const fileName of Object.keys(result.databases))
        removeIdleWalFiles(join(manager.dataDir, fileName));
    options.onResult?.(result, error);
  };

  const runOnce = (): Promise<void> => {
    running ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<{ error: Error }>((resolve) => {
        timer = setTimeout(() => {
          resolve({ error: new Error(`beforeDehydrate did not finish within ${timeoutMs} ms`) });
        }, timeoutMs);
      });
      const before = (async () => {
        await options.beforeDehydrate?.();
        return { error: undefined };
      })().catch((error: unknown) => ({ error }));
      const { error } = await Promise.race([before, timeout]);
      clearTimeout(timer);
      dehydrateNow(error);
    })();
    return running;
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    void runOnce().then(() => {
      unhook();
      // With our listeners gone, the default action ends the process with 128 + the signal number.
      process.kill(process.pid, signal);
    });
  };
  const onBeforeExit = (): void => {
    if (running === undefined) void runOnce();
  };
  const onExit = (): void => {
    // `exit` handlers cannot wait, so this dehydrates synchronously, unless that already began. It also covers an
    // exit while beforeDehydrate is still pending: an application's own signal handler that calls process.exit().
    dehydrateNow();
  };

  for (const s of signals) process.on(s, onSignal);
  if (onNormalExit) {
    process.on('beforeExit', onBeforeExit);
    process.on('exit', onExit);
  } else {
    // Not for a normal end; but an exit while a signal's beforeDehydrate is pending must not skip the dehydration.
    process.on('exit', onExitAfterSignal);
  }
  function onExitAfterSignal(): void {
    if (running !== undefined) dehydrateNow();
  }
  let hooked = true;
  const unhook: Unhook = () => {
    if (!hooked) return;
    hooked = false;
    for (const s of signals) process.removeListener(s, onSignal);
    process.removeListener('beforeExit', onBeforeExit);
    process.removeListener('exit', onExit);
    process.removeListener('exit', onExitAfterSignal);
  };
  return unhook;
}

/**
 * The export reads each database through a read-only connection, and SQLite cannot remove a WAL database's `-wal` and
 * `-shm` when the last connection to close is read-only: after the application has closed its own connections (as
 * `beforeDehydrate` should), an empty `-wal` and a 32 KB `-shm` would stay behind. A read-write connection opened and
 * closed here removes them, as the application's own close did, and only when it is the last connection to the
 * database (SQLite checks that under an exclusive lock, across processes): with other connections still open,
 * nothing changes. Only an empty `-wal` is handled, so there are no frames to checkpoint and the database file is not
 * written. Failures are ignored: the files are harmless, only untidy.
 */
function removeIdleWalFiles(dbPath: string): void {
  try {
    if (statSync(`${dbPath}-wal`).size !== 0) return;
    const db = new Database(dbPath, { fileMustExist: true, timeout: 0 });
    try {
      db.pragma('schema_version'); // a read, so that the connection opens the WAL and closes it
    } finally {
      db.close();
    }
  } catch {
    // no -wal, or the database cannot be opened for writing: leave it as it is
  }
}

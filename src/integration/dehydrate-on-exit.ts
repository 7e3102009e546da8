/**
 * Dehydration at shutdown (seed Integration Point 3). On SIGINT, SIGTERM or a normal exit the databases are
 * dehydrated once, never twice and never concurrently with itself; then a signal is re-raised so the process ends
 * with the conventional code (128 + signal number) that its parent expects.
 */
import type { DBHydrationManager, DehydrationResult } from '../manager.js';

/** Options of {@link dehydrateOnExit}. */
export interface DehydrateOnExitOptions {
  /** Signals to handle. Default `['SIGINT', 'SIGTERM']`. */
  readonly signals?: readonly NodeJS.Signals[];
  /**
   * How long to wait for the application's `beforeDehydrate` and the dehydration before the process ends anyway,
   * in milliseconds. Default 30000. (The export itself runs synchronously and is not cut short once started.)
   */
  readonly timeoutMs?: number;
  /** Called first: stop accepting work, close the application's connections. May return a promise. */
  readonly beforeDehydrate?: () => unknown;
  /** Receives the result (or the error thrown) after the dehydration; the library never prints. */
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
  let done = false;

  const runOnce = (): Promise<void> => {
    running ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => {
          resolve('timeout');
        }, timeoutMs);
      });
      const work = (async () => {
        await options.beforeDehydrate?.();
        const result = await manager.dehydrateAll();
        done = true;
        options.onResult?.(result);
      })().catch((error: unknown) => {
        done = true;
        options.onResult?.(undefined, error);
      });
      await Promise.race([work, timeout]);
      clearTimeout(timer);
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
    // `exit` handlers cannot wait: this runs only when the process ends through process.exit() before any other
    // hook ran. dehydrateAll does its work synchronously before its promise settles, so the archives are written.
    if (running === undefined && !done) {
      running = Promise.resolve();
      try {
        void manager.dehydrateAll().then(
          (r) => options.onResult?.(r),
          (e: unknown) => options.onResult?.(undefined, e),
        );
      } catch (error) {
        options.onResult?.(undefined, error);
      }
    }
  };

  for (const s of signals) process.on(s, onSignal);
  if (onNormalExit) {
    process.on('beforeExit', onBeforeExit);
    process.on('exit', onExit);
  }
  let hooked = true;
  const unhook: Unhook = () => {
    if (!hooked) return;
    hooked = false;
    for (const s of signals) process.removeListener(s, onSignal);
    process.removeListener('beforeExit', onBeforeExit);
    process.removeListener('exit', onExit);
  };
  return unhook;
}

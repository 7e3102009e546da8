/**
 * Running `verify` with a small young generation. verify holds a hydrate and two exports in one process, and V8 grows
 * its young generation to the full semi-spaces while they allocate: on the 1M-row benchmark fixture that is most of
 * its peak RSS above 100 MiB (110 MiB; with `--max-semi-space-size=2`, 80 MiB in the same time). V8 sizes the heap
 * when the process starts (`v8.setFlagsFromString` does not resize the running one), so the CLI runs the command once
 * more in a child process with the flag, unless it was started with one. A second start costs ~50 ms, which a
 * command that reads every row twice does not notice; the commands hooks run on every commit do not do this.
 */
import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

/** The V8 flag: semi-spaces of 2 MiB (the young generation of a 64-bit Node 20 grows to 16 MiB semi-spaces). */
export const SMALL_YOUNG_GENERATION_FLAG = '--max-semi-space-size=2';

/**
 * Runs this CLI invocation again in a child process with {@link SMALL_YOUNG_GENERATION_FLAG}, its standard streams
 * inherited, and returns the child's exit code. Returns `undefined` (run here, as before) when a semi-space size was
 * given already (the command line or `NODE_OPTIONS`), when this module is not the running CLI (a library or test
 * calling `run()`), or when the child could not be started.
 */
export function rerunWithSmallYoungGeneration(): number | undefined {
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (given.some((a) => a.startsWith('--max-semi-space-size'))) return undefined;
  const script = process.argv[1];
  if (script === undefined || !isThisFile(script)) return undefined;
  const child = spawnSync(
    process.execPath,
    [SMALL_YOUNG_GENERATION_FLAG, ...process.execArgv, script, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  if (child.error !== undefined) return undefined;
  // A child killed by a signal: exit as a shell reports it (128 + the signal's number).
  if (child.signal !== null) return 128 + constants.signals[child.signal];
  return child.status ?? 1;
}

/** Whether `script` (process.argv[1]) is the file this code runs from: the bundled CLI, not a caller of `run()`. */
function isThisFile(script: string): boolean {
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

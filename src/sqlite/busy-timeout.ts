/** The largest busy timeout better-sqlite3 accepts (a signed 32-bit millisecond count), about 24.8 days. */
export const MAX_BUSY_TIMEOUT_MS = 2 ** 31 - 1;

/** Why `value` is not a usable busy timeout, or `undefined` when it is (or is not given). */
export function busyTimeoutProblem(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_BUSY_TIMEOUT_MS) {
    return undefined;
  }
  // JSON.stringify gives undefined for a function or a symbol, whatever its declared type says.
  const shown = JSON.stringify(value) as string | undefined;
  return `must be a whole number of milliseconds from 0 to ${MAX_BUSY_TIMEOUT_MS}, got ${shown ?? typeof value}`;
}

/**
 * Checks an API caller's busy timeout up front. better-sqlite3 throws a plain RangeError or TypeError for a bad one
 * when a connection opens, which would otherwise surface deep inside a check or a repair.
 * @throws {RangeError} when the value is not a whole number of milliseconds in range
 */
export function assertBusyTimeout(value: unknown, name = 'busyTimeoutMs'): void {
  const problem = busyTimeoutProblem(value);
  if (problem !== undefined) throw new RangeError(`${name} ${problem}`);
}

/** How long to wait for a database locked by another connection, in milliseconds, unless told otherwise. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/**
 * The one options checker: the keys the config file and `new DBHydrationManager()` accept, and what each value must
 * be. An unknown key is named with the nearest known one; a value out of range is named with what it must be.
 */
import { busyTimeoutProblem } from '../sqlite/busy-timeout.js';

/** Why a name cannot be the migrations ledger's table (`migrationsTable`): a plain name, not one of SQLite's own. */
const tableName: ValueCheck = (v) =>
  typeof v === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(v) && !/^sqlite_/i.test(v)
    ? undefined
    : 'must be a table name of letters, digits and _ (not starting with a digit or sqlite_)';

/** Why a value is not usable for its key, or undefined when it is. */
export type ValueCheck = (value: unknown) => string | undefined;

const directory: ValueCheck = (v) =>
  typeof v === 'string' && v !== '' ? undefined : 'must be a non-empty string (a directory)';

/** An age recipient as the config gives it: `age1…` (bech32); the age library checks it fully when used. */
const AGE_RECIPIENT = /^age1[02-9ac-hj-np-z]{20,}$/;

/** `encrypt`: `{ "recipients": ["age1…"], "identityFile": "path" }`, or `{ "passphrase": true }`. */
const encryptCheck: ValueCheck = (v) => {
  const usage = 'must be { "recipients": ["age1…", …], "identityFile"?: "path" } or { "passphrase": true }';
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return usage;
  for (const key of Object.keys(v))
    if (key !== 'recipients' && key !== 'identityFile' && key !== 'passphrase')
      return `${usage}: unknown key "${key}"`;
  const { recipients, identityFile, passphrase } = v as {
    recipients?: unknown;
    identityFile?: unknown;
    passphrase?: unknown;
  };
  if (passphrase !== undefined) {
    if (passphrase !== true)
      return `${usage}: "passphrase" must be true (the passphrase itself comes from DB_HYDRATION_AGE_PASSPHRASE or a terminal prompt, never from the config)`;
    if (recipients !== undefined)
      return `${usage}: "passphrase" and "recipients" exclude each other (an age file encrypted to a passphrase has no other recipient)`;
    return undefined;
  }
  if (!Array.isArray(recipients) || recipients.length === 0)
    return `${usage}: "recipients" must list one or more`;
  const bad: unknown = (recipients as unknown[]).find((r) => typeof r !== 'string' || !AGE_RECIPIENT.test(r));
  if (bad !== undefined)
    return `${usage}: ${JSON.stringify(bad)} is not an age recipient (age1…, from age-keygen -y)`;
  if (identityFile !== undefined && (typeof identityFile !== 'string' || identityFile === ''))
    return `${usage}: "identityFile" must be a non-empty string (a path)`;
  return undefined;
};

/** The values of `compress`: the gzip codec (`<name>.json.gz`), or none (`<name>.json`). */
export const COMPRESSIONS = ['gzip', 'none'] as const;

const compression: ValueCheck = (v) =>
  typeof v === 'string' && (COMPRESSIONS as readonly string[]).includes(v)
    ? undefined
    : `must be one of ${COMPRESSIONS.map((c) => JSON.stringify(c)).join(', ')}`;

/** The keys of one database's object under `perDatabase`, and the check of each. */
export const PER_DATABASE_CHECKS = {
  compress: compression,
  encrypt: (v) => (v === false ? undefined : encryptCheck(v)),
} as const satisfies Readonly<Record<string, ValueCheck>>;

/** `perDatabase`: database file name → an object of {@link PER_DATABASE_CHECKS} keys. */
const perDatabase: ValueCheck = (v) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    return 'must be an object: database file name -> settings, e.g. {"app.db": {"compress": "gzip"}} or {"app.db": {"encrypt": false}}';
  for (const [name, settings] of Object.entries(v as Record<string, unknown>)) {
    if (typeof settings !== 'object' || settings === null || Array.isArray(settings))
      return `["${name}"] must be an object of settings, e.g. {"compress": "gzip"}`;
    const problem = findOptionProblem(settings, PER_DATABASE_CHECKS);
    if (problem?.kind === 'unknown')
      return `["${name}"] has an unknown key "${problem.key}"${didYouMean(problem.nearest)} (known keys: ${Object.keys(PER_DATABASE_CHECKS).join(', ')})`;
    if (problem !== undefined) return `["${name}"].${problem.key} ${problem.problem}`;
  }
  return undefined;
};

/** The keys a config file may set, and the check of each. */
export const CONFIG_CHECKS = {
  dataDir: directory,
  archiveDir: directory,
  databases: (v) =>
    Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '')
      ? undefined
      : 'must be an array of database file names, e.g. ["app.db"]',
  busyTimeoutMs: (v) => busyTimeoutProblem(v),
  backupsKept: (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= 0
      ? undefined
      : 'must be a whole number: 1 or more, or 0 to keep every backup',
  migrationsDir: directory,
  migrate: (v) => (typeof v === 'boolean' ? undefined : 'must be true or false'),
  migrationsTable: tableName,
  encrypt: encryptCheck,
  compress: compression,
  perDatabase,
  remote: (v) =>
    typeof v === 'string' && /^s3:\/\/[^/]+/.test(v)
      ? undefined
      : 'must be an S3 remote URL, s3://BUCKET/PREFIX (docs/remote.md)',
  endpoint: (v) =>
    typeof v === 'string' && /^https?:\/\/[^/]/.test(v)
      ? undefined
      : 'must be the http(s) URL of an S3-compatible service, e.g. http://127.0.0.1:9000',
} as const satisfies Readonly<Record<string, ValueCheck>>;

/** The options of `new DBHydrationManager()`: the config keys, and the ones only code can give. */
export const MANAGER_CHECKS = {
  ...CONFIG_CHECKS,
  onProgress: (v) => (typeof v === 'function' ? undefined : 'must be a function'),
  identityFiles: (v) =>
    Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '')
      ? undefined
      : 'must be an array of identity file paths',
  passphrase: (v) =>
    (typeof v === 'string' && v !== '') || typeof v === 'function'
      ? undefined
      : 'must be a non-empty string, or a function that returns one',
} as const satisfies Readonly<Record<string, ValueCheck>>;

/** What is wrong with an options object: an unknown key (with the nearest known one) or a value. */
export type OptionProblem =
  | { readonly kind: 'unknown'; readonly key: string; readonly nearest: string | undefined }
  | { readonly kind: 'value'; readonly key: string; readonly problem: string };

/** The first problem of `options` against `checks`, or undefined. Keys whose value is undefined are not set. */
export function findOptionProblem(
  options: object,
  checks: Readonly<Record<string, ValueCheck>>,
): OptionProblem | undefined {
  for (const [key, value] of Object.entries(options)) {
    const check = Object.hasOwn(checks, key) ? checks[key] : undefined;
    if (check === undefined) return { kind: 'unknown', key, nearest: nearestKey(key, Object.keys(checks)) };
    if (value === undefined) continue;
    const problem = check(value);
    if (problem !== undefined) return { kind: 'value', key, problem };
  }
  return undefined;
}

/** ` did you mean "x"?` for the known key nearest to `key` (a typo away), or ''. */
export function didYouMean(nearest: string | undefined): string {
  return nearest === undefined ? '' : `; did you mean "${nearest}"?`;
}

/** The known key closest to `key` in edit distance (case-insensitive), when it is close enough to be a typo. */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

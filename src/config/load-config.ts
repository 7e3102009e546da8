/**
 * Configuration: `db-hydration.config.json` in the working directory, or a `"dbHydration"` key in its package.json.
 * Every key is checked (unknown keys and wrong types are errors naming the key), and paths resolve relative to the
 * file that sets them, so a config means the same thing whichever directory a command runs from.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { COMPRESSIONS, CONFIG_CHECKS, didYouMean, findOptionProblem } from './check-options.js';
import { ConfigError } from '../errors.js';

export { ConfigError };

/** The name of the configuration file looked for in the working directory. */
export const CONFIG_FILE = 'db-hydration.config.json';
/** The key of package.json that may hold the configuration instead. */
export const PACKAGE_JSON_KEY = 'dbHydration';

/** The configuration keys, as written in the file. Paths are relative to the file. */
export interface HydrationConfig {
  /** Directory holding the database files. */
  readonly dataDir?: string;
  /** Directory holding the archives and the manifest. */
  readonly archiveDir?: string;
  /** Database file names inside dataDir (default: every *.db, *.sqlite, *.sqlite3 file there). */
  readonly databases?: readonly string[];
  /** How long to wait for a locked database, in milliseconds. */
  readonly busyTimeoutMs?: number;
  /** How many backups to keep per database when a hydration replaces it. */
  readonly backupsKept?: number;
  /** Directory of numbered SQL migrations (`0001_add_notes.sql`, ...); docs/migrations.md. */
  readonly migrationsDir?: string;
  /** Whether `hydrate` applies pending migrations to the databases it builds (as `hydrate --migrate`). */
  readonly migrate?: boolean;
  /** The ledger table of applied migrations in each database. Default `_db_hydration_migrations`. */
  readonly migrationsTable?: string;
  /** Encrypt every database's archive with age to these recipients (docs/encryption.md). */
  readonly encrypt?: EncryptionSettings;
  /** How `dehydrate` stores archives: `"gzip"` (`<name>.json.gz`) or `"none"` (`<name>.json`, the default). */
  readonly compress?: Compression;
  /** Settings of single databases, by database file name; each overrides the top-level key of the same name. */
  readonly perDatabase?: Readonly<Record<string, DatabaseSettings>>;
  /** Where `push` and `pull` keep the archives: `s3://BUCKET/PREFIX` (docs/remote.md). */
  readonly remote?: string;
  /** The URL of an S3-compatible service for {@link remote} (path-style addressing); default: AWS S3. */
  readonly endpoint?: string;
}

/** `compress`'s values. */
export type Compression = (typeof COMPRESSIONS)[number];

/**
 * Age encryption of archives: the recipients (public keys) to encrypt to, and where this machine's identity is; or,
 * instead of recipients, `passphrase: true` (age allows a passphrase only as the one recipient of a file).
 */
export interface EncryptionSettings {
  /** Age recipients (`age1…`, as `age-keygen -y` prints them); required unless `passphrase` is set. */
  readonly recipients?: readonly string[];
  /**
   * Encrypt to a passphrase (age's scrypt) instead of recipients. The passphrase itself is never in the config: it
   * comes from `DB_HYDRATION_AGE_PASSPHRASE`, the manager's `passphrase` option, or the CLI's terminal prompt.
   */
  readonly passphrase?: true;
  /** Path of an age identity file (private; keep it outside the repository). Resolved against the config's directory. */
  readonly identityFile?: string;
}

/** The settings of one database. */
export interface DatabaseSettings {
  /** Encryption of this database's archive; `false` keeps it plain when the top level encrypts. */
  readonly encrypt?: EncryptionSettings | false;
  /** This database's archive codec, over the top-level `compress`. */
  readonly compress?: Compression;
}

/** A configuration that was found and checked, with its paths made absolute. */
export interface LoadedConfig {
  /** The file it came from (a config file or a package.json); undefined when none was found. */
  readonly source: string | undefined;
  readonly config: HydrationConfig;
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Where to look for the config file and package.json. Default `process.cwd()`. */
  readonly cwd?: string;
  /** An explicit config file (a JSON config, or a package.json whose `dbHydration` key is read). */
  readonly configPath?: string;
}

/**
 * Finds and checks the configuration: `configPath` if given, else `db-hydration.config.json` in `cwd`, else the
 * `dbHydration` key of `cwd`/package.json. Finding none is not an error (the result has `source: undefined`).
 * @throws {ConfigError} when the file is not JSON, or has an unknown key or a value of the wrong type
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const cwd = resolve(options.cwd ?? process.cwd());
  if (options.configPath !== undefined) {
    const file = resolve(cwd, options.configPath);
    if (!existsSync(file)) throw new ConfigError(`${file}: the config file does not exist`, file);
    if (basename(file) === 'package.json') {
      const section = readPackageSection(file);
      return { source: file, config: section === undefined ? {} : checkConfig(section, file) };
    }
    return { source: file, config: checkConfig(readJson(file), file) };
  }
  const configFile = resolve(cwd, CONFIG_FILE);
  if (existsSync(configFile))
    return { source: configFile, config: checkConfig(readJson(configFile), configFile) };
  const packageFile = resolve(cwd, 'package.json');
  if (existsSync(packageFile)) {
    const section = readPackageSection(packageFile);
    if (section !== undefined) return { source: packageFile, config: checkConfig(section, packageFile) };
  }
  return { source: undefined, config: {} };
}

/**
 * Checks a configuration object and resolves its paths against the directory of `file`.
 * @throws {ConfigError} naming the first unknown key or wrongly typed value
 */
export function checkConfig(value: unknown, file: string): HydrationConfig {
  const where = basename(file) === 'package.json' ? `${file} ("${PACKAGE_JSON_KEY}")` : file;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigError(`${where}: the configuration must be a JSON object`, file);
  const problem = findOptionProblem(value, CONFIG_CHECKS);
  if (problem?.kind === 'unknown') {
    throw new ConfigError(
      `${where}: unknown key "${problem.key}"${didYouMean(problem.nearest)} (known keys: ${Object.keys(CONFIG_CHECKS).join(', ')})`,
      file,
      problem.key,
    );
  }
  if (problem !== undefined) {
    const v = (value as Record<string, unknown>)[problem.key];
    throw new ConfigError(
      `${where}: "${problem.key}" ${problem.problem}, got ${JSON.stringify(v)}`,
      file,
      problem.key,
    );
  }
  const out = { ...value } as { -readonly [K in keyof HydrationConfig]: unknown };
  const base = dirname(file);
  if (typeof out.dataDir === 'string') out.dataDir = resolve(base, out.dataDir);
  if (typeof out.archiveDir === 'string') out.archiveDir = resolve(base, out.archiveDir);
  if (typeof out.migrationsDir === 'string') out.migrationsDir = resolve(base, out.migrationsDir);
  const config = out as HydrationConfig;
  const withIdentity = (e: EncryptionSettings): EncryptionSettings =>
    e.identityFile === undefined ? e : { ...e, identityFile: resolve(base, e.identityFile) };
  return {
    ...config,
    ...(config.encrypt === undefined ? {} : { encrypt: withIdentity(config.encrypt) }),
    ...(config.perDatabase === undefined
      ? {}
      : {
          perDatabase: Object.fromEntries(
            Object.entries(config.perDatabase).map(([name, s]) => [
              name,
              s.encrypt === undefined || s.encrypt === false ? s : { ...s, encrypt: withIdentity(s.encrypt) },
            ]),
          ),
        }),
  };
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${file}: cannot read the config file: ${(error as Error).message}`, file);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ConfigError(`${file}: not valid JSON: ${(error as Error).message}`, file);
  }
}

function readPackageSection(file: string): unknown {
  const pkg = readJson(file);
  if (typeof pkg !== 'object' || pkg === null) return undefined;
  return (pkg as Record<string, unknown>)[PACKAGE_JSON_KEY];
}

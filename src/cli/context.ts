/**
 * What every command shares: the common options, turning options + configuration into a manager, and the output
 * rules (--json: the result object alone on stdout; --quiet: errors only; --verbose: details and hints).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Option, type Command, type OptionValues } from '@commander-js/extra-typings';
import { DBHydrationManager, keyRingOf, type HydrationManagerOptions } from '../manager.js';
import {
  hasDatabaseExtension,
  databaseNameOf,
  databaseNameOfArchive,
  isArchiveFileName,
} from '../archive/naming.js';
import { scanDatabases } from '../dehydrate/scan-databases.js';
import { loadConfig, type EncryptionSettings, type HydrationConfig } from '../config/load-config.js';
import { useDecryptionKeys, useProcessKeyRing } from '../archive/keys.js';
import { UsageError, type ErrorDetail } from '../errors.js';
import { ProgressBars } from './progress-bars.js';
import { terminalPassphraseProvider } from './passphrase-prompt.js';
import { displayPath, toJson } from './render.js';
import { MAX_BUSY_TIMEOUT_MS, busyTimeoutProblem } from '../sqlite/busy-timeout.js';

/** The options every command accepts. */
export interface CommonOptions {
  readonly dataDir?: string;
  readonly archiveDir?: string;
  readonly config?: string;
  readonly db?: string[];
  readonly identity?: string[];
  readonly busyTimeout?: number;
  readonly json?: true;
  readonly quiet?: true;
  readonly verbose?: true;
  /** `--migrations <dir>`, of the commands given it by {@link withMigrationsOption}. */
  readonly migrations?: string;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

function parseMs(value: string): number {
  if (!/^\d+$/.test(value) || busyTimeoutProblem(Number(value)) !== undefined)
    throw new UsageError(
      `--busy-timeout must be a whole number of milliseconds from 0 to ${MAX_BUSY_TIMEOUT_MS}, got "${value}"`,
    );
  return Number(value);
}

/** Adds the common options to a command. */
export function withCommonOptions(cmd: Command) {
  return cmd
    .option('--data-dir <dir>', 'directory holding the databases (default: "data", or the config)')
    .option('--archive-dir <dir>', 'directory holding the archives (default: "<data-dir>/json_archives")')
    .option(
      '--config <file>',
      'config file (default: ./db-hydration.config.json or "dbHydration" in ./package.json)',
    )
    .option('--db <name>', 'only this database, e.g. app.db or app (repeatable)', collect)
    .option(
      '--identity <file>',
      'age identity file that decrypts encrypted archives (repeatable; also DB_HYDRATION_AGE_IDENTITY)',
      collect,
    )
    .addOption(new Option('--busy-timeout <ms>', 'wait this long for a locked database').argParser(parseMs))
    .option('--json', 'print the result as JSON on stdout, and nothing else there')
    .option('-q, --quiet', 'print errors only')
    .option('-v, --verbose', 'print details: tables, error codes and hints');
}

/** Output and the manager for one command run. */
export class CommandContext {
  readonly manager: DBHydrationManager;
  readonly bars: ProgressBars;
  readonly busyTimeoutMs: number | undefined;
  /** The configuration the options were read with, and the file it came from (undefined: none was found). */
  readonly config: HydrationConfig;
  readonly configSource: string | undefined;
  readonly startedAt = Date.now();

  constructor(
    readonly options: CommonOptions,
    extra: Partial<HydrationManagerOptions> = {},
  ) {
    let loaded;
    try {
      loaded = loadConfig(options.config === undefined ? {} : { configPath: options.config });
    } catch (error) {
      throw new UsageError((error as Error).message, undefined, { cause: error });
    }
    const config = loaded.config;
    this.config = config;
    this.configSource = loaded.source;
    const dataDir = resolve(options.dataDir ?? config.dataDir ?? 'data');
    // Each flag overrides its own key only: --data-dir with a configured archiveDir keeps that archiveDir.
    const archiveDir = options.archiveDir !== undefined ? resolve(options.archiveDir) : config.archiveDir;
    const migrationsDir =
      options.migrations !== undefined ? resolve(options.migrations) : config.migrationsDir;
    const databases =
      options.db !== undefined && options.db.length > 0
        ? options.db.map((n) => databaseFileName(n, dataDir, config.databases))
        : config.databases;
    this.busyTimeoutMs = options.busyTimeout ?? config.busyTimeoutMs;
    this.bars = new ProgressBars(process.stderr.isTTY && options.json !== true && options.quiet !== true);
    const onProgress = this.bars.listener;
    try {
      this.manager = new DBHydrationManager({
        dataDir,
        ...(archiveDir === undefined ? {} : { archiveDir }),
        ...(databases === undefined ? {} : { databases }),
        ...(this.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: this.busyTimeoutMs }),
        ...(config.backupsKept === undefined ? {} : { backupsKept: config.backupsKept }),
        ...(migrationsDir === undefined ? {} : { migrationsDir }),
        ...(config.migrate === undefined ? {} : { migrate: config.migrate }),
        ...(config.migrationsTable === undefined ? {} : { migrationsTable: config.migrationsTable }),
        ...(config.encrypt === undefined ? {} : { encrypt: config.encrypt }),
        ...(config.perDatabase === undefined ? {} : { perDatabase: config.perDatabase }),
        ...(config.remote === undefined ? {} : { remote: config.remote }),
        ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
        ...(options.identity === undefined ? {} : { identityFiles: options.identity.map((f) => resolve(f)) }),
        ...passphraseOption(() => {
          this.bars.stop();
        }),
        ...(config.compress === undefined ? {} : { compress: config.compress }),
        ...(onProgress === undefined ? {} : { onProgress }),
        ...extra,
      });
    } catch (error) {
      throw new UsageError((error as Error).message, undefined, { cause: error });
    }
    // The command's own archive reads and writes (diff, git resolve) use the manager's keys too.
    useProcessKeyRing(keyRingOf(this.manager));
    if (options.db !== undefined) checkDatabaseNames(this.manager, options.db, databases ?? []);
  }

  get json(): boolean {
    return this.options.json === true;
  }

  /** Human output (stdout), unless --json or --quiet. */
  say(text = ''): void {
    if (this.options.json !== true && this.options.quiet !== true) process.stdout.write(`${text}\n`);
  }

  /** Detail output (stdout), only with --verbose and not --json. */
  detail(text: string): void {
    if (this.options.verbose === true && this.options.json !== true) process.stdout.write(`${text}\n`);
  }

  /** Prints the result object as JSON (bigint-safe) when --json was given. */
  printJson(result: unknown): void {
    if (this.options.json === true) process.stdout.write(`${toJson(result)}\n`);
  }

  /** Prints errors on stderr, each with its hint (and code with --verbose). With --json they are in the result. */
  printErrors(errors: readonly ErrorDetail[]): void {
    this.bars.stop();
    if (this.options.json === true) return;
    for (const e of errors) {
      const code = this.options.verbose === true ? ` [${e.code}]` : '';
      process.stderr.write(`error${code}: ${e.message}\n`);
      if (e.hint !== undefined) process.stderr.write(`  hint: ${e.hint}\n`);
    }
  }

  /** A warning on stderr, with its hint, unless --json (the result holds it) or --quiet. */
  warn(message: string, hint?: string): void {
    if (this.options.json === true || this.options.quiet === true) return;
    this.bars.stop();
    process.stderr.write(`warning: ${message}\n`);
    if (hint !== undefined) process.stderr.write(`  hint: ${hint}\n`);
  }

  /** A path for display. */
  path(p: string): string {
    return displayPath(p);
  }
}

/** A passphrase asked on the terminal when one is needed (and stdin and stderr are a terminal). */
function passphraseOption(beforeAsking: () => void): Partial<HydrationManagerOptions> {
  const provider = terminalPassphraseProvider(beforeAsking);
  return provider === undefined ? {} : { passphrase: provider };
}

/** `--db app` → `app.db` (or the configured/existing file with that name); `--db app.sqlite` stays. */
function databaseFileName(name: string, dataDir: string, configured: readonly string[] | undefined): string {
  if (hasDatabaseExtension(name)) return name;
  const known = [...(configured ?? []), ...scanDatabases(dataDir)];
  return known.find((f) => databaseNameOf(f) === name) ?? `${name}.db`;
}

/**
 * A `--db` name with neither a database file nor an archive is a typo, not a database to report on: a usage error
 * naming both paths and the databases there are. (Judged only when both directories are usable; otherwise the command
 * reports the directory.)
 */
function checkDatabaseNames(
  manager: DBHydrationManager,
  given: readonly string[],
  files: readonly string[],
): void {
  const isDir = (p: string): boolean => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false;
    }
  };
  if (!isDir(manager.dataDir) || (existsSync(manager.archiveDir) && !isDir(manager.archiveDir))) return;
  given.forEach((name, i) => {
    const fileName = files[i] ?? name;
    const dbPath = join(manager.dataDir, fileName);
    const archivePath = manager.archivePathFor(fileName);
    if (existsSync(dbPath) || existsSync(archivePath)) return;
    const known = new Set(scanDatabases(manager.dataDir));
    if (existsSync(manager.archiveDir))
      for (const a of readdirSync(manager.archiveDir))
        if (isArchiveFileName(a)) known.add(databaseNameOfArchive(a) ?? a);
    const names = [...known].map((n) => databaseNameOf(n)).filter((n, j, all) => all.indexOf(n) === j);
    throw new UsageError(
      `--db ${name}: there is no database ${displayPath(dbPath)} and no archive ${displayPath(archivePath)}`,
      names.length === 0
        ? 'check the name and --data-dir / --archive-dir'
        : `check the name; the databases here are: ${names.join(', ')}`,
    );
  });
}

/**
 * Adds `--migrations <dir>` to a command that reads migrations (migrate, hydrate, status); {@link CommandContext}
 * applies it over the config's migrationsDir. It wraps the command after the options `--help` lists before it
 * (hydrate: after --force and --migrate).
 */
export function withMigrationsOption<
  Args extends unknown[],
  Opts extends OptionValues,
  Globals extends OptionValues,
>(cmd: Command<Args, Opts, Globals>) {
  return cmd.option(
    '--migrations <dir>',
    'directory of numbered SQL migrations, e.g. migrations/0001_add_notes.sql (default: "migrationsDir" of the config)',
  );
}

/** Prints a JSON result or runs the human renderer. */
export function output(ctx: CommandContext, result: unknown, human: () => void): void {
  ctx.bars.stop();
  if (ctx.json) ctx.printJson(result);
  else human();
}

export { toJson };

/**
 * For git's drivers, which take no common options: sets the config's identity files (those that exist) as the
 * decryption keys (the environment's are added anyway; a passphrase is asked on the terminal when there is one), and
 * returns what the config encrypts the archive `archiveFileName` to: its recipients, or a passphrase (`undefined`
 * when it is not configured to be encrypted). A config that cannot be read gives none.
 */
export function useConfigKeys(archiveFileName: string): EncryptionSettings | undefined {
  let config: HydrationConfig;
  try {
    config = loadConfig().config;
  } catch {
    return undefined;
  }
  const settings = [config.encrypt, ...Object.values(config.perDatabase ?? {}).map((d) => d.encrypt)];
  useDecryptionKeys({
    identityFiles: settings.flatMap((e) =>
      e === undefined || e === false || e.identityFile === undefined || !existsSync(e.identityFile)
        ? []
        : [e.identityFile],
    ),
    passphrase: terminalPassphraseProvider(() => undefined),
  });
  const name = databaseNameOfArchive(basename(archiveFileName));
  const own = Object.entries(config.perDatabase ?? {}).find(([f]) => databaseNameOf(f) === name)?.[1].encrypt;
  const encryption = own === false ? undefined : (own ?? config.encrypt);
  return encryption;
}

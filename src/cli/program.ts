/**
 * The command-line program: commander 14 with typed options. Each command is one library call plus rendering; this
 * file only assembles them and maps outcomes to exit codes: 0 success, 1 finished with errors in the result, 2 usage
 * error (unknown command or option, bad value, bad config, a data or archive directory that is missing or not a
 * directory, a --db name with neither a database nor an archive).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from '@commander-js/extra-typings';
import { HydrationError, PathError, UsageError, toErrorDetail } from '../errors.js';
import { toJson } from './render.js';
import { dehydrateCommand } from './dehydrate.js';
import { hydrateCommand } from './hydrate.js';
import { fixCommand } from './fix.js';
import { statsCommand } from './stats.js';
import { statusCommand } from './status.js';
import { syncCommand } from './sync.js';
import { verifyCommand } from './verify.js';
import { diffCommand } from './diff.js';
import { gitCommand } from './git.js';
import { migrateCommand } from './migrate.js';
import { rekeyCommand } from './rekey.js';
import { pullCommand, pushCommand } from './remote.js';

/** Exit codes of the CLI. */
export const EXIT = { ok: 0, errors: 1, usage: 2 } as const;

/** The package version, read from the package.json above this file (src/ or dist/). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'db-hydration' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not here: look one level up
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

/** Builds the program. `setExit` receives each command's exit code. */
export function createProgram(setExit: (code: number) => void): Command {
  const program = new Command()
    .name('db-hydration')
    .description(
      'Keep SQLite databases out of Git: dehydrate them into exact, diff-friendly JSON archives and hydrate them back.',
    )
    .version(packageVersion(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Options for every command: --data-dir, --archive-dir, --config, --db NAME (repeatable), --busy-timeout,
--json, --quiet, --verbose. Run \`db-hydration <command> --help\` for details and examples.

Exit codes: 0 success, 1 finished with errors in the result (or verify found a difference), 2 usage error.

Examples:
  $ db-hydration dehydrate && git add data/json_archives     # before committing
  $ git pull && db-hydration hydrate                         # after pulling: brings archive updates in
  $ db-hydration status                                      # what changed, on which side
  $ db-hydration sync                                        # merge a database and its archive that both changed
  $ db-hydration fix                                         # repair damaged databases from their archives`,
    );
  for (const make of [
    dehydrateCommand,
    hydrateCommand,
    fixCommand,
    statsCommand,
    statusCommand,
    syncCommand,
    verifyCommand,
    diffCommand,
    rekeyCommand,
    pushCommand,
    pullCommand,
    gitCommand,
    migrateCommand,
  ]) {
    program.addCommand(
      make(setExit)
        .exitOverride()
        .showSuggestionAfterError(true)
        .showHelpAfterError('(run with --help for usage)'),
    );
  }
  return program;
}

/**
 * Runs the CLI on `argv` (as in `process.argv`) and resolves to the exit code. Never throws for user errors.
 */
export async function run(argv: readonly string[]): Promise<number> {
  let code: number = EXIT.ok;
  const program = createProgram((c) => {
    code = c;
  });
  if (argv.length <= 2) {
    process.stderr.write(program.helpInformation());
    return EXIT.usage;
  }
  try {
    await program.parseAsync([...argv]);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed the message (and help) to stderr.
      return error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
        ? EXIT.ok
        : EXIT.usage;
    }
    // A usage error, or a data or archive directory that is missing or not a directory (a wrong option value or
    // config): exit 2, the message on stderr and nothing on stdout, as for commander's own usage errors.
    if (error instanceof UsageError || error instanceof PathError) {
      process.stderr.write(`error: ${error.message}\n`);
      if (error.hint !== undefined) process.stderr.write(`  hint: ${error.hint}\n`);
      return EXIT.usage;
    }
    const message = error instanceof Error ? error.message : String(error);
    // A script reading --json gets a JSON answer on stdout, shaped like the results' error fields; as for the errors
    // inside a result, that answer is the only place the error is printed (docs/cli.md, Output).
    if (argv.includes('--json')) {
      process.stdout.write(`${toJson({ errors: [message], errorDetails: [toErrorDetail(error)] })}\n`);
    } else {
      process.stderr.write(`error: ${message}\n`);
      if (error instanceof HydrationError && error.hint !== undefined)
        process.stderr.write(`  hint: ${error.hint}\n`);
    }
    return EXIT.errors;
  }
}

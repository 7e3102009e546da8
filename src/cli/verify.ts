/** `db-hydration verify`: do the archives hold exactly what the live databases hold? One call of verifyArchives(). */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { verifyArchives } from '../integration/verify.js';
import { CommandContext, output, withCommonOptions } from './context.js';
import { formatCount, formatDuration, plural } from './render.js';
import { rerunWithSmallYoungGeneration } from './young-generation.js';

/** The `verify` command. */
export function verifyCommand(setExit: (code: number) => void): CommandUnknownOpts {
  return withCommonOptions(
    new Command('verify')
      .summary('check that each archive hydrates into exactly the live database')
      .description(
        'Hydrate each archive into a temp file and compare it with the live database by content (schema, every row with its exact value and type, file settings). Nothing in the data or archive directory is written. Exits 1 when any database differs, is missing, or cannot be read. Library: verifyArchives(manager).',
      ),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ db-hydration verify             # before committing archives: are they complete?
  $ db-hydration verify --db arbiter`,
    )
    .action(async (opts) => {
      // With a small young generation, in a child process (see young-generation.ts): a lower peak of memory.
      const rerun = rerunWithSmallYoungGeneration();
      if (rerun !== undefined) {
        setExit(rerun);
        return;
      }
      const ctx = new CommandContext(opts);
      const result = await verifyArchives(ctx.manager, {
        ...(ctx.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: ctx.busyTimeoutMs }),
        ...(ctx.bars.listener === undefined ? {} : { onProgress: ctx.bars.listener }),
      });
      output(ctx, result, () => {
        const width = Math.max(0, ...result.databases.map((d) => d.fileName.length));
        for (const d of result.databases) {
          const why =
            d.status === 'different'
              ? `differs from ${ctx.path(d.archivePath)}${d.difference?.table === undefined ? ' (schema or settings)' : ` in table "${d.difference.table}"`}; run \`db-hydration status\``
              : d.status === 'missing'
                ? 'no database file to compare with; run `db-hydration hydrate`'
                : d.status === 'error'
                  ? 'could not be compared (see the error below)'
                  : `matches ${ctx.path(d.archivePath)}`;
          ctx.say(`${d.status.padEnd(9)}  ${d.fileName.padEnd(width)}  ${why}`);
        }
        const same = result.databases.filter((d) => d.status === 'same').length;
        // "1 of 3 databases matches its archive", "0 of 1 database matches its archive", "2 of 3 ... match their ...".
        const verb =
          same === 1 || result.databases.length === 1 ? 'matches its archive' : 'match their archives';
        ctx.say(
          `${result.ok ? 'OK' : 'FAILED'}: ${formatCount(same)} of ${plural(result.databases.length, 'database')} ${verb} (${formatDuration(Date.now() - ctx.startedAt)}).`,
        );
      });
      ctx.printErrors(result.errorDetails);
      setExit(result.ok ? 0 : 1);
    });
}

/** `db-hydration fix`: repair missing or damaged databases. One call of `manager.fixCorruptedDbs()`. */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { CommandContext, output, withCommonOptions } from './context.js';
import { formatDuration, plural } from './render.js';

/** The `fix` command. */
export function fixCommand(setExit: (code: number) => void): CommandUnknownOpts {
  return withCommonOptions(
    new Command('fix')
      .summary('repair missing or damaged databases')
      .description(
        'Check every database (PRAGMA quick_check). A missing or damaged one with an archive is kept aside under a timestamped quarantine name (never deleted) and hydrated from its archive; one without an archive keeps its file and has its readable rows salvaged into a rebuilt database. Healthy databases and all archives are left byte for byte as they were. Library: manager.fixCorruptedDbs().',
      ),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ db-hydration fix
  $ db-hydration fix --db market_data --verbose`,
    )
    .action(async (opts) => {
      const ctx = new CommandContext(opts);
      const result = await ctx.manager.fixCorruptedDbs();
      output(ctx, result, () => {
        for (const d of Object.values(result.details)) {
          if (d.action === 'none') {
            ctx.detail(`ok        ${d.fileName}  (${d.check.reason})`);
            continue;
          }
          const what =
            d.action === 'restored'
              ? `restored from ${ctx.path(d.archivePath ?? '')}`
              : d.action === 'salvaged'
                ? `salvaged readable rows (no archive)`
                : d.action === 'created'
                  ? 'created empty (no archive)'
                  : `NOT fixed (${d.action})`;
          ctx.say(`${d.check.status.padEnd(9)} ${d.fileName}: ${d.check.reason}`);
          ctx.say(`  -> ${what}`);
          if (d.quarantined.length > 0)
            ctx.say(`  -> damaged file kept as ${ctx.path(d.quarantined[0] ?? '')}`);
          if (d.integrity !== undefined) ctx.detail(`  -> integrity_check: ${d.integrity}`);
          for (const t of d.salvage?.tables ?? []) ctx.detail(`  -> ${JSON.stringify(t)}`);
        }
        ctx.say(
          `Checked ${plural(result.checked.length, 'database')}: ${result.corrupted.length} missing or damaged, ${result.fixed.length} fixed (${formatDuration(Date.now() - ctx.startedAt)}).`,
        );
      });
      ctx.printErrors(result.errorDetails);
      setExit(result.errors.length > 0 ? 1 : 0);
    });
}

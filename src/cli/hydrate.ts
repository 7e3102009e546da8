/** `db-hydration hydrate`: every archive → its database. One call of `manager.hydrateAll()`, then rendering. */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { CommandContext, output, withCommonOptions } from './context.js';
import { formatDuration, plural } from './render.js';

/** The `hydrate` command. */
export function hydrateCommand(setExit: (code: number) => void): CommandUnknownOpts {
  return withCommonOptions(
    new Command('hydrate')
      .summary('recreate databases from their archives')
      .description(
        'Build each database of <archive-dir>/*.json into the data directory. Missing databases are created; existing ones are skipped unless --force is given, in which case each is backed up first (<file>.<time>.bak) and replaced atomically. Library: manager.hydrateAll({ force }).',
      ),
  )
    .option('-f, --force', 'replace existing databases (each is backed up first)')
    .addHelpText(
      'after',
      `
Examples:
  $ git pull && db-hydration hydrate   # create the databases you do not have yet
  $ db-hydration hydrate --force       # replace local databases with the archives' content
  $ db-hydration hydrate --db arbiter --force`,
    )
    .action(async (opts) => {
      const ctx = new CommandContext(opts);
      const result = await ctx.manager.hydrateAll({ force: opts.force === true });
      output(ctx, result, () => {
        const entries = Object.entries(result.databases);
        for (const [fileName, d] of entries) {
          if (d.status === 'skipped') {
            const unusable = result.errorDetails.some((e) => e.file === d.dbPath);
            ctx.say(
              `skipped   ${fileName}  (${unusable ? 'exists but is not usable; see the error below' : 'exists; use --force to replace it'})`,
            );
            continue;
          }
          const backup =
            d.backupPath === undefined ? '' : `, old file backed up to ${ctx.path(d.backupPath)}`;
          ctx.say(
            `hydrated  ${fileName} <- ${ctx.path(d.archivePath)}  (${plural(d.tablesImported, 'table')}, ${plural(d.totalRows, 'row')}${backup})`,
          );
        }
        const hydrated = entries.filter(([, d]) => d.status === 'hydrated').length;
        ctx.say(
          `Hydrated ${plural(hydrated, 'database')}, skipped ${entries.length - hydrated}: ${plural(result.totalTables, 'table')}, ${plural(result.totalRows, 'row')} in ${formatDuration(Date.now() - ctx.startedAt)}.` +
            (result.errors.length > 0 ? ` ${plural(result.errors.length, 'error')}.` : ''),
        );
        if (entries.length === 0 && result.errors.length === 0)
          ctx.say(`No archives found in ${ctx.path(ctx.manager.archiveDir)}.`);
      });
      ctx.printErrors(result.errorDetails);
      setExit(result.errors.length > 0 ? 1 : 0);
    });
}

/** `db-hydration stats`: what the archives hold. One call of `manager.getArchiveStats()`, then a table. */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { CommandContext, output, withCommonOptions } from './context.js';
import { formatBytes, formatCount, formatTime, plural, renderTable } from './render.js';

/** The `stats` command. */
export function statsCommand(setExit: (code: number) => void): CommandUnknownOpts {
  return withCommonOptions(
    new Command('stats')
      .summary('show what the archives hold')
      .description(
        'Per archive: tables, rows, size as stored (with its codec when compressed or encrypted) and plain size, export time and whether the database file exists. Rows are counted without parsing them. Library: manager.getArchiveStats().',
      ),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ db-hydration stats
  $ db-hydration stats --verbose   # rows per table too
  $ db-hydration stats --json`,
    )
    .action(async (opts) => {
      const ctx = new CommandContext(opts);
      const result = await ctx.manager.getArchiveStats();
      output(ctx, result, () => {
        if (result.archives.length === 0) {
          ctx.say(
            `No archives in ${ctx.path(result.archiveDir)}. Run \`db-hydration dehydrate\` to create them.`,
          );
        } else {
          ctx.say(
            renderTable(
              ['database', 'tables', 'rows', 'archive size', 'plain size', 'exported at', 'db file'],
              result.archives.map((a) => [
                a.fileName,
                formatCount(a.tableCount),
                formatCount(a.totalRows),
                a.codec === 'identity' ? formatBytes(a.bytes) : `${formatBytes(a.bytes)} (${a.codec})`,
                formatBytes(a.plainBytes),
                formatTime(a.exportedAt),
                a.databaseExists ? 'present' : 'missing',
              ]),
              ['left', 'right', 'right', 'right', 'right', 'left', 'left'],
            ),
          );
          for (const a of result.archives) {
            ctx.detail(`\n${a.fileName} (${ctx.path(a.archivePath)}):`);
            for (const [table, rows] of Object.entries(a.tables))
              ctx.detail(`  ${table}: ${plural(rows, 'row')}`);
          }
          ctx.say(
            `\n${plural(result.totalArchives, 'archive')}: ${plural(result.totalTables, 'table')}, ${plural(result.totalRows, 'row')}, ${formatBytes(result.totalBytes)}${result.totalPlainBytes === result.totalBytes ? '' : ` (${formatBytes(result.totalPlainBytes)} plain)`} in ${ctx.path(result.archiveDir)}.`,
          );
        }
      });
      ctx.printErrors(result.errorDetails);
      setExit(result.errors.length > 0 ? 1 : 0);
    });
}

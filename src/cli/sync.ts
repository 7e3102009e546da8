/** `db-hydration sync`: each database with its archive, whichever side changed. One call of `manager.syncAll()`. */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { mergeArchives } from '../merge/merge-archives.js';
import type { MergeConflict } from '../merge/merge-types.js';
import type { SyncAction } from '../manager/sync-all.js';
import { CommandContext, output, withCommonOptions } from './context.js';
import { formatDuration, plural } from './render.js';

const DONE: Readonly<Record<SyncAction, string>> = {
  none: 'in sync',
  dehydrated: 'dehydrated (only the database had changed)',
  hydrated: 'hydrated (only the archive had changed)',
  merged: 'merged (both had changed): archive written, database rebuilt',
  conflict: 'merge stopped on conflicts: they are marked in the archive',
  failed: 'not synced (see the error below)',
};

/** The `sync` command. */
export function syncCommand(setExit: (code: number) => void): CommandUnknownOpts {
  return withCommonOptions(
    new Command('sync')
      .summary('merge each database with its archive, whichever side changed')
      .description(
        "For each database, by its sync state (the archive content it last matched, in <data-dir>/.db-hydration/): only the database changed: dehydrate it; only the archive changed (a pull, checkout or merge): back the database up and rebuild it from the archive; both changed (diverged): a three-way merge by primary key (base: the last-matched archive; ours: the database; theirs: the archive). A clean merge is written over the archive and the database is backed up and rebuilt from it. On conflicts the archive holds the merged rows with each conflicting row between conflict markers, as git's merge driver writes them, the database is left as it is, a report goes to stderr and the exit code is 1: resolve the archive (`db-hydration git resolve`, or by hand), then run `sync` again, which rebuilds the database from the resolved archive. Library: manager.syncAll({ merge: mergeArchives }).",
      ),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ git pull && db-hydration status   # "diverged": you and the pull both changed a database
  $ db-hydration sync                 # merge them; then dehydrate and commit as usual
  $ db-hydration sync --db shop`,
    )
    .action(async (opts) => {
      const ctx = new CommandContext(opts);
      const result = await ctx.manager.syncAll({ merge: mergeArchives });
      output(ctx, result, () => {
        const entries = Object.values(result.databases);
        for (const d of entries) {
          const backup =
            d.backupPath === undefined ? '' : ` (old file backed up to ${ctx.path(d.backupPath)})`;
          ctx.say(`${d.fileName}: ${DONE[d.action]}${backup}`);
        }
        const conflicted = entries.filter((d) => d.action === 'conflict').length;
        ctx.say(
          `Synced ${plural(entries.length, 'database')} in ${formatDuration(Date.now() - ctx.startedAt)}` +
            (conflicted > 0 ? `; ${plural(conflicted, 'database')} with conflicts.` : '.'),
        );
      });
      if (!ctx.json) for (const c of result.conflicts) process.stderr.write(conflictReport(c));
      if (!ctx.json && result.conflicts.length > 0) {
        process.stderr.write(
          '  hint: resolve them: `db-hydration git resolve --ours` (or `--theirs`), or edit the archive (keep one row between each pair of markers, delete the marker lines); then run `db-hydration sync` again\n',
        );
      }
      ctx.printErrors(result.errorDetails);
      setExit(result.errors.length > 0 || result.conflicts.length > 0 ? 1 : 0);
    });
}

/** One conflict for stderr: where it is and the three values. */
function conflictReport(c: MergeConflict): string {
  const where = [
    c.database,
    c.table === undefined ? undefined : `table "${c.table}"`,
    c.key === undefined ? undefined : `key ${c.key}`,
    c.column === undefined ? undefined : `column "${c.column}"`,
  ]
    .filter((p) => p !== undefined)
    .join(', ');
  const values = (['base', 'ours', 'theirs'] as const)
    .map((side) => `    ${side}: ${c[side] ?? '(none)'}`)
    .join('\n');
  return `conflict (${c.kind}): ${where}: ${c.message}\n${values}\n`;
}

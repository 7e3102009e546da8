/** `db-hydration status`: each database against its archive, like `git status`. One call of getStatus(). */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { getStatus, type MigrationStatus, type SyncState } from '../integration/status.js';
import { CommandContext, output, withCommonOptions, withMigrationsOption } from './context.js';
import { formatTime, plural, renderTable } from './render.js';

const LABEL: Readonly<Record<SyncState, string>> = {
  'in-sync': 'in sync',
  changed: 'changed since archive',
  missing: 'missing',
  damaged: 'damaged',
  'not-a-file': 'not a database file',
  locked: 'locked',
  'no-archive': 'no archive yet',
  'archive-updated': 'archive updated',
  diverged: 'diverged',
  conflict: 'unresolved conflicts',
};

/** The `status` command. */
export function statusCommand(setExit: (code: number) => void): CommandUnknownOpts {
  return withMigrationsOption(
    withCommonOptions(
      new Command('status')
        .summary('show which databases differ from their archives')
        .description(
          'Per database: in sync, changed since its archive (next step: dehydrate), archive updated by a pull, checkout or merge (next step: hydrate), diverged (both changed; next step: sync), unresolved conflicts in the archive, missing, damaged, not a database file (a directory at its path), locked, or no archive yet, with the command that fixes it. "Changed" is decided by content (the database is exported to a temp file and compared with its archive), so it agrees with what `dehydrate` would do; which side changed is decided by the sync state in <data-dir>/.db-hydration/ (the archive content each database last matched). Without sync state a difference shows as "changed", and the status says it cannot tell which side changed. Exits 0 whatever the states; use --json and the "clean" field in scripts. Library: getStatus(manager).',
        ),
    ),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ db-hydration status
  $ db-hydration status --migrations migrations   # adds each database's pending migrations
  $ db-hydration status --json | jq -r '.databases[] | select(.state != "in-sync") | .fileName'`,
    )
    .action(async (opts) => {
      const ctx = new CommandContext(opts);
      const result = await getStatus(ctx.manager, {
        ...(ctx.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: ctx.busyTimeoutMs }),
        ...(ctx.bars.listener === undefined ? {} : { onProgress: ctx.bars.listener }),
      });
      output(ctx, result, () => {
        if (result.databases.length === 0) {
          ctx.say(
            `No databases in ${ctx.path(result.dataDir)} and no archives in ${ctx.path(result.archiveDir)}.`,
          );
          return;
        }
        const withMigrations = ctx.manager.migrationsDir !== undefined;
        ctx.say(
          renderTable(
            ['database', 'state', 'archive exported', 'next step', ...(withMigrations ? ['migrations'] : [])],
            result.databases.map((d) => [
              d.fileName,
              LABEL[d.state] +
                (d.changedTable === undefined ? '' : ` (table "${d.changedTable}")`) +
                (d.tracked === false && d.state === 'changed' ? ', cannot tell which side' : '') +
                (d.conflictLine === undefined ? '' : ` (line ${d.conflictLine})`),
              d.exportedAt === undefined ? '-' : formatTime(d.exportedAt),
              d.hint ?? '',
              ...(withMigrations ? [migrationsCell(d.migrations)] : []),
            ]),
          ),
        );
        for (const d of result.databases) ctx.detail(`${d.fileName}: ${d.reason}`);
        for (const d of result.databases) {
          if (d.migrations?.problem === undefined) continue;
          const what = d.migrations.ofArchive === true ? 'its archive' : 'it';
          ctx.say(`${d.fileName}: ${what} must not be migrated: ${d.migrations.problem}`);
          if (d.migrations.hint !== undefined) ctx.say(`  hint: ${d.migrations.hint}`);
        }
        const parts = (Object.keys(LABEL) as SyncState[])
          .filter((s) => result.counts[s] > 0)
          .map((s) => `${result.counts[s]} ${LABEL[s]}`);
        ctx.say(`\n${plural(result.databases.length, 'database')}: ${parts.join(', ')}.`);
      });
      for (const w of result.warnings)
        ctx.warn(`${ctx.path(w.archivePath)} is ${(w.bytes / 1e6).toFixed(1)} MB, over 50 MB`, w.hint);
      ctx.printErrors(result.errorDetails);
      setExit(result.errors.length > 0 ? 1 : 0);
    });
}

/** The status table's migrations cell: pending count, up to date, or refused. */
function migrationsCell(m: MigrationStatus | undefined): string {
  if (m === undefined) return '-';
  const at = `${m.ofArchive === true ? 'archive ' : ''}at ${m.version}`;
  if (m.problem !== undefined) return `${at}: refused (below)`;
  if (m.pending.length === 0) return `${at}, up to date`;
  return `${at}: ${String(m.pending.length)} pending (${m.ofArchive === true ? 'hydrate --migrate' : 'run migrate'})`;
}

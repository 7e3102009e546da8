/** `db-hydration hydrate`: every archive → its database. One call of `manager.hydrateAll()`, then rendering. */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { CommandContext, output, withCommonOptions, withMigrationsOption } from './context.js';
import { formatDuration, plural } from './render.js';

/** The `hydrate` command. */
export function hydrateCommand(setExit: (code: number) => void): CommandUnknownOpts {
  return withMigrationsOption(
    withCommonOptions(
      new Command('hydrate')
        .summary('recreate databases from their archives')
        .description(
          'Build each database of <archive-dir>/*.json into the data directory. Missing databases are created. An existing database whose archive was updated since they last matched (a pull, checkout or merge) and that has no changes of its own is backed up (<file>.<time>.bak) and rebuilt from the archive, since nothing local can be lost; one with changes the archive lacks is kept (`dehydrate` saves them; when the archive changed too, `sync` merges both), as is one without sync state (which side changed cannot be told). --force replaces every existing database, each backed up first, atomically. Library: manager.hydrateAll({ force }).',
        ),
    )
      .option('-f, --force', 'replace existing databases (each is backed up first)')
      .option(
        '--migrate',
        'apply pending migrations to each database built, before it is put in place (default: "migrate" of the config)',
      ),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ git pull && db-hydration hydrate   # create missing databases, bring pulled archive updates in
  $ db-hydration hydrate --force       # replace local databases with the archives' content
  $ db-hydration hydrate --db arbiter --force
  $ db-hydration hydrate --migrate --migrations migrations   # an old archive comes out at the latest schema`,
    )
    .action(async (opts) => {
      const ctx = new CommandContext(opts);
      const result = await ctx.manager.hydrateAll({
        force: opts.force === true,
        ...(opts.migrate === true ? { migrate: true } : {}),
      });
      output(ctx, result, () => {
        const entries = Object.entries(result.databases);
        for (const [fileName, d] of entries) {
          if (d.status === 'skipped') {
            const unusable = result.errorDetails.some((e) => e.file === d.dbPath);
            const why = unusable
              ? 'exists but is not usable; see the error below'
              : d.sync === undefined || d.sync === 'in-sync'
                ? 'exists; use --force to replace it'
                : (d.note ?? 'exists');
            ctx.say(`skipped   ${fileName}  (${why})`);
            continue;
          }
          const backup =
            d.backupPath === undefined ? '' : `, old file backed up to ${ctx.path(d.backupPath)}`;
          ctx.say(
            `hydrated  ${fileName} <- ${ctx.path(d.archivePath)}  (${plural(d.tablesImported, 'table')}, ${plural(d.totalRows, 'row')}${backup})`,
          );
          if (d.note !== undefined) ctx.detail(`  ${fileName}: ${d.note}`);
          if (d.migrationsApplied !== undefined && d.migrationsApplied.length > 0)
            ctx.say(`  migrated  ${fileName}: ${d.migrationsApplied.join(', ')}`);
          if (d.migrationsPending !== undefined)
            ctx.say(
              `  ${fileName}: ${plural(d.migrationsPending.length, 'migration')} pending (run \`db-hydration migrate\`, or hydrate with --migrate)`,
            );
          if (d.migrationProblem !== undefined)
            ctx.say(`  ${fileName}: must not be migrated: ${d.migrationProblem}`);
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

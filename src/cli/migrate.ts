/** `db-hydration migrate`: pending schema migrations → every live database. One call of `manager.migrateAll()`. */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { CommandContext, output, withCommonOptions, withMigrationsOption } from './context.js';
import { formatDuration, plural } from './render.js';

/** The `migrate` command. */
export function migrateCommand(setExit: (code: number) => void): CommandUnknownOpts {
  return withMigrationsOption(
    withCommonOptions(
      new Command('migrate')
        .summary('apply pending schema migrations to the databases')
        .description(
          'Apply the pending migrations of the migrations directory (numbered SQL files: 0001_add_notes.sql, 0002_..., each applied once) to every database of the data directory. Each database is backed up first (<file>.<time>.bak); each migration runs in its own transaction with foreign keys off and `PRAGMA foreign_key_check` before commit, and is recorded in the database itself: a ledger table (`_db_hydration_migrations`: id, file name, checksum) and `PRAGMA user_version`, the latest applied number. Refused, with nothing changed: a database newer than the directory (an older checkout), an applied migration whose file was edited since, migrations that differ from the ledger (another branch applied others), a gap or duplicate in the numbering. A migration that fails is rolled back and the backup stays. Afterwards `dehydrate` writes the new schema into the archives. Library: manager.migrateAll({ dryRun }); docs/migrations.md.',
        ),
    ),
  )
    .option('-n, --dry-run', 'only list the migrations each database would get; change nothing')
    .addHelpText(
      'after',
      `
Examples:
  $ db-hydration migrate --migrations migrations --dry-run   # what would run, per database
  $ db-hydration migrate && db-hydration dehydrate           # apply, then archive the new schema
  $ db-hydration migrate --db app --json`,
    )
    .action(async (opts) => {
      const ctx = new CommandContext(opts);
      const result = await ctx.manager.migrateAll({ dryRun: opts.dryRun === true });
      output(ctx, result, () => {
        const entries = Object.entries(result.databases);
        for (const [fileName, d] of entries) {
          const list = d.applied.join(', ');
          if (d.migrationsDir !== result.migrationsDir)
            ctx.detail(`${fileName}: migrations from ${ctx.path(d.migrationsDir)}`);
          if (d.status === 'up-to-date') ctx.say(`up to date  ${fileName}  (at ${d.fromVersion})`);
          else if (d.status === 'pending')
            ctx.say(`would run   ${fileName}  ${d.fromVersion} -> ${d.toVersion}: ${list}`);
          else if (d.status === 'migrated')
            ctx.say(
              `migrated    ${fileName}  ${d.fromVersion} -> ${d.toVersion}: ${list}  (backed up to ${ctx.path(d.backupPath ?? '')})`,
            );
          else if (d.status === 'refused')
            ctx.say(`refused     ${fileName}  (see the error below; unchanged)`);
          else
            ctx.say(
              `FAILED      ${fileName}  at ${d.toVersion}${list === '' ? '' : ` after ${list}`}; the failed migration was rolled back, the backup is ${ctx.path(d.backupPath ?? '')}`,
            );
        }
        const count = (s: string): number => entries.filter(([, d]) => d.status === s).length;
        const verb = result.dryRun
          ? `${count('pending')} would be migrated`
          : `${count('migrated')} migrated`;
        ctx.say(
          `${plural(entries.length, 'database')}: ${verb}, ${count('up-to-date')} up to date (migrations in ${ctx.path(result.migrationsDir)}, ${formatDuration(Date.now() - ctx.startedAt)}).` +
            (result.errors.length > 0 ? ` ${plural(result.errors.length, 'error')}.` : ''),
        );
      });
      ctx.printErrors(result.errorDetails);
      setExit(result.errors.length > 0 ? 1 : 0);
    });
}

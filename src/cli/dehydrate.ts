/** `db-hydration dehydrate`: every database → its archive. One call of `manager.dehydrateAll()`, then rendering. */
import { Command, Option, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { CommandContext, output, withCommonOptions } from './context.js';
import { formatCount, formatDuration, plural } from './render.js';
import { isAgeRecipient } from '../archive/keys.js';
import { UsageError } from '../errors.js';
import type { HydrationManagerOptions } from '../manager.js';

/** `--recipient` as manager options: every archive encrypted to those recipients. */
function recipientsOption(recipients: readonly string[] | undefined): Partial<HydrationManagerOptions> {
  if (recipients === undefined || recipients.length === 0) return {};
  const bad = recipients.find((r) => !isAgeRecipient(r));
  if (bad !== undefined)
    throw new UsageError(
      `--recipient must be an age recipient (age1…), got "${bad}"`,
      'print the recipient of an identity file with `age-keygen -y FILE`',
    );
  return { encrypt: { recipients } };
}

/** The `dehydrate` command. */
export function dehydrateCommand(setExit: (code: number) => void): CommandUnknownOpts {
  return withCommonOptions(
    new Command('dehydrate')
      .summary('export every database into its JSON archive')
      .description(
        "Export every database of the data directory into <archive-dir>/<name>.json (<name>.json.gz with --compress gzip) and update manifest.json. An unchanged database leaves its archive untouched (same bytes, same mtime); in a changed one, only the tables whose pages changed are read, the others copied from the archive (docs/sync.md). A damaged, empty or unreadable database is reported and its existing archive is kept. An archive that changed since its database last matched it (a pull, checkout or merge brought someone else's changes; see `status`) is not overwritten: the error says to run `db-hydration sync`, which merges both. --force overwrites it anyway, and says what it overwrote. Library: manager.dehydrateAll({ force }).",
      ),
  )
    .option(
      '-f, --force',
      'overwrite archives that changed since their database last matched them (their changes are lost; prefer `sync`)',
    )
    .option(
      '--recipient <age1…>',
      'encrypt every archive with age to this recipient (repeatable; over the config\'s "encrypt" recipients)',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .addOption(
      new Option(
        '--compress <codec>',
        'store archives as gzip (<name>.json.gz, deterministic; `gzip -dc` gives the plain archive) or none (<name>.json); over "compress" and "perDatabase" in the config. Switching removes the old file once the new one is written',
      ).choices(['gzip', 'none'] as const),
    )
    .addHelpText(
      'after',
      `
Examples:
  $ db-hydration dehydrate                      # data/*.db -> data/json_archives/*.json
  $ db-hydration dehydrate --recipient age1…    # data/*.db -> data/json_archives/*.json.age (docs/encryption.md)
  $ db-hydration dehydrate --db trading_journal # only one database
  $ db-hydration dehydrate --compress gzip      # data/json_archives/*.json.gz (the .json files are removed)
  $ db-hydration dehydrate --json | jq .totalRows`,
    )
    .action(async (opts) => {
      const ctx = new CommandContext(opts, recipientsOption(opts.recipient));
      const result = await ctx.manager.dehydrateAll({
        force: opts.force === true,
        ...(opts.compress === undefined ? {} : { compress: opts.compress }),
      });
      output(ctx, result, () => {
        const entries = Object.entries(result.databases);
        for (const [fileName, d] of entries) {
          ctx.say(
            `${d.changed ? 'updated  ' : 'unchanged'}  ${fileName} -> ${ctx.path(d.archivePath)}  (${plural(d.tablesExported, 'table')}, ${plural(d.totalRows, 'row')})`,
          );
          if (d.overwrote !== undefined) ctx.say(`  warning: ${d.overwrote}`);
        }
        const changed = entries.filter(([, d]) => d.changed).length;
        ctx.say(
          `Dehydrated ${plural(entries.length, 'database')} (${formatCount(changed)} changed): ${plural(result.totalTables, 'table')}, ${plural(result.totalRows, 'row')} in ${formatDuration(Date.now() - ctx.startedAt)}.` +
            (result.errors.length > 0 ? ` ${plural(result.errors.length, 'error')}.` : ''),
        );
        if (entries.length === 0 && result.errors.length === 0)
          ctx.say(
            `No databases found in ${ctx.path(ctx.manager.dataDir)} (looked for *.db, *.sqlite, *.sqlite3).`,
          );
      });
      ctx.printErrors(result.errorDetails);
      setExit(result.errors.length > 0 ? 1 : 0);
    });
}

/** `db-hydration rekey`: re-encrypt the encrypted archives to a new recipient set. One call of `manager.rekey()`. */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { CommandContext, output, withCommonOptions } from './context.js';
import { plural } from './render.js';
import { isAgeRecipient } from '../archive/keys.js';
import { UsageError } from '../errors.js';

/** The `rekey` command. */
export function rekeyCommand(setExit: (code: number) => void): CommandUnknownOpts {
  return withCommonOptions(
    new Command('rekey')
      .summary('re-encrypt the encrypted archives to a new set of recipients')
      .description(
        "Re-encrypt every encrypted archive (<name>.json.age) to the recipients given with --recipient, or else to each database's recipients in the config (\"encrypt\"), after a person was added or removed. Needs an identity that decrypts the archives (--identity FILE or DB_HYDRATION_AGE_IDENTITY). Each archive is replaced atomically with the same content; the manifest's checksums follow. Plain archives are not touched. A removed person keeps what they could decrypt before: Git's history still holds the older files. Library: manager.rekey({ recipients }).",
      ),
  )
    .option(
      '--recipient <age1…>',
      'encrypt to this recipient (repeatable; default: the config\'s "encrypt" recipients)',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .addHelpText(
      'after',
      `
Examples:
  $ db-hydration rekey --identity ~/.config/age/key.txt          # to the recipients now in the config
  $ db-hydration rekey --identity key.txt --recipient age1… --recipient age1…
  $ db-hydration rekey --json | jq '.archives[].archivePath'`,
    )
    .action(async (opts) => {
      const bad = (opts.recipient ?? []).find((r) => !isAgeRecipient(r));
      if (bad !== undefined)
        throw new UsageError(
          `--recipient must be an age recipient (age1…), got "${bad}"`,
          'print the recipient of an identity file with `age-keygen -y FILE`',
        );
      const ctx = new CommandContext(opts);
      const result = await ctx.manager.rekey(
        opts.recipient === undefined ? {} : { recipients: opts.recipient },
      );
      output(ctx, result, () => {
        for (const a of result.archives)
          ctx.say(`rekeyed  ${ctx.path(a.archivePath)}  (${plural(a.recipients, 'recipient')})`);
        ctx.say(
          `Re-encrypted ${plural(result.archives.length, 'archive')}.` +
            (result.errors.length > 0 ? ` ${plural(result.errors.length, 'error')}.` : ''),
        );
      });
      ctx.printErrors(result.errorDetails);
      setExit(result.errors.length > 0 ? 1 : 0);
    });
}

/**
 * `db-hydration git ...`: the repository's setup for archives (install, uninstall, check) and the pre-commit hook's
 * check. Each subcommand is one library call of src/git/ plus rendering.
 */
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { relative } from 'node:path';
import { installGit, uninstallGit, type GitSetupResult } from '../git/install.js';
import { checkGit } from '../git/check.js';
import { checkStagedArchives } from '../git/pre-commit.js';
import { diffDriverCommand, mergeCommand, resolveCommand } from './git-merge.js';
import { CommandContext, output, withCommonOptions } from './context.js';
import { plural } from './render.js';

type SetExit = (code: number) => void;

/** The setup of a context's directories, as the library takes it. */
function setupOptions(ctx: CommandContext) {
  return { dataDir: ctx.manager.dataDir, archiveDir: ctx.manager.archiveDir };
}

function renderSetup(ctx: CommandContext, result: GitSetupResult, verb: string): void {
  output(ctx, result, () => {
    for (const c of result.changes) {
      const path = relative(result.repository, c.path) || c.path;
      ctx.say(`${c.action.padEnd(9)}  ${c.item === 'config' ? `${path} (merge.db-hydration)` : path}`);
    }
    ctx.say(result.changed ? `\n${verb}.` : '\nNothing to change: already as it should be.');
  });
}

function installCommand(setExit: SetExit): CommandUnknownOpts {
  return withCommonOptions(
    new Command('install')
      .summary('set up this repository: attributes, ignore rules, merge driver (and hooks)')
      .description(
        "Adds to .gitattributes the lines that give the archives and manifest.json the db-hydration merge driver, adds to .gitignore the databases and their side files (-wal, -shm, -journal, backups, quarantined copies, the sync state), and registers the driver in the repository's own git config. Lines already there are not added again, and running it twice changes nothing. With --hooks it also writes post-merge, post-checkout and post-rewrite hooks (run `db-hydration hydrate`) and a pre-commit hook (runs `db-hydration git pre-commit`); hooks already there are chained, not overwritten. Library: installGit(options).",
      ),
  )
    .option('--hooks', 'also install the post-merge, post-checkout, post-rewrite and pre-commit hooks')
    .addHelpText(
      'after',
      `
Examples:
  $ db-hydration git install                     # once per clone (the config is not committed)
  $ db-hydration git install --hooks             # and hydrate after pulls, check before commits
  $ git add .gitattributes .gitignore && git commit -m "db-hydration merge driver"`,
    )
    .action((opts) => {
      const ctx = new CommandContext(opts);
      const result = installGit({
        ...setupOptions(ctx),
        ...(opts.hooks === true ? { hooks: true } : {}),
        ...(opts.config === undefined ? {} : { configFile: opts.config }),
      });
      renderSetup(ctx, result, 'Installed');
      setExit(0);
    });
}

function uninstallCommand(setExit: SetExit): CommandUnknownOpts {
  return withCommonOptions(
    new Command('uninstall')
      .summary('take out exactly what `git install` added')
      .description(
        "Removes the lines install added to .gitattributes and .gitignore (a file it created goes away again), the merge driver's section of the repository's git config, and its hooks, putting back the hooks they chained. Lines you wrote are left as they are. Library: uninstallGit(options).",
      ),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ db-hydration git uninstall`,
    )
    .action((opts) => {
      const ctx = new CommandContext(opts);
      renderSetup(ctx, uninstallGit(setupOptions(ctx)), 'Uninstalled');
      setExit(0);
    });
}

function checkCommand(setExit: SetExit): CommandUnknownOpts {
  return withCommonOptions(
    new Command('check')
      .summary('check the setup and that every archive is sound (for CI)')
      .description(
        "Exits 1, with one message per problem, when the merge driver is not registered in git's config, when .gitattributes does not give the archives and manifest.json the driver, or when an archive holds conflict markers or does not parse (a text merge made without the driver, such as a git host's web merge, lands here). Library: checkGit(options).",
      ),
  )
    .option('--no-driver', "do not require the driver in git's config (CI: a fresh clone has none)")
    .addHelpText(
      'after',
      `
Examples:
  $ db-hydration git check
  $ npx db-hydration git check --no-driver       # in CI`,
    )
    .action((opts) => {
      const ctx = new CommandContext(opts);
      const result = checkGit({ ...setupOptions(ctx), requireDriver: opts.driver });
      output(ctx, result, () => {
        if (result.ok)
          ctx.say(
            `OK: the setup is complete and ${plural(result.archives.length, 'archive')} in ${result.archiveDir || '.'} passed.`,
          );
      });
      ctx.printErrors(result.problems);
      setExit(result.ok ? 0 : 1);
    });
}

function preCommitCommand(setExit: SetExit): CommandUnknownOpts {
  return withCommonOptions(
    new Command('pre-commit')
      .summary(
        "refuse a commit while a database has changes its staged archive lacks (the pre-commit hook's check)",
      )
      .description(
        'For each database whose archive is in the index, exports the database to a temp file and compares it by content with the staged archive. Exits 1, naming the database and the command that stages its changes, when they differ. A database whose archive is not staged is skipped. Nothing is written. Library: checkStagedArchives(manager).',
      ),
  )
    .addHelpText(
      'after',
      `
Examples:
  $ db-hydration git pre-commit                  # what the pre-commit hook runs
  $ git commit --no-verify                       # commit without the check`,
    )
    .action(async (opts) => {
      const ctx = new CommandContext(opts);
      const result = await checkStagedArchives(
        ctx.manager,
        ctx.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: ctx.busyTimeoutMs },
      );
      output(ctx, result, () => {
        for (const d of result.databases) {
          if (d.state === 'not-staged') ctx.detail(`${d.fileName}: ${d.archive} is not staged; not checked`);
          else if (d.state === 'staged') ctx.detail(`${d.fileName}: the staged ${d.archive} is up to date`);
          else if (d.state === 'behind') {
            ctx.say(
              `note: ${d.fileName} has not taken in the changes of ${d.archive} yet (it has none of its own to commit); run \`${d.command ?? ''}\``,
            );
          }
        }
      });
      for (const d of result.databases)
        if (d.state === 'unstaged-changes' && !ctx.json)
          process.stderr.write(
            `error: ${d.fileName} has changes that its staged archive ${d.archive} lacks\n  hint: ${d.command?.startsWith('db-hydration diff') === true ? `no record tells whether the database or the archive changed: run \`${d.command}\`; if those are your changes, \`db-hydration dehydrate\` them and \`git add\` the archive; if they came with a pull, \`db-hydration hydrate\`` : `run \`${d.command ?? ''}\`, then commit again`}\n`,
          );
      ctx.printErrors(result.errorDetails);
      setExit(result.ok ? 0 : 1);
    });
}

/** The `git` command group. */
export function gitCommand(setExit: SetExit): CommandUnknownOpts {
  const git = new Command('git')
    .summary('set up the repository for archives: merge driver, ignore rules, hooks, checks')
    .description(
      'Commands for working with archives in git: `install` sets the repository up once per clone, `check` verifies the setup and the archives (for CI), `uninstall` takes the setup out, `pre-commit` is the pre-commit hook, `merge` is the merge driver git runs, `resolve` settles its conflicts. See docs/git.md and docs/merge.md.',
    )
    .helpOption('-h, --help', 'show help')
    .addHelpText(
      'after',
      `
Examples:
  $ db-hydration git install --hooks
  $ db-hydration git check --no-driver           # in CI`,
    );
  for (const make of [
    installCommand,
    uninstallCommand,
    checkCommand,
    preCommitCommand,
    mergeCommand,
    resolveCommand,
    diffDriverCommand,
  ])
    git.addCommand(
      make(setExit)
        .exitOverride()
        .showSuggestionAfterError(true)
        .showHelpAfterError('(run with --help for usage)'),
    );
  return git;
}

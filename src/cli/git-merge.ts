/**
 * `db-hydration git merge` (the merge driver git runs for archives and the manifest) and `db-hydration git resolve`.
 * Each is one library call (mergeArchives / mergeManifests, resolveConflicts) plus the report.
 */
import { execFileSync } from 'node:child_process';
import { basename, dirname, resolve } from 'node:path';
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { MANIFEST_FILE, databaseNameOf, databaseNameOfArchive } from '../archive/naming.js';
import { recordResolution } from '../sync/sync-state.js';
import { hasConflictMarkers } from '../archive/conflict-markers.js';
import { authenticateArchive } from '../archive/archive-file.js';
import { mergeArchives } from '../merge/merge-archives.js';
import { markWholeFileConflict } from '../merge/merge-output.js';
import { mergeManifests } from '../merge/merge-manifest.js';
import { resolveConflicts, type ResolveOutcome } from '../merge/resolve-conflicts.js';
import type { MergeConflict, MergeResult } from '../merge/merge-types.js';
import { ArchiveEncryptionError, toErrorDetail, UsageError } from '../errors.js';
import { CommandContext, output, useConfigKeys, withCommonOptions } from './context.js';
import { codecForFileName } from '../archive/codec.js';
import { isEncryptedCodec } from '../archive/age-codec.js';
import { mergeEncryptedArchives } from '../merge/merge-encrypted.js';
import { plural, toJson } from './render.js';
import { diffArchives } from '../diff/diff-archives.js';
import { changeLine } from './diff.js';

/** The merge of an encrypted archive: keys from the config and the environment, recipients from the config. */
function mergeEncrypted(
  options: { base: string; ours: string; theirs: string; output: string; diff3: boolean },
  path: string,
): MergeResult {
  const encryption = useConfigKeys(path);
  if (encryption === undefined)
    throw new ArchiveEncryptionError('the config gives no recipients to encrypt the merged archive to', {
      file: path,
      hint: 'run git at the top of the work tree, with "encrypt": { "recipients": [...] } in db-hydration.config.json',
    });
  return mergeEncryptedArchives({
    ...options,
    archiveFileName: basename(path),
    recipients: encryption.recipients ?? [],
    ...(encryption.passphrase === true ? { passphrase: true } : {}),
  });
}

/** Whether git is set to show the base in conflicts (`merge.conflictStyle` diff3 or zdiff3). */
function gitWantsDiff3(): boolean {
  try {
    const style = execFileSync('git', ['config', '--get', 'merge.conflictStyle'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return style === 'diff3' || style === 'zdiff3';
  } catch {
    return false;
  }
}

/** One conflict as a line of the report. */
export function conflictLine(c: MergeConflict): string {
  const where = [
    `database "${c.database}"`,
    ...(c.table === undefined ? [] : [`table "${c.table}"`]),
    ...(c.key === undefined ? [] : [`key ${c.key}`]),
    ...(c.column === undefined ? [] : [`column "${c.column}"`]),
  ].join(', ');
  const values =
    c.kind === 'cell' || c.kind === 'setting'
      ? `: ours ${c.ours ?? '(none)'}, theirs ${c.theirs ?? '(none)'}, base ${c.base ?? '(none)'}`
      : `: ${c.message}`;
  return `CONFLICT (${c.kind}): ${where}${values}`;
}

/** `git merge`: the merge driver. */
export function mergeCommand(setExit: (code: number) => void): CommandUnknownOpts {
  return new Command('merge')
    .summary('the merge driver: three-way merge of an archive by primary key (run by git)')
    .description(
      'Merges THEIRS into OURS with BASE as the common ancestor, row by row and cell by cell by primary key, and writes the result into OURS. Git runs it for files marked `merge=db-hydration` (see `db-hydration git install`) with `%O %A %B --path %P`. Exit 0: merged cleanly; 1: conflicts, marked in OURS between <<<<<<< and >>>>>>> and reported on stderr; 2: an input is not a valid archive (OURS then holds both whole versions between conflict markers). manifest.json is derived from the merged archives and never conflicts. Library: mergeArchives(), mergeManifests().',
    )
    .argument('<base>', 'the common ancestor (git: %O)')
    .argument('<ours>', 'our version, where the result goes (git: %A)')
    .argument('<theirs>', 'their version (git: %B)')
    .option(
      '--path <name>',
      'the path of the file in the repository (git: %P), for messages and the manifest',
    )
    .option('--diff3', 'show the base row in conflicts (default: as git config merge.conflictStyle says)')
    .option('--json', 'print the result as JSON on stdout')
    .addHelpText(
      'after',
      `
Examples:
  $ git config merge.db-hydration.driver 'db-hydration git merge %O %A %B --path %P'   # what git install sets up
  $ db-hydration git merge base.json ours.json theirs.json --path data/json_archives/shop.json`,
    )
    .action((base, ours, theirs, opts) => {
      const path = opts.path ?? ours;
      try {
        if (basename(path) === MANIFEST_FILE) {
          const manifest = mergeManifests({
            base,
            ours,
            theirs,
            output: ours,
            archiveDir: resolve(dirname(path)),
          });
          if (opts.json === true) process.stdout.write(`${toJson({ clean: true, manifest })}\n`);
          setExit(0);
          return;
        }
        const diff3 = opts.diff3 === true || gitWantsDiff3();
        const result = isEncryptedCodec(codecForFileName(basename(path)))
          ? mergeEncrypted({ base, ours, theirs, output: ours, diff3 }, path)
          : mergeArchives({ base, ours, theirs, output: ours, diff3 });
        if (opts.json === true) process.stdout.write(`${toJson(result)}\n`);
        for (const c of result.conflicts) process.stderr.write(`${conflictLine(c)}\n`);
        if (!result.clean) {
          const db = databaseNameOfArchive(basename(path)) ?? result.database;
          process.stderr.write(
            `${plural(result.conflicts.length, 'conflict')} in ${path}: resolve with \`db-hydration git resolve --ours\` or \`--theirs\` (\`--db ${db}\`, \`--table T\`), or edit the marked rows; then \`git add ${path}\`\n`,
          );
        }
        setExit(result.clean ? 0 : 1);
      } catch (error) {
        const detail = toErrorDetail(error, { file: path });
        process.stderr.write(`error: ${path}: ${detail.message}\n`);
        if (detail.hint !== undefined) process.stderr.write(`  hint: ${detail.hint}\n`);
        // Not mergeable: both whole versions go between markers, so nothing takes the file for merged. An encrypted
        // archive is left as git gave it (git records the conflict): its plaintext must not be written out.
        if (isEncryptedCodec(codecForFileName(basename(path)))) {
          process.stderr.write(
            `${path} was not merged (git marks it conflicted): merge it with the identity available (\`git checkout -m -- ${path}\` reruns the driver), or keep one side with \`git checkout --ours -- ${path}\` or \`--theirs\`\n`,
          );
          setExit(2);
          return;
        }
        try {
          markWholeFileConflict(ours, theirs, { ours: 'ours', base: 'base', theirs: 'theirs', diff3: false });
          process.stderr.write(
            `${path} now holds both versions between conflict markers: keep one with \`db-hydration git resolve --ours\` or \`--theirs\` (or \`git checkout --ours -- ${path}\`)\n`,
          );
        } catch {
          // OURS is left as git gave it.
        }
        setExit(2);
      }
    });
}

/** `git resolve`. */
export function resolveCommand(setExit: (code: number) => void): CommandUnknownOpts {
  return withCommonOptions(
    new Command('resolve')
      .summary(
        'resolve conflict blocks in archives: keep --ours or --theirs, or finish a resolution made by hand',
      )
      .description(
        'For every archive (or each --db) holding conflict blocks from a merge, keeps one side of each block (--ours or --theirs; --table T: only that table), then recounts row_count and fixes the commas, leaving a valid archive. Without --ours/--theirs it only finishes a resolution made by hand in an editor, and fails if markers are left. Then `git add` the archive and `db-hydration hydrate`. Library: resolveConflicts().',
      ),
  )
    .option('--ours', 'keep our side of each conflict')
    .option('--theirs', 'keep their side of each conflict')
    .option('--table <name>', 'resolve only the conflicts in this table')
    .addHelpText(
      'after',
      `
Examples:
  $ db-hydration git resolve --theirs --db shop            # take their rows where both changed
  $ db-hydration git resolve --ours --db shop --table trades
  $ db-hydration git resolve --db shop                      # after editing the markers away by hand`,
    )
    .action((opts) => {
      const ctx = new CommandContext(opts);
      if (opts.ours === true && opts.theirs === true)
        throw new UsageError('give --ours or --theirs, not both');
      const side = opts.ours === true ? 'ours' : opts.theirs === true ? 'theirs' : undefined;
      const archives: { archivePath: string; outcome: ResolveOutcome }[] = [];
      const errors = [];
      for (const archivePath of ctx.manager.listArchives()) {
        try {
          if (!hasConflictMarkers(archivePath) && side !== undefined) {
            // An encrypted archive that cannot be decrypted reads as one without markers: it is reported instead.
            authenticateArchive(archivePath);
            continue;
          }
          const outcome = resolveConflicts(archivePath, { side, table: opts.table });
          archives.push({ archivePath, outcome });
          // A merge `sync` stopped on: this archive is now its resolution.
          if (outcome.remaining === 0) {
            const name = databaseNameOfArchive(basename(archivePath));
            const fileName = ctx.manager.listDatabases().find((f) => databaseNameOf(f) === name);
            if (fileName !== undefined) recordResolution(ctx.manager.dataDir, fileName, archivePath);
          }
        } catch (error) {
          errors.push(toErrorDetail(error, { file: archivePath }));
        }
      }
      output(ctx, { archives, errorDetails: errors }, () => {
        for (const a of archives) {
          ctx.say(
            `resolved  ${ctx.path(a.archivePath)}  ${plural(a.outcome.blocks, 'conflict')}${a.outcome.remaining > 0 ? `, ${a.outcome.remaining} left in other tables` : ''}`,
          );
        }
        if (archives.length === 0 && errors.length === 0) ctx.say('No archive holds conflict markers.');
        else if (errors.length === 0) ctx.say('Next: `git add` the archives, then `db-hydration hydrate`.');
      });
      ctx.printErrors(errors);
      setExit(errors.length === 0 ? 0 : 1);
    });
}

/**
 * `git diff-driver`: git's external diff command for archives (`diff.db-hydration.command`), so `git diff` and
 * `git show --ext-diff` print row changes by key instead of lines.
 */
export function diffDriverCommand(setExit: (code: number) => void): CommandUnknownOpts {
  return new Command('diff-driver')
    .summary('the diff driver: row-level diff of an archive (run by git diff)')
    .description(
      'What git runs for archives marked `diff=db-hydration` (see `db-hydration git install`), with `path old-file old-hex old-mode new-file new-hex new-mode`: prints the changes by key (table, key, column, old → new). A side that does not parse (conflict markers, another layout) is said so, and `git diff --no-ext-diff` shows the lines. Library: diffArchives().',
    )
    .argument('<path>', 'the path of the archive in the repository')
    .argument('<old>', 'the old version (/dev/null for an added file)')
    .argument('[rest...]', "git's old-hex old-mode new-file new-hex new-mode")
    .addHelpText(
      'after',
      `
Examples:
  $ git diff data/json_archives/shop.json          # runs it through diff.db-hydration.command
  $ git diff --no-ext-diff data/json_archives/     # the plain line diff instead`,
    )
    .action((path, old, rest) => {
      const newFile = rest[2];
      process.stdout.write(`diff --db-hydration a/${path} b/${path}\n`);
      if (old === '/dev/null' || newFile === undefined || newFile === '/dev/null') {
        process.stdout.write(old === '/dev/null' ? 'new archive\n' : 'archive deleted\n');
        setExit(0);
        return;
      }
      try {
        useConfigKeys(path);
        for (const change of diffArchives(old, newFile)) process.stdout.write(`${changeLine(change)}\n`);
      } catch (error) {
        const detail = toErrorDetail(error, { file: path });
        process.stdout.write(
          `(no row diff: ${detail.message}; \`git diff --no-ext-diff\` shows the lines)\n`,
        );
      }
      setExit(0);
    });
}

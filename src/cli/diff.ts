/**
 * `db-hydration diff`: a row-level diff keyed by primary key. One call of diffDatabase(), diffRevision() or
 * diffArchives() per database, plus the rendering.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { databaseNameOf } from '../archive/naming.js';
import { DEFAULT_BUSY_TIMEOUT_MS } from '../sqlite/busy-timeout.js';
import { diffArchives, summarize } from '../diff/diff-archives.js';
import { diffDatabase, diffRevision } from '../diff/diff-database.js';
import type { DiffChange } from '../diff/diff-types.js';
import { toErrorDetail, UsageError, type ErrorDetail } from '../errors.js';
import { CommandContext, output, withCommonOptions } from './context.js';
import { plural } from './render.js';

/** One compared pair in the diff's result. */
interface DiffEntry {
  readonly name: string;
  readonly old: string;
  readonly new: string;
  readonly changes: readonly DiffChange[];
}

/** The `diff` command. */
export function diffCommand(setExit: (code: number) => void): CommandUnknownOpts {
  return withCommonOptions(
    new Command('diff')
      .summary('show row-level changes: a database against its archive, or two archives')
      .description(
        'A diff keyed by primary key: which rows were added, removed or changed and in which columns (old → new), and which schema, settings, indexes, views, triggers and counters differ. With no arguments: each live database against its archive (what `dehydrate` would write). With --rev REV: each archive as committed at REV against the archive now. With two archive files: the first against the second. Library: diffDatabase(), diffRevision(), diffArchives().',
      ),
  )
    .argument('[old]', 'an archive file (with NEW: compare two archive files)')
    .argument('[new]', 'the other archive file')
    .option(
      '--rev <rev>',
      'compare each archive with its version at this git revision (HEAD, main, HEAD~1, …)',
    )
    .option('--exit-code', 'exit 1 when there are differences (as `git diff --exit-code`)')
    .addHelpText(
      'after',
      `
Examples:
  $ db-hydration diff                          # what changed in the databases since their archives
  $ db-hydration diff --db shop --rev HEAD~1   # what the last commit changed in shop's archive
  $ db-hydration diff old.json new.json --json`,
    )
    .action((oldFile, newFile, opts) => {
      const ctx = new CommandContext(opts);
      const entries: DiffEntry[] = [];
      const errors: ErrorDetail[] = [];
      if (oldFile !== undefined) {
        if (newFile === undefined)
          throw new UsageError(
            'give two archive files to compare, or none to compare each database with its archive',
          );
        entries.push({
          name: basename(newFile),
          old: oldFile,
          new: newFile,
          changes: [...diffArchives(oldFile, newFile)],
        });
      } else {
        for (const fileName of ctx.manager.listDatabases()) {
          const archivePath = ctx.manager.archivePathFor(fileName);
          const dbPath = join(ctx.manager.dataDir, fileName);
          try {
            if (!existsSync(archivePath)) continue;
            if (opts.rev !== undefined) {
              entries.push({
                name: fileName,
                old: `${opts.rev}:${archivePath}`,
                new: archivePath,
                changes: diffRevision(archivePath, opts.rev),
              });
            } else if (existsSync(dbPath)) {
              const changes = diffDatabase({
                dbPath,
                archivePath,
                database: databaseNameOf(fileName),
                fileName,
                busyTimeoutMs: ctx.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
              });
              entries.push({ name: fileName, old: archivePath, new: dbPath, changes });
            }
          } catch (error) {
            errors.push(toErrorDetail(error, { file: archivePath, database: databaseNameOf(fileName) }));
          }
        }
      }
      const result = {
        databases: entries.map((e) => ({ ...e, summary: summarize(e.changes) })),
        errorDetails: errors,
      };
      output(ctx, result, () => {
        for (const e of entries) renderEntry(ctx, e);
      });
      ctx.printErrors(errors);
      const differs = entries.some((e) => e.changes.length > 0);
      setExit(errors.length > 0 ? 1 : opts.exitCode === true && differs ? 1 : 0);
    });
}

function renderEntry(ctx: CommandContext, e: DiffEntry): void {
  const s = summarize(e.changes);
  if (e.changes.length === 0) {
    ctx.say(`${e.name}: no differences (${ctx.path(e.old)} → ${ctx.path(e.new)})`);
    return;
  }
  ctx.say(
    `${e.name}: ${ctx.path(e.old)} → ${ctx.path(e.new)}: ${plural(s.rowsAdded, 'row')} added, ${s.rowsRemoved} removed, ${s.rowsChanged} changed${s.otherChanges > 0 ? `, ${plural(s.otherChanges, 'other change')}` : ''}`,
  );
  for (const c of e.changes) ctx.say(`  ${changeLine(c)}`);
}

/** One change for a person: table, key, column, old → new. */
export function changeLine(c: DiffChange): string {
  switch (c.kind) {
    case 'pragma':
      return `pragma ${c.name}: ${c.old ?? '(none)'} → ${c.new ?? '(none)'}`;
    case 'table-added':
    case 'table-removed':
      return `${c.kind === 'table-added' ? '+' : '-'} table ${c.table}: ${c.schema}`;
    case 'schema':
      return `~ table ${c.table}: schema ${c.old} → ${c.new}`;
    case 'row-added':
    case 'row-removed':
      return `${c.kind === 'row-added' ? '+' : '-'} ${c.table} ${c.key}: ${Object.entries(c.cells)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}`;
    case 'row-changed':
      return `~ ${c.table} ${c.key}: ${c.cells.map((x) => `${x.column}: ${x.old ?? '(none)'} → ${x.new ?? '(none)'}`).join(', ')}`;
    case 'object':
      return `~ ${c.type} ${c.name}: ${c.old ?? '(none)'} → ${c.new ?? '(none)'}`;
    case 'sequence':
      return `~ sqlite_sequence ${c.table}: ${c.old ?? '(none)'} → ${c.new ?? '(none)'}`;
  }
}

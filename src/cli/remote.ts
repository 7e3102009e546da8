/**
 * `db-hydration push` and `db-hydration pull`: the archives to and from a remote store (docs/remote.md). One call of
 * `manager.push()` / `manager.pull()` each, then rendering.
 */
import { basename } from 'node:path';
import { Command, type CommandUnknownOpts } from '@commander-js/extra-typings';
import { CommandContext, output, withCommonOptions } from './context.js';
import { formatBytes, formatDuration, plural } from './render.js';
import { RemoteError, UsageError } from '../errors.js';
import { parseS3Url } from '../stores/remote-manifest.js';

/**
 * The AWS SDK warns on every run under Node 20 that its releases after January 2027 need Node 22 (docs/remote.md
 * says so once); the CLI keeps stderr for db-hydration's own messages unless the user asked for the warning.
 */
function quietSdkNodeWarning(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}

/** The options both commands take. */
function withRemoteOptions(cmd: Command) {
  return withCommonOptions(cmd)
    .option('--remote <url>', 'the remote, s3://BUCKET/PREFIX (default: "remote" of the config)', checkRemote)
    .option(
      '--endpoint <url>',
      'an S3-compatible service, e.g. http://127.0.0.1:9000 (default: "endpoint" of the config; none: AWS S3)',
      checkEndpoint,
    );
}

function checkRemote(value: string): string {
  try {
    parseS3Url(value);
  } catch (error) {
    if (error instanceof RemoteError) throw new UsageError(`--remote: ${error.message}`, error.hint);
    throw error;
  }
  return value;
}

/**
 * The remote of a push or pull: --remote, else the config's "remote". Neither is a usage error (exit 2), told before
 * any work, naming the option and where to set it (the config file that was read, if any).
 */
function remoteOf(command: 'push' | 'pull', given: string | undefined, ctx: CommandContext): string {
  const remote = given ?? ctx.config.remote;
  if (remote !== undefined) return remote;
  const source = ctx.configSource === undefined ? undefined : ctx.path(ctx.configSource);
  const where =
    source === undefined
      ? 'in db-hydration.config.json'
      : basename(source) === 'package.json'
        ? `under "dbHydration" in ${source}`
        : `in ${source}`;
  throw new UsageError(
    `${command} needs a remote: no --remote was given and ${source === undefined ? 'no config file was found' : `${source} has no "remote"`}`,
    `give --remote s3://BUCKET/PREFIX, or set "remote": "s3://BUCKET/PREFIX" ${where} (docs/remote.md)`,
  );
}

function checkEndpoint(value: string): string {
  if (!/^https?:\/\/[^/]/.test(value))
    throw new UsageError(
      `--endpoint must be an http(s) URL, got "${value}"`,
      'e.g. --endpoint http://127.0.0.1:9000 (omit it for AWS S3)',
    );
  return value;
}

const CREDENTIALS_NOTE = `
Credentials, region and profile come from the AWS SDK's default chain only: AWS_ACCESS_KEY_ID /
AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, AWS_PROFILE with ~/.aws/credentials and ~/.aws/config, SSO, or
an instance role; AWS_REGION sets the region. Never from the config, the archives or the manifest.`;

/** The `push` command. */
export function pushCommand(setExit: (code: number) => void): CommandUnknownOpts {
  return withRemoteOptions(
    new Command('push')
      .summary('upload the archives to a remote (S3)')
      .description(
        'Upload the current archives and manifest.json to the remote as content-addressed objects (objects/<sha256>.json...), then write the remote manifest last, with a conditional write. push dehydrates nothing: it refuses, uploading nothing, when a database has changes its archive does not hold (run `dehydrate` first), when manifest.json does not describe the archives, or when someone else pushed since this clone last pushed or pulled (pull first). Only objects the remote lacks are uploaded; when nothing changed, nothing is written. Library: manager.push({ remote, endpoint }).',
      ),
  )
    .addHelpText(
      'after',
      `${CREDENTIALS_NOTE}

Examples:
  $ db-hydration dehydrate && db-hydration push --remote s3://my-bucket/app
  $ db-hydration push        # remote (and endpoint) from db-hydration.config.json
  $ db-hydration push --remote s3://data/app --endpoint http://127.0.0.1:9000   # MinIO, Garage, R2, ...`,
    )
    .action(async (opts) => {
      quietSdkNodeWarning();
      const ctx = new CommandContext(opts);
      const result = await ctx.manager.push({
        remote: remoteOf('push', opts.remote, ctx),
        ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
      });
      output(ctx, result, () => {
        for (const [name, a] of Object.entries(result.archives)) {
          if (a.status === 'unchanged') ctx.detail(`unchanged ${name}`);
          else
            ctx.say(
              `${a.status === 'uploaded' ? 'uploaded ' : 'reused   '} ${name} -> ${result.remote}${a.object}  (${formatBytes(a.bytes)})`,
            );
        }
        for (const name of result.removed) ctx.say(`dropped   ${name}  (no longer in the archive directory)`);
        ctx.say(
          result.manifestWritten
            ? `Pushed to ${result.remote}: ${plural(result.uploaded, 'object')} uploaded (${formatBytes(result.uploadedBytes)}), manifest written, in ${formatDuration(Date.now() - ctx.startedAt)}.`
            : `${result.remote} is up to date: nothing uploaded, nothing written.`,
        );
      });
      setExit(0);
    });
}

/** The `pull` command. */
export function pullCommand(setExit: (code: number) => void): CommandUnknownOpts {
  return withRemoteOptions(
    new Command('pull')
      .summary('download the archives from a remote (S3) and hydrate')
      .description(
        "Download the remote's archives, verify each against the remote manifest's SHA-256 before any local file is replaced, put them in place atomically with the remote's manifest.json, then hydrate as `hydrate` does (missing databases, and existing ones whose archive was updated and that have no changes of their own). A local archive with changes of its own (different from what this clone last pushed or pulled) is not overwritten: the pull is refused and nothing is written. --force overwrites such archives and replaces every database as `hydrate --force` does (each backed up first). Library: manager.pull({ remote, endpoint, force }).",
      ),
  )
    .option(
      '-f, --force',
      'overwrite local archives with changes, and replace every database (backed up first)',
    )
    .addHelpText(
      'after',
      `${CREDENTIALS_NOTE}

Examples:
  $ db-hydration pull --remote s3://my-bucket/app      # a fresh clone: archives and databases
  $ db-hydration pull                                  # remote from the config
  $ db-hydration pull --force                          # take the remote's archives over local changes`,
    )
    .action(async (opts) => {
      quietSdkNodeWarning();
      const ctx = new CommandContext(opts);
      const result = await ctx.manager.pull({
        force: opts.force === true,
        remote: remoteOf('pull', opts.remote, ctx),
        ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
      });
      const hydration = result.hydration;
      output(ctx, result, () => {
        for (const [name, a] of Object.entries(result.archives)) {
          if (a.status === 'unchanged') ctx.detail(`unchanged ${name}`);
          else if (a.status === 'local-only')
            ctx.say(`kept      ${name}  (not on the remote, changed here: push it)`);
          else if (a.status === 'removed')
            ctx.say(`removed   ${name}  (no longer on the remote; its database, if any, is kept)`);
          else ctx.say(`${a.status.padEnd(9)} ${name}`);
        }
        for (const [fileName, d] of Object.entries(hydration.databases)) {
          if (d.status === 'hydrated')
            ctx.say(
              `hydrated  ${fileName}  (${plural(d.tablesImported, 'table')}, ${plural(d.totalRows, 'row')}${d.backupPath === undefined ? '' : `, old file backed up to ${ctx.path(d.backupPath)}`})`,
            );
          else if (d.note !== undefined) ctx.say(`kept      ${fileName}  (${d.note})`);
        }
        ctx.say(
          `Pulled from ${result.remote}: ${plural(result.downloaded, 'archive')} downloaded (${formatBytes(result.downloadedBytes)}), ${plural(Object.values(hydration.databases).filter((d) => d.status === 'hydrated').length, 'database')} hydrated in ${formatDuration(Date.now() - ctx.startedAt)}.` +
            (hydration.errors.length > 0 ? ` ${plural(hydration.errors.length, 'error')}.` : ''),
        );
      });
      ctx.printErrors(hydration.errorDetails);
      setExit(hydration.errors.length > 0 ? 1 : 0);
    });
}

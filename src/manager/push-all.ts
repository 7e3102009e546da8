/**
 * `push`: uploads the archive directory's current archives and manifest to a remote store (docs/remote.md). It
 * dehydrates nothing itself, and refuses (uploading nothing) when what it would upload is not what the databases
 * hold: a database changed since its archive was written, one with no archive, or archives that disagree with
 * manifest.json. Only objects the remote lacks are uploaded; the remote manifest is written last, conditionally, and
 * not at all when nothing changed.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { RemoteError, toErrorDetail } from '../errors.js';
import { hashArchiveFile } from '../archive/archive-file.js';
import { readManifest, type Manifest } from '../manifest/manifest.js';
import { LocalDirectoryStore } from '../stores/local-directory-store.js';
import { S3Store } from '../stores/s3-store.js';
import { objectKeyFor } from '../stores/remote-manifest.js';
import { classifySync, classifyWithoutReading, withSnapshot } from '../sync/classify-sync.js';
import { readRemoteRecord, recordRemote } from '../sync/remote-state.js';
import { assertArchiveDir } from './paths.js';
import type { ManagerContext } from './types.js';

/** Where a push or pull goes: the remote URL and, for an S3-compatible service, its endpoint. */
export interface RemoteOptions {
  /** `s3://BUCKET/PREFIX`. Default: the manager's `remote` option (the config's `remote`). */
  readonly remote?: string;
  /** An S3-compatible service's URL. Default: the manager's `endpoint` option; none means AWS S3. */
  readonly endpoint?: string;
}

/** Options of {@link DBHydrationManager.push}. */
export type PushOptions = RemoteOptions;

/** One archive in a {@link PushResult}. */
export interface PushedArchive {
  /**
   * `uploaded`: its bytes were sent; `reused`: the remote already had an object with these bytes (content-addressed),
   * so only the manifest points at it; `unchanged`: the remote state already has exactly this archive.
   */
  readonly status: 'uploaded' | 'reused' | 'unchanged';
  /** The object's key under the remote prefix: `objects/<sha256><ext>`. */
  readonly object: string;
  readonly sha256: string;
  readonly bytes: number;
}

/** Result of {@link DBHydrationManager.push}. */
export interface PushResult {
  /** The remote, `s3://BUCKET/PREFIX/`. */
  readonly remote: string;
  /** By archive file name. */
  readonly archives: Readonly<Record<string, PushedArchive>>;
  /** Archives of the previous remote state that this one no longer has (their objects stay; docs/remote.md). */
  readonly removed: readonly string[];
  readonly uploaded: number;
  readonly uploadedBytes: number;
  /** Whether the remote manifest was written (false: the remote already had exactly this state). */
  readonly manifestWritten: boolean;
}

/** The remote of a push or pull, from its options and the manager's. */
export function remoteStore(options: RemoteOptions, defaults: RemoteOptions): S3Store {
  const remote = options.remote ?? defaults.remote;
  if (remote === undefined) {
    throw new RemoteError('no remote is configured', {
      hint: 'give --remote s3://BUCKET/PREFIX, or set "remote" in db-hydration.config.json (docs/remote.md)',
    });
  }
  const endpoint = options.endpoint ?? defaults.endpoint;
  return new S3Store(remote, endpoint === undefined ? {} : { endpoint });
}

/** Pushes the archives of `ctx` (see {@link DBHydrationManager.push}). */
export async function pushAll(ctx: ManagerContext, store: S3Store): Promise<PushResult> {
  assertArchiveDir(ctx.archiveDir);
  const local = new LocalDirectoryStore(ctx.archiveDir);
  const names = local.listSync();
  const manifest = readManifest(ctx.manifestPath);
  const hashes = checkArchives(ctx, local, names, manifest);
  checkDatabases(ctx, names);

  const before = await store.readState();
  const record = readRemoteRecord(ctx.dataDir, store.location);
  if (before !== undefined && before.sha256 !== record?.manifestSha256) {
    const same =
      Object.keys(before.manifest.archives).length === names.length &&
      names.every((n) => before.manifest.archives[n]?.sha256 === hashes[n]?.sha256);
    if (!same) {
      throw new RemoteError(
        `${store.location} has archives this clone has not pulled (someone else pushed since this clone last pushed or pulled)`,
        {
          hint: 'pull first (`db-hydration pull`): it refuses to overwrite your archives with local changes, so dehydrate or keep them, then push again',
        },
      );
    }
  }
  const archives: Record<string, PushedArchive> = {};
  for (const name of names) {
    const uploadedBefore = store.transfers.uploaded;
    const { sha256, bytes } = hashes[name] ?? hashArchiveFile(local.pathOf(name));
    const changed = await store.putIfChanged(name, local.pathOf(name), { sha256, bytes });
    archives[name] = {
      status: !changed ? 'unchanged' : store.transfers.uploaded > uploadedBefore ? 'uploaded' : 'reused',
      object: objectKeyFor(name, sha256),
      sha256,
      bytes,
    };
  }
  const state = await store.publish(manifest ?? emptyManifest());
  const now = state ?? before;
  if (now !== undefined)
    recordRemote(
      ctx.dataDir,
      store.location,
      now.sha256,
      Object.fromEntries(Object.entries(hashes).map(([n, h]) => [n, h.sha256])),
    );
  return {
    remote: store.location,
    archives,
    removed: Object.keys(before?.manifest.archives ?? {}).filter((n) => archives[n] === undefined),
    uploaded: store.transfers.uploaded,
    uploadedBytes: store.transfers.uploadedBytes,
    manifestWritten: state !== undefined,
  };
}

function emptyManifest(): Manifest {
  return { timestamp: new Date().toISOString(), databases: {}, total_tables: 0, total_rows: 0, errors: [] };
}

/**
 * The archives' SHA-256 and size by name, after checking that manifest.json describes exactly these files (a dehydrate that
 * finished wrote both).
 * @throws {RemoteError} naming the first archive that disagrees, with `dehydrate` as the next step
 */
function checkArchives(
  ctx: ManagerContext,
  local: LocalDirectoryStore,
  names: readonly string[],
  manifest: Manifest | undefined,
): Record<string, { sha256: string; bytes: number }> {
  const refuse = (what: string): never => {
    throw new RemoteError(`nothing was pushed: ${what}`, {
      file: ctx.manifestPath,
      hint: 'run `db-hydration dehydrate` (it writes the archives and manifest.json together), then push',
    });
  };
  if (names.length === 0) refuse(`${ctx.archiveDir} holds no archives`);
  if (manifest === undefined) refuse(`${ctx.manifestPath} is missing or not a manifest`);
  const byArchive = new Map(Object.values(manifest?.databases ?? {}).map((e) => [e.archive_path, e]));
  const hashes: Record<string, { sha256: string; bytes: number }> = {};
  for (const name of names) {
    const entry = byArchive.get(name);
    const file = hashArchiveFile(local.pathOf(name));
    if (entry === undefined) refuse(`${local.pathOf(name)} is not in manifest.json`);
    if (entry?.sha256 !== undefined && (entry.sha256 !== file.sha256 || entry.bytes !== file.bytes))
      refuse(`${local.pathOf(name)} is not the archive manifest.json describes (its SHA-256 differs)`);
    hashes[name] = file;
  }
  for (const archive of byArchive.keys()) {
    if (!names.includes(archive)) refuse(`manifest.json names ${archive}, which is not in ${ctx.archiveDir}`);
  }
  return hashes;
}

/**
 * Refuses when a database of the data directory holds something its archive does not: changes since its archive
 * was written (or since it last matched it), or no archive at all. A database whose archive is newer (a pull or
 * merge updated it) is fine: the archive is what gets pushed.
 * @throws {RemoteError} listing each such database
 */
function checkDatabases(ctx: ManagerContext, names: readonly string[]): void {
  if (!existsSync(ctx.dataDir)) return;
  const problems: string[] = [];
  for (const fileName of ctx.listDatabases()) {
    const dbPath = join(ctx.dataDir, fileName);
    const archivePath = ctx.archivePathFor(fileName);
    if (!names.includes(basename(archivePath)) || !existsSync(archivePath)) {
      problems.push(`${fileName} has no archive`);
      continue;
    }
    const target = { dataDir: ctx.dataDir, fileName, dbPath, archivePath, busyTimeoutMs: ctx.busyTimeoutMs };
    try {
      const kind = (
        classifyWithoutReading(target) ?? withSnapshot(target, (snapshot) => classifySync(target, snapshot))
      ).kind;
      if (kind === 'local-changes' || kind === 'untracked')
        problems.push(`${fileName} has changes its archive does not hold`);
      else if (kind === 'diverged')
        problems.push(`${fileName} and its archive both changed since they last matched`);
    } catch (error) {
      problems.push(toErrorDetail(error, { file: dbPath }).message);
    }
  }
  if (problems.length > 0) {
    throw new RemoteError(`nothing was pushed: ${problems.join('; ')}`, {
      file: ctx.dataDir,
      hint: 'run `db-hydration dehydrate` (or `db-hydration sync` for a database that diverged), then push',
    });
  }
}

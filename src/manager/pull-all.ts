/**
 * `pull`: brings the remote's archives into the archive directory, then hydrates (docs/remote.md). Every object is
 * downloaded into a temp file and verified against the remote manifest's SHA-256 and size before any local file is
 * replaced; one that fails leaves every local file as it was. A local archive with changes of its own (it differs
 * from the state this clone last pushed or pulled, and from the remote's) is not overwritten without `force`, as
 * `git pull` refuses to overwrite uncommitted changes.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { RemoteError, toErrorDetail } from '../errors.js';
import { hashArchiveFile } from '../archive/archive-file.js';
import { databaseNameOfArchive } from '../archive/naming.js';
import { commitTempFile, removeStaleTempFiles, tempPathFor } from '../files/atomic-file.js';
import { readManifest, writeManifest, type Manifest, type ManifestEntry } from '../manifest/manifest.js';
import { LocalDirectoryStore } from '../stores/local-directory-store.js';
import type { S3Store } from '../stores/s3-store.js';
import type { RemoteObject } from '../stores/remote-manifest.js';
import { readRemoteRecord, recordRemote } from '../sync/remote-state.js';
import { hydrateAll } from './hydrate-all.js';
import { assertArchiveDir } from './paths.js';
import type { RemoteOptions } from './push-all.js';
import type { HydrationResult, ManagerContext } from './types.js';

/** Options of {@link DBHydrationManager.pull}. */
export interface PullOptions extends RemoteOptions {
  /**
   * Overwrite local archives that have changes of their own, and hydrate as `hydrateAll({ force: true })` does
   * (every database replaced, after a backup). Default false.
   */
  readonly force?: boolean;
}

/** One archive in a {@link PullResult}. */
export interface PulledArchive {
  /**
   * `downloaded`: brought in (new, or updated from the remote); `overwritten`: downloaded over local changes
   * (`force`); `unchanged`: the local archive already had the remote's bytes; `removed`: the remote no longer has it
   * and the local copy had no changes of its own; `local-only`: not on the remote and changed here (kept; push it).
   */
  readonly status: 'downloaded' | 'overwritten' | 'unchanged' | 'removed' | 'local-only';
  /** SHA-256 of the archive file now in place (absent for `removed`). */
  readonly sha256?: string;
}

/** Result of {@link DBHydrationManager.pull}. */
export interface PullResult {
  readonly remote: string;
  /** By archive file name. */
  readonly archives: Readonly<Record<string, PulledArchive>>;
  readonly downloaded: number;
  readonly downloadedBytes: number;
  /** Whether the local manifest.json was rewritten. */
  readonly manifestChanged: boolean;
  /** The hydration that followed (missing databases, updated archives; every database with `force`). */
  readonly hydration: HydrationResult;
}

/** Pulls from `store` into `ctx` (see {@link DBHydrationManager.pull}). */
export async function pullAll(
  ctx: ManagerContext,
  store: S3Store,
  options: PullOptions,
): Promise<PullResult> {
  assertArchiveDir(ctx.archiveDir);
  const state = await store.readState();
  if (state === undefined) {
    throw new RemoteError(`${store.location} has no remote manifest: nothing has been pushed there yet`, {
      hint: 'check the remote URL (--remote, `remote` in the config), or push first from a clone with archives',
    });
  }
  const remote = state.manifest;
  const force = options.force === true;
  const local = new LocalDirectoryStore(ctx.archiveDir);
  const base = readRemoteRecord(ctx.dataDir, store.location)?.archives ?? {};

  const { archives, toFetch, toRemove, conflicts } = planPull(remote.archives, local, base, force);
  if (conflicts.length > 0) {
    throw new RemoteError(
      `nothing was pulled: ${conflicts.map((n) => local.pathOf(n)).join(', ')} ${conflicts.length === 1 ? 'has' : 'have'} local changes ` +
        `(different from what this clone last pushed or pulled, and from ${store.location})`,
      {
        file: local.pathOf(conflicts[0] ?? ''),
        hint: 'push them first if they are yours to publish; or keep a copy and run `db-hydration pull --force` to take the remote archives (databases are backed up before they are replaced)',
      },
    );
  }

  // Download and verify everything before replacing anything.
  mkdirSync(ctx.archiveDir, { recursive: true });
  removeStaleTempFiles(ctx.archiveDir);
  const temps = new Map<string, string>();
  try {
    for (const name of toFetch) {
      const temp = tempPathFor(local.pathOf(name));
      temps.set(name, temp);
      await store.fetch(name, temp);
    }
  } catch (error) {
    for (const temp of temps.values()) rmSync(temp, { force: true });
    throw error;
  }
  for (const [name, temp] of temps) commitTempFile(temp, local.pathOf(name));
  for (const name of toRemove) rmSync(local.pathOf(name), { force: true });
  const manifestChanged = writeManifest(
    ctx.manifestPath,
    withLocalOnly(remote.manifest, readManifest(ctx.manifestPath), archives),
  );
  recordRemote(
    ctx.dataDir,
    store.location,
    state.sha256,
    Object.fromEntries(Object.entries(remote.archives).map(([n, o]) => [n, o.sha256])),
  );

  let hydration: HydrationResult;
  try {
    hydration = await hydrateAll(ctx, { force });
  } catch (error) {
    const detail = toErrorDetail(error, { file: ctx.dataDir });
    hydration = {
      timestamp: new Date().toISOString(),
      databases: {},
      totalTables: 0,
      totalRows: 0,
      errors: [detail.message],
      errorDetails: [detail],
    };
  }
  return {
    remote: store.location,
    archives,
    downloaded: store.transfers.downloaded,
    downloadedBytes: store.transfers.downloadedBytes,
    manifestChanged,
    hydration,
  };
}

/** What a pull does with each archive, and the local archives it must not overwrite (see {@link PulledArchive}). */
function planPull(
  remoteArchives: Readonly<Record<string, RemoteObject>>,
  local: LocalDirectoryStore,
  base: Readonly<Record<string, string>>,
  force: boolean,
): { archives: Record<string, PulledArchive>; toFetch: string[]; toRemove: string[]; conflicts: string[] } {
  const localNames = local.listSync();
  const localHash = new Map(localNames.map((n) => [n, hashArchiveFile(local.pathOf(n)).sha256]));
  const remoteDatabases = new Set(Object.keys(remoteArchives).map((n) => databaseNameOfArchive(n)));
  const archives: Record<string, PulledArchive> = {};
  const toFetch: string[] = [];
  const toRemove: string[] = [];
  const conflicts: string[] = [];
  for (const [name, object] of Object.entries(remoteArchives)) {
    const mine = localHash.get(name);
    if (mine === object.sha256) archives[name] = { status: 'unchanged', sha256: mine };
    else if (mine === undefined || mine === base[name]) {
      archives[name] = { status: 'downloaded', sha256: object.sha256 };
      toFetch.push(name);
    } else if (force) {
      archives[name] = { status: 'overwritten', sha256: object.sha256 };
      toFetch.push(name);
    } else conflicts.push(name);
  }
  for (const name of localNames) {
    if (remoteArchives[name] !== undefined) continue;
    const mine = localHash.get(name);
    const unchanged = mine === base[name];
    // Another codec's archive of a database the remote has (`shop.json` there, `shop.json.gz` here) would leave two.
    const sibling = remoteDatabases.has(databaseNameOfArchive(name));
    if ((sibling && (unchanged || force)) || (!sibling && unchanged)) {
      archives[name] = { status: 'removed' };
      toRemove.push(name);
    } else if (sibling) conflicts.push(name);
    else archives[name] = { status: 'local-only', ...(mine === undefined ? {} : { sha256: mine }) };
  }
  return { archives, toFetch, toRemove, conflicts };
}

/** The remote's manifest, plus the local entries of archives kept as `local-only` (so a later push finds them). */
function withLocalOnly(
  remote: Manifest,
  before: Manifest | undefined,
  archives: Readonly<Record<string, PulledArchive>>,
): Manifest {
  const kept = Object.entries(before?.databases ?? {}).filter(
    ([, e]) => archives[e.archive_path]?.status === 'local-only',
  );
  if (kept.length === 0) return remote;
  const databases: Record<string, ManifestEntry> = { ...remote.databases, ...Object.fromEntries(kept) };
  const entries = Object.values(databases);
  return {
    ...remote,
    databases,
    total_tables: entries.reduce((s, e) => s + e.tables_exported, 0),
    total_rows: entries.reduce((s, e) => s + e.total_rows, 0),
  };
}

/**
 * What this clone last had in common with each remote (`<dataDir>/.db-hydration/remotes.json`, local, never
 * committed): the SHA-256 of the remote manifest it last pushed or pulled, and the archive files of that state. It is
 * the base that `push` and `pull` decide from, as git's remote-tracking branches are: a remote manifest other than
 * the recorded one was pushed by someone else (push refuses: pull first), and a local archive other than the
 * recorded one has local changes (pull refuses to overwrite it without `force`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../files/atomic-file.js';
import { ensureSyncStateDir, SYNC_STATE_DIR } from './sync-state.js';

/** The file's name inside the sync state directory. */
export const REMOTES_FILE = 'remotes.json';

/** The state a clone last pushed to or pulled from one remote. */
export interface RemoteRecord {
  /** SHA-256 of the remote manifest's bytes. */
  readonly manifestSha256: string;
  /** The archive files of that state: file name → SHA-256 of the file as stored. */
  readonly archives: Readonly<Record<string, string>>;
  readonly at: string;
}

interface RemotesFile {
  readonly version: 1;
  readonly remotes: Readonly<Record<string, RemoteRecord>>;
}

function readRemotesFile(dataDir: string): RemotesFile {
  try {
    const parsed = JSON.parse(readFileSync(join(dataDir, SYNC_STATE_DIR, REMOTES_FILE), 'utf8')) as unknown;
    const f = parsed as Record<string, unknown> | null;
    if (f?.version === 1 && typeof f.remotes === 'object' && f.remotes !== null)
      return f as unknown as RemotesFile;
  } catch {
    // none, or not readable: no record (push and pull then decide as for a clone that never synced)
  }
  return { version: 1, remotes: {} };
}

/** The record of a remote (by its `s3://BUCKET/PREFIX/` location), or `undefined` when this clone never synced. */
export function readRemoteRecord(dataDir: string, location: string): RemoteRecord | undefined {
  const record = readRemotesFile(dataDir).remotes[location];
  if (
    record === undefined ||
    typeof record.manifestSha256 !== 'string' ||
    typeof record.archives !== 'object' ||
    Object.values(record.archives).some((v) => typeof v !== 'string')
  )
    return undefined;
  return record;
}

/** Records the state this clone now has in common with a remote. */
export function recordRemote(
  dataDir: string,
  location: string,
  manifestSha256: string,
  archives: Readonly<Record<string, string>>,
): void {
  const file = readRemotesFile(dataDir);
  const dir = ensureSyncStateDir(dataDir);
  const next: RemotesFile = {
    version: 1,
    remotes: { ...file.remotes, [location]: { manifestSha256, archives, at: new Date().toISOString() } },
  };
  writeFileAtomic(join(dir, REMOTES_FILE), `${JSON.stringify(next, null, 2)}\n`);
}

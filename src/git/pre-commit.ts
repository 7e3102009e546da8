/**
 * `checkStagedArchives`, the pre-commit check: a commit must not leave a database's changes behind. Each database of
 * the data directory whose archive is in the index is dehydrated into a scratch file and compared by content
 * (`exported_at` aside, as `dehydrate` and `status` compare) with the STAGED archive, which git writes out into the
 * same scratch directory. Nothing in the data, archive or git directory is written.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ArchiveEncryptionError, toErrorDetail, type ErrorDetail } from '../errors.js';
import { CODECS } from '../archive/codec.js';
import { isEncryptedCodec } from '../archive/age-codec.js';
import { keyRingOf, type DBHydrationManager } from '../manager.js';
import { archiveFileNameFor, databaseNameOf } from '../archive/naming.js';
import { dehydrateDatabase } from '../dehydrate/dehydrate-database.js';
import { archiveContentHash, compareArchives } from '../archive/content-comparison.js';
import { readSyncRecord } from '../sync/sync-state.js';
import { withScratchDir } from '../integration/scratch.js';
import { DEFAULT_BUSY_TIMEOUT_MS } from '../sqlite/busy-timeout.js';
import { findRepository, git, repoRelative, shellQuote } from './git-command.js';
import { scratchArchivePath, withKeyRing } from '../archive/keys.js';

/** Options of {@link checkStagedArchives}. */
export interface StagedCheckOptions {
  /** A directory inside the repository. Default: the working directory. */
  readonly cwd?: string;
  /** How long to wait for a locked database, in milliseconds. Default 5000. */
  readonly busyTimeoutMs?: number;
}

/** One database in a {@link StagedCheckResult}. */
export interface StagedDatabase {
  readonly fileName: string;
  /** The archive, relative to the top of the work tree. */
  readonly archive: string;
  /**
   * `staged`: the staged archive holds the database's content; `unstaged-changes`: the database has changes its
   * staged archive lacks; `behind`: the database differs only because the archive moved on (a pull or merge brought
   * changes the database has not taken in yet: not blocking); `not-staged`: the archive is not in the index
   * (nothing to compare; skipped).
   */
  readonly state: 'staged' | 'unstaged-changes' | 'behind' | 'not-staged';
  /** The command to run: stages the database's changes for `unstaged-changes`, brings the archive in for `behind`. */
  readonly command?: string;
}

/** Result of {@link checkStagedArchives}. */
export interface StagedCheckResult {
  readonly repository: string;
  readonly databases: readonly StagedDatabase[];
  /** Whether the commit may go ahead: no database has unstaged changes and none could not be checked. */
  readonly ok: boolean;
  readonly errors: readonly string[];
  readonly errorDetails: readonly ErrorDetail[];
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Whether a merge, cherry-pick or revert is in progress (its commit is the one being made). */
function isMerging(top: string): boolean {
  return ['MERGE_HEAD', 'CHERRY_PICK_HEAD', 'REVERT_HEAD'].some(
    (ref) => git(top, ['rev-parse', '-q', '--verify', ref], { allow: [1] }).status === 0,
  );
}

/**
 * For a database configured to be encrypted: a plain archive of it (`<name>.json`, any codec but age's) that is in the
 * index, relative to the top; else `undefined`.
 */
function stagedPlaintext(top: string, manager: DBHydrationManager, fileName: string): string | undefined {
  if (!manager.isEncrypted(fileName)) return undefined;
  for (const codec of CODECS) {
    if (isEncryptedCodec(codec)) continue;
    const plain = join(manager.archiveDir, archiveFileNameFor(fileName, codec));
    const relative = repoRelative(top, plain, 'archive directory');
    if (isStaged(top, relative)) return relative;
  }
  return undefined;
}

function plaintextError(archive: string, dbPath: string): ErrorDetail {
  return toErrorDetail(
    new ArchiveEncryptionError(
      `${archive} is a plaintext archive of a database configured to be encrypted, and it is staged: the commit would publish its rows`,
      {
        file: archive,
        database: databaseNameOf(basename(dbPath)),
        hint: `unstage it with \`git rm --cached ${shellQuote(archive)}\`, then \`db-hydration dehydrate\` (it writes the .json.age archive and removes the plain one)`,
      },
    ),
  );
}

/** Whether `path` (relative to the top) is in the index. */
function isStaged(top: string, path: string): boolean {
  return git(top, ['ls-files', '--cached', '-z', '--', `:(literal)${path}`]).stdout !== '';
}

/**
 * Compares every database that has an archive in the index with that staged archive.
 *
 * @example
 * ```ts
 * const result = await checkStagedArchives(new DBHydrationManager({ dataDir: 'data' }));
 * for (const d of result.databases) if (d.state === 'unstaged-changes') console.error(d.fileName, d.command);
 * ```
 * @throws {GitError} outside a git work tree
 */
export async function checkStagedArchives(
  manager: DBHydrationManager,
  options: StagedCheckOptions = {},
): Promise<StagedCheckResult> {
  // The manager's keys: its identities decrypt, its config's recipients encrypt (keys.ts).
  return withKeyRing(keyRingOf(manager), () => checkStagedArchivesInRing(manager, options));
}

async function checkStagedArchivesInRing(
  manager: DBHydrationManager,
  options: StagedCheckOptions,
): Promise<StagedCheckResult> {
  const { top } = findRepository(resolve(options.cwd ?? '.'));
  const databases: StagedDatabase[] = [];
  const errorDetails: ErrorDetail[] = [];
  for (const fileName of manager.listDatabases()) {
    const dbPath = join(manager.dataDir, fileName);
    if (!isFile(dbPath)) continue;
    const archive = repoRelative(top, manager.archivePathFor(fileName), 'archive directory');
    const plaintext = stagedPlaintext(top, manager, fileName);
    if (plaintext !== undefined) {
      errorDetails.push(plaintextError(plaintext, join(manager.dataDir, fileName)));
      continue;
    }
    if (!isStaged(top, archive)) {
      databases.push({ fileName, archive, state: 'not-staged' });
      continue;
    }
    try {
      databases.push(await compareStaged(top, manager, fileName, archive, options));
    } catch (error) {
      errorDetails.push(
        toErrorDetail(error, {
          file: dbPath,
          database: databaseNameOf(fileName),
          hint: 'fix it (`db-hydration status` says how), or commit with `git commit --no-verify` to skip this check',
        }),
      );
    }
  }
  return {
    repository: top,
    databases,
    ok: errorDetails.length === 0 && databases.every((d) => d.state !== 'unstaged-changes'),
    errors: errorDetails.map((e) => e.message),
    errorDetails,
  };
}

function compareStaged(
  top: string,
  manager: DBHydrationManager,
  fileName: string,
  archive: string,
  options: StagedCheckOptions,
): Promise<StagedDatabase> {
  return withScratchDir((dir) => {
    // checkout-index writes the staged blob (through the repository's filters) to <dir>/<archive>.
    git(top, ['checkout-index', `--prefix=${dir}/`, '--', archive]);
    const staged = join(dir, archive);
    if (!existsSync(staged)) throw new Error(`git did not write out the staged ${archive}`);
    const live = scratchArchivePath(dir, manager.archivePathFor(fileName), { prefix: 'live-database.' });
    dehydrateDatabase({
      dbPath: join(manager.dataDir, fileName),
      archivePath: live,
      database: databaseNameOf(fileName),
      fileName,
      busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
      onProgress: undefined,
    });
    if (compareArchives(live, staged).same) return { fileName, archive, state: 'staged' };
    const db = shellQuote(databaseNameOf(fileName));
    const record = readSyncRecord(manager.dataDir, fileName, manager.archivePathFor(fileName));
    const liveHash = archiveContentHash(live);
    // The database still holds what it last matched and the archive in the tree moved on from that (a pull, a
    // merge): nothing local is lost. (Had it been dehydrated, the tree's archive would be what it matched.)
    const treeArchive = manager.archivePathFor(fileName);
    const treeHash = existsSync(treeArchive) ? archiveContentHash(treeArchive) : undefined;
    if (record !== undefined && liveHash === record.contentHash && treeHash !== record.contentHash) {
      return { fileName, archive, state: 'behind', command: `db-hydration hydrate --db ${db}` };
    }
    // Local changes; if the archive changed as well, dehydrating would write over the other side's rows.
    const diverged = record === undefined || archiveContentHash(staged) !== record.contentHash;
    if (diverged && record === undefined && isMerging(top)) {
      // No record of what the database last matched, in the middle of a merge: most likely the merge moved the
      // archive on. Not blocking, and no command that could write over it.
      return { fileName, archive, state: 'behind', command: `db-hydration diff --db ${db}` };
    }
    const command =
      treeHash === liveHash
        ? `git add ${shellQuote(archive)}`
        : diverged
          ? record === undefined
            ? `db-hydration diff --db ${db}`
            : `db-hydration sync --db ${db} && git add ${shellQuote(archive)}`
          : `db-hydration dehydrate --db ${db} && git add ${shellQuote(archive)}`;
    return { fileName, archive, state: 'unstaged-changes', command };
  });
}

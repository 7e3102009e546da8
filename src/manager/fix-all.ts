/** Checking every database and repairing the missing and damaged ones (see {@link DBHydrationManager.fixCorruptedDbs}). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { toErrorDetail, type ErrorDetail } from '../errors.js';
import { databaseNameOf } from '../archive/naming.js';
import { peekHeader, targetFileName } from '../archive/archive-header.js';
import { authenticateArchive } from '../archive/archive-file.js';
import { compareNames } from '../sqlite/names.js';
import { scanDatabases } from '../dehydrate/scan-databases.js';
import { removeStaleTempFiles } from '../files/atomic-file.js';
import { fixDatabases, type FixResult, type FixTarget } from '../integrity/fix-databases.js';
import { forgetSyncState, recordMatch } from '../sync/sync-state.js';
import { assertArchiveDir, assertDataDir } from './paths.js';
import type { ManagerContext } from './types.js';

/** Repairs the databases of `ctx`; problems with an archive's header are added to the result's errors. */
export async function fixAll(ctx: ManagerContext): Promise<FixResult> {
  assertDataDir(ctx.dataDir);
  assertArchiveDir(ctx.archiveDir);
  removeStaleTempFiles(ctx.dataDir);
  const targets = new Map<string, FixTarget>();
  const archiveProblems: ErrorDetail[] = [];
  // Databases whose archive exists but cannot be read (an encrypted one without its key, or tampered with): neither
  // created empty nor salvaged over it; they are left as they are, and the archive's problem is reported.
  const blocked = new Set<string>();
  const archiveFor = (fileName: string): string | undefined => {
    const archivePath = ctx.archivePathFor(fileName);
    if (!existsSync(archivePath)) return undefined;
    try {
      // An encrypted archive is authenticated whole first: a restore must not begin from a tampered one.
      authenticateArchive(archivePath);
      return targetFileName(peekHeader(archivePath), archivePath) === fileName ? archivePath : undefined;
    } catch (error) {
      archiveProblems.push(toErrorDetail(error, { file: archivePath, database: databaseNameOf(fileName) }));
      blocked.add(fileName);
      return undefined;
    }
  };
  const add = (fileName: string): void => {
    if (targets.has(fileName) || blocked.has(fileName)) return;
    const archivePath = archiveFor(fileName);
    if (blocked.has(fileName)) return;
    targets.set(fileName, { fileName, dbPath: join(ctx.dataDir, fileName), archivePath });
  };
  if (ctx.databases !== undefined) {
    for (const name of ctx.databases) add(name);
  } else {
    for (const name of scanDatabases(ctx.dataDir)) add(name);
    for (const archivePath of ctx.listArchives()) {
      try {
        add(targetFileName(peekHeader(archivePath), archivePath));
      } catch (error) {
        archiveProblems.push(toErrorDetail(error, { file: archivePath }));
      }
    }
  }
  const result = await fixDatabases(
    [...targets.values()].sort((a, b) => compareNames(a.fileName, b.fileName)),
    { busyTimeoutMs: ctx.busyTimeoutMs, onProgress: ctx.onProgress },
  );
  const stateProblems = recordRepairs(ctx, result);
  const problems = distinct([...archiveProblems, ...stateProblems]);
  if (problems.length === 0) return result;
  const errorDetails = [...problems, ...result.errorDetails];
  return { ...result, errorDetails, errors: errorDetails.map((e) => e.message) };
}

/**
 * Sync state after repairs: a database restored from its archive now matches it; one salvaged or created empty
 * matches no archive, so its old state is forgotten. Returns the problems writing the state met.
 */
function recordRepairs(ctx: ManagerContext, result: FixResult): ErrorDetail[] {
  const problems: ErrorDetail[] = [];
  for (const detail of Object.values(result.details)) {
    try {
      if (detail.action === 'restored' && detail.archivePath !== undefined) {
        const { fileName, dbPath, archivePath } = detail;
        recordMatch({ dataDir: ctx.dataDir, fileName, dbPath, archivePath, matchedBy: 'fix' });
      } else if (detail.action === 'salvaged' || detail.action === 'created') {
        forgetSyncState(ctx.dataDir, detail.fileName);
      }
    } catch (error) {
      problems.push(toErrorDetail(error, { file: detail.dbPath, database: databaseNameOf(detail.fileName) }));
    }
  }
  return problems;
}

/** The errors with their first occurrence only (one archive can be looked at twice). */
function distinct(errors: readonly ErrorDetail[]): ErrorDetail[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.file ?? ''}\u0000${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

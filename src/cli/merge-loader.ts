/**
 * The three-way merge `sync` runs, loaded from where it is built (src/merge/merge-archives.ts, dist/merge/ in the
 * package) when a diverged database first needs it: sync of databases where only one side changed never loads it.
 */
import { HydrationError } from '../errors.js';
import type { MergeFn } from '../sync/merge-function.js';

/** Where the merge module is, relative to this one (the same in src/ and dist/). */
const MERGE_MODULE = '../merge/merge-archives.js';

let loaded: MergeFn | undefined;

/**
 * `mergeArchives`, loaded on first call.
 * @throws {HydrationError} when this build has no merge module (then nothing was merged or written)
 */
export async function loadMerge(): Promise<MergeFn> {
  if (loaded !== undefined) return loaded;
  let mod: unknown;
  try {
    mod = await import(MERGE_MODULE);
  } catch (error) {
    throw new HydrationError(
      'IO',
      'this build of db-hydration has no three-way merge, so nothing was merged',
      {
        cause: error,
        hint: 'update db-hydration; until then, `db-hydration status` shows what each side changed',
      },
    );
  }
  const fn = (mod as { mergeArchives?: unknown }).mergeArchives;
  if (typeof fn !== 'function')
    throw new HydrationError('IO', `${MERGE_MODULE} does not export mergeArchives, so nothing was merged`);
  loaded = fn as MergeFn;
  return loaded;
}

/** A {@link MergeFn} that loads the merge on its first call: what the CLI passes to `syncAll`. */
export const lazyMerge: MergeFn = async (options) => (await loadMerge())(options);

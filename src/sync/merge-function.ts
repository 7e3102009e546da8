/**
 * The three-way merge as sync uses it: injected, typed by the merge's contract (src/merge/merge-types.ts), so that sync
 * depends on what a merge does and not on how (`db-hydration sync` passes `mergeArchives`, the same merge the git
 * merge driver runs).
 */
import type { MergeArchivesOptions, MergeResult } from '../merge/merge-types.js';

/** A three-way merge of archive files: `mergeArchives` from src/merge/merge-archives.ts, or one with its contract. */
export type MergeFn = (options: MergeArchivesOptions) => MergeResult | Promise<MergeResult>;

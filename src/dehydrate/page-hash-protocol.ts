/** What the page-hashing child process is asked and answers (see page-hash-child.ts and table-pages.ts). */
import type { BtreeHashes, PageTree } from '../sqlite/btree-hashes.js';

export type { PageTree } from '../sqlite/btree-hashes.js';

/** The request file. */
export interface PageHashRequest {
  readonly dbPath: string;
  readonly trees: readonly PageTree[];
}

/** The result file. */
export type PageHashResult =
  ({ readonly ok: true } & BtreeHashes) | { readonly ok: false; readonly error: string };

/** What the page-hashing child process is asked and answers (see page-hash-child.ts and table-pages.ts). */

/** One table b-tree to hash: the table's name and its root page. */
export interface PageTree {
  readonly name: string;
  readonly root: number;
}

/** The request file. */
export interface PageHashRequest {
  readonly dbPath: string;
  readonly trees: readonly PageTree[];
}

/** The result file: per table, the SHA-256 of its b-tree's pages, or null when the tree was out of shape. */
export type PageHashResult =
  | {
      readonly ok: true;
      readonly pageSize: number;
      readonly usableSize: number;
      /** The header's text encoding number (1 UTF-8, 2 UTF-16le, 3 UTF-16be). */
      readonly textEncoding: number;
      readonly tables: Readonly<Record<string, string | null>>;
    }
  | { readonly ok: false; readonly error: string };

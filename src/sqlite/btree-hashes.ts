/**
 * Hashes of table b-trees: SHA-256 over every page of each tree as SQLite reaches it (btree-pages.ts), each page
 * after its 4-byte page number. Read from an open descriptor of the database file, which this module neither opens
 * nor closes (see src/sqlite/held-file.ts and src/dehydrate/page-hash-child.ts for why that matters).
 */
import { fstatSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { btreeGeometry, walkBtree, type BtreeFile } from './btree-pages.js';

/** One table b-tree to hash: the table's name and its root page. */
export interface PageTree {
  readonly name: string;
  readonly root: number;
}

/** The hashes of some trees, and the file facts they depend on. */
export interface BtreeHashes {
  readonly pageSize: number;
  readonly usableSize: number;
  /** The header's text encoding number (1 UTF-8, 2 UTF-16le, 3 UTF-16be). */
  readonly textEncoding: number;
  /** Per tree, the hash, or null when the tree was out of shape (that table has no proof). */
  readonly tables: Readonly<Record<string, string | null>>;
}

/**
 * Hashes the pages of `trees` in the file open as `fd`.
 * @throws {Error} when the file is not an SQLite 3 file or cannot be read
 */
export function hashBtrees(fd: number, trees: readonly PageTree[]): BtreeHashes {
  const header = Buffer.alloc(100);
  readSync(fd, header, 0, 100, 0);
  const geometry = btreeGeometry(header, fstatSync(fd).size);
  // Pages are read in blocks of 256 KiB (a table's pages are mostly near each other), a few blocks kept; each page is
  // copied after a 4-byte slot for its number, so that one hash update covers both.
  const { pageSize } = geometry;
  const blockPages = Math.max(1, (256 << 10) / pageSize);
  const blocks = new Map<number, Buffer>();
  const slot = Buffer.allocUnsafe(4 + pageSize);
  const page = slot.subarray(4);
  const file: BtreeFile = {
    ...geometry,
    readPage(pgno: number): Buffer {
      const blockNo = Math.floor((pgno - 1) / blockPages);
      let block = blocks.get(blockNo);
      if (block === undefined) {
        block = blocks.size >= 8 ? evictOldest(blocks) : Buffer.allocUnsafe(blockPages * pageSize);
        const n = readSync(fd, block, 0, block.length, blockNo * blockPages * pageSize);
        block = block.subarray(0, n);
      }
      blocks.delete(blockNo);
      blocks.set(blockNo, block);
      const at = ((pgno - 1) % blockPages) * pageSize;
      if (at + pageSize > block.length) return page.subarray(0, Math.max(0, block.length - at));
      block.copy(page, 0, at, at + pageSize);
      return page;
    },
  };
  const tables: Record<string, string | null> = {};
  for (const tree of trees) {
    const hash = createHash('sha256');
    try {
      walkBtree(file, tree.root, (pgno, bytes) => {
        if (bytes !== page) throw new Error('unexpected page buffer');
        slot.writeUInt32BE(pgno, 0);
        hash.update(slot);
      });
      tables[tree.name] = hash.digest('hex');
    } catch {
      tables[tree.name] = null; // out of shape: that table is read in full
    }
  }
  return {
    pageSize: geometry.pageSize,
    usableSize: geometry.usableSize,
    textEncoding: header.readUInt32BE(56),
    tables,
  };
}

/** Drops the least recently used block and hands back its buffer (whole size) for the next one. */
function evictOldest(blocks: Map<number, Buffer>): Buffer {
  const [oldest, buffer] = blocks.entries().next().value as [number, Buffer];
  blocks.delete(oldest);
  return Buffer.from(buffer.buffer, buffer.byteOffset, buffer.buffer.byteLength - buffer.byteOffset);
}

/**
 * The child process that hashes the pages of a database's table b-trees (see table-pages.ts). It runs in a process of
 * its own because it opens the database file: closing a descriptor of a file drops every POSIX lock the process
 * holds on it, and the exporting process holds SQLite's shared lock, which keeps the file still while it is read.
 *
 * Usage: `node page-hash-child.js REQUEST RESULT`: REQUEST is a JSON file `{dbPath, trees: [{name, root}]}`; the
 * answer is written to RESULT (through a temp name, then renamed), always, errors included.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync, renameSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { btreeGeometry, walkBtree, type BtreeFile } from '../sqlite/btree-pages.js';
import type { PageHashRequest, PageHashResult } from './page-hash-protocol.js';

function hashPages(request: PageHashRequest): PageHashResult {
  const fd = openSync(request.dbPath, 'r');
  try {
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
    for (const tree of request.trees) {
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
      ok: true,
      pageSize: geometry.pageSize,
      usableSize: geometry.usableSize,
      textEncoding: header.readUInt32BE(56),
      tables,
    };
  } finally {
    closeSync(fd);
  }
}

/** Drops the least recently used block and hands back its buffer (whole size) for the next one. */
function evictOldest(blocks: Map<number, Buffer>): Buffer {
  const [oldest, buffer] = blocks.entries().next().value as [number, Buffer];
  blocks.delete(oldest);
  return Buffer.from(buffer.buffer, buffer.byteOffset, buffer.buffer.byteLength - buffer.byteOffset);
}

const [requestPath, resultPath] = process.argv.slice(2);
if (requestPath === undefined || resultPath === undefined) {
  process.stderr.write('usage: page-hash-child REQUEST RESULT\n');
  process.exit(2);
}
let result: PageHashResult;
try {
  result = hashPages(JSON.parse(readFileSync(requestPath, 'utf8')) as PageHashRequest);
} catch (error) {
  result = { ok: false, error: error instanceof Error ? error.message : String(error) };
}
writeFileSync(`${resultPath}.tmp`, JSON.stringify(result));
renameSync(`${resultPath}.tmp`, resultPath);

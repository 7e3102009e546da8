/**
 * A read-only walk of one b-tree of an SQLite file, page by page, as SQLite itself reaches them: from the root
 * through every interior page to every leaf, and along every overflow chain of a cell too large for its page
 * (https://sqlite.org/fileformat.html#b_tree_pages). Incremental export hashes the pages a table's b-tree is made
 * of: while those bytes and the table's schema are the same, its rows are the same (see src/dehydrate/table-pages.ts).
 *
 * The file is untrusted input: every page number, offset and count is checked, a page is visited once, and anything
 * out of shape ends the walk with {@link BtreeShapeError} (the caller then reads the table in full). Nothing is
 * written, and the file is only read through the `readPage` callback.
 */

/** A b-tree that does not have the shape SQLite gives one (a damaged file, or a page of another tree). */
export class BtreeShapeError extends Error {}

/** What a walk needs to know about the file: from its header. */
export interface BtreeFile {
  readonly pageSize: number;
  /** Usable bytes per page: the page size less the reserved bytes at the end of each page. */
  readonly usableSize: number;
  /** Pages in the database. */
  readonly pageCount: number;
  /** Reads page `pgno` (1-based) whole, `pageSize` bytes; the buffer may be reused after the call returns. */
  readPage(pgno: number): Buffer;
}

const INTERIOR_INDEX = 0x02;
const INTERIOR_TABLE = 0x05;
const LEAF_INDEX = 0x0a;
const LEAF_TABLE = 0x0d;

/** The page size, usable size and page count of an SQLite file, from its first 100 bytes and its size. */
export function btreeGeometry(
  header: Buffer,
  fileBytes: number,
): { pageSize: number; usableSize: number; pageCount: number } {
  if (header.length < 100 || header.toString('latin1', 0, 16) !== 'SQLite format 3\u0000')
    throw new BtreeShapeError('not an SQLite 3 file');
  const raw = header.readUInt16BE(16);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0) throw new BtreeShapeError('bad page size');
  const usableSize = pageSize - header.readUInt8(20);
  if (usableSize < 480) throw new BtreeShapeError('bad reserved size');
  const filePages = Math.floor(fileBytes / pageSize);
  const headerPages = header.readUInt32BE(28);
  const valid = headerPages > 0 && header.readUInt32BE(24) === header.readUInt32BE(92);
  return { pageSize, usableSize, pageCount: valid ? Math.min(headerPages, filePages) : filePages };
}

/**
 * Visits every page of the b-tree rooted at `root`, in a fixed order (depth first, cells in order, each cell's
 * overflow chain after its page), calling `visit` with each page number and its bytes.
 * @throws {BtreeShapeError} when a page is out of range, visited twice, of an unexpected type, or out of shape
 */
export function walkBtree(file: BtreeFile, root: number, visit: (pgno: number, page: Buffer) => void): void {
  // One bit per page: a page reached twice is a cycle or two trees sharing a page.
  const seen = Buffer.alloc((file.pageCount >>> 3) + 1);
  const { usableSize: u } = file;
  const take = (pgno: number): Buffer => {
    const bit = 1 << (pgno & 7);
    if (
      !Number.isInteger(pgno) ||
      pgno < 1 ||
      pgno > file.pageCount ||
      (seen.readUInt8(pgno >>> 3) & bit) !== 0
    )
      throw new BtreeShapeError(`page ${pgno} out of range or reached twice`);
    seen.writeUInt8(seen.readUInt8(pgno >>> 3) | bit, pgno >>> 3);
    const page = file.readPage(pgno);
    if (page.length !== file.pageSize) throw new BtreeShapeError(`page ${pgno} is short`);
    return page;
  };
  // Iterative depth-first walk: a stack of interior pages with the next child to take.
  const rootPage = take(root);
  const rootType = rootPage[root === 1 ? 100 : 0];
  const index = rootType === INTERIOR_INDEX || rootType === LEAF_INDEX;
  const stack: { children: number[]; next: number }[] = [];
  const enter = (pgno: number, page: Buffer): void => {
    const { children, overflow } = cellsOf(page, pgno, u, index);
    visit(pgno, page);
    // The overflow pages of this page's cells, chain by chain.
    for (const chain of overflow) {
      let next = chain.first;
      for (let k = 0; k < chain.pages; k++) {
        const o = take(next);
        visit(next, o);
        next = o.readUInt32BE(0);
      }
      if (next !== 0) throw new BtreeShapeError('an overflow chain is longer than its cell');
    }
    if (children.length > 0) stack.push({ children, next: 0 });
  };
  enter(root, rootPage);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top === undefined) break;
    if (top.next >= top.children.length) {
      stack.pop();
      continue;
    }
    if (stack.length > 64) throw new BtreeShapeError('the b-tree is too deep');
    const child = top.children[top.next++] ?? 0;
    enter(child, take(child));
  }
}

/**
 * The child pages and the overflow chains of one b-tree page's cells.
 * @throws {BtreeShapeError} when the page is not of the tree's kind or a cell is out of shape
 */
function cellsOf(
  page: Buffer,
  pgno: number,
  u: number,
  index: boolean,
): { children: number[]; overflow: { first: number; pages: number }[] } {
  const at = pgno === 1 ? 100 : 0;
  const type = page[at];
  const leaf = type === LEAF_INDEX || type === LEAF_TABLE;
  if (index ? type !== INTERIOR_INDEX && type !== LEAF_INDEX : type !== INTERIOR_TABLE && type !== LEAF_TABLE)
    throw new BtreeShapeError(`page ${pgno} is not a page of this b-tree (type ${String(type)})`);
  const cells = page.readUInt16BE(at + 3);
  const headerBytes = leaf ? 8 : 12;
  if (at + headerBytes + 2 * cells > u) throw new BtreeShapeError(`page ${pgno}: too many cells`);
  const children: number[] = [];
  const overflow: { first: number; pages: number }[] = [];
  // The largest payload kept whole on the page (https://sqlite.org/fileformat.html#cell_payload_overflow_pages).
  const fits = index ? Math.floor(((u - 12) * 64) / 255) - 23 : u - 35;
  for (let i = 0; i < cells; i++) {
    const cell = page.readUInt16BE(at + headerBytes + 2 * i);
    if (cell < at + headerBytes + 2 * cells || cell >= u)
      throw new BtreeShapeError(`page ${pgno}: bad cell offset`);
    let p = cell;
    if (!leaf) {
      if (p + 4 > u) throw new BtreeShapeError(`page ${pgno}: cell overruns the page`);
      children.push(page.readUInt32BE(p));
      p += 4;
      if (type === INTERIOR_TABLE) continue; // a key only: no payload
    }
    const payload = readVarint(page, p, u);
    p = varintEnd;
    // Most cells fit on their page: nothing more to read of them. (Their bytes are hashed with the page.)
    if (payload <= fits) continue;
    if (type === LEAF_TABLE) {
      readVarint(page, p, u); // the rowid
      p = varintEnd;
    }
    const spill = overflowOf(payload, u, index);
    if (spill === undefined) continue;
    if (p + spill.local + 4 > u) throw new BtreeShapeError(`page ${pgno}: cell overruns the page`);
    overflow.push({ first: page.readUInt32BE(p + spill.local), pages: spill.pages });
  }
  if (!leaf) children.push(page.readUInt32BE(at + 8));
  return { children, overflow };
}

/**
 * How a cell of `payload` bytes spills: the bytes kept on its page and the number of overflow pages, or `undefined`
 * when it fits (https://sqlite.org/fileformat.html#cell_payload_overflow_pages).
 */
function overflowOf(
  payload: number,
  u: number,
  index: boolean,
): { local: number; pages: number } | undefined {
  const x = index ? Math.floor(((u - 12) * 64) / 255) - 23 : u - 35;
  if (payload <= x) return undefined;
  const m = Math.floor(((u - 12) * 32) / 255) - 23;
  const k = m + ((payload - m) % (u - 4));
  const local = k <= x ? k : m;
  return { local, pages: Math.ceil((payload - local) / (u - 4)) };
}

/** An SQLite varint at `at` (1 to 9 bytes, big-endian): its value (as a number; payload sizes fit); its end in {@link varintEnd}. */
function readVarint(page: Buffer, at: number, limit: number): number {
  let value = 0;
  for (let i = 0; i < 9; i++) {
    if (at + i >= limit) throw new BtreeShapeError('a varint overruns the page');
    const byte = page[at + i] ?? 0;
    if (i === 8) {
      varintEnd = at + 9;
      return value * 256 + byte;
    }
    value = value * 128 + (byte & 0x7f);
    if (byte < 0x80) {
      varintEnd = at + i + 1;
      return value;
    }
  }
  throw new BtreeShapeError('unreachable');
}

/** Where the varint {@link readVarint} read last ends (a module variable: no array per varint, millions per walk). */
let varintEnd = 0;

/**
 * Table page hashes, the proof behind "only export changed tables": a table whose b-tree pages hold the same bytes as
 * when the last export read it, under the same schema, has the same rows, so its section of the archive can be copied
 * from the archive that export wrote instead of being read and encoded again.
 *
 * What proves it, all of which must hold (docs/sync.md):
 * - the hashes are taken inside the export's read transaction, while the database file alone holds the database (no
 *   `-journal`, no `-wal` with frames): the shared lock (rollback journal) or the reader's WAL mark 0 keeps every
 *   writer and checkpointer off the file until the transaction ends, so the bytes hashed are the snapshot exported;
 * - a table's hash covers every page of its b-tree as SQLite reaches them (interior, leaf and overflow pages, each
 *   with its page number: src/sqlite/btree-pages.ts), with the page size, usable size and text encoding;
 * - the table's sqlite_schema entry (name, root page, `CREATE` text) is the same, and so is the writer revision;
 * - the archive copied from is the file that export wrote (inode, size, modification and change times, and its
 *   SHA-256 in the sync state), and the copied section starts with the header line this export would write.
 *
 * Opening and closing the database file in this process would drop SQLite's POSIX locks of this process. So an
 * export that may copy tables, which needs the hashes before it reads anything, reads the pages here through a
 * descriptor that is never closed (src/sqlite/held-file.ts); a full export, which only records them for next time,
 * has a child process read them (page-hash-child.ts) while it reads the rows, and collects the answer after.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, fstatSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hashBtrees } from '../sqlite/btree-hashes.js';
import { heldDescriptor } from '../sqlite/held-file.js';
import { fileURLToPath } from 'node:url';
import type { PageHashRequest, PageHashResult, PageTree } from './page-hash-protocol.js';

/** A database file smaller than this is exported in full every time: the child's start-up would cost more. */
export const TABLE_PAGES_MIN_FILE_BYTES = 4 << 20;

/**
 * The smallest database file whose tables' pages are hashed, or `undefined` when none is: `DB_HYDRATION_TABLE_PAGES`
 * `off` turns table copying off (every changed database is then read in full), `force` (for tests) applies it to
 * databases of any size.
 */
export function tablePagesMinBytes(): number | undefined {
  const mode = process.env.DB_HYDRATION_TABLE_PAGES ?? '';
  if (mode === 'off') return undefined;
  return mode === 'force' ? 0 : TABLE_PAGES_MIN_FILE_BYTES;
}

/** One table of {@link TablePagesRecord}: what its last export read and where it wrote it. */
export interface TablePageEntry {
  readonly name: string;
  readonly root: number;
  readonly sql: string;
  /** SHA-256 of its b-tree's pages (see page-hash-child.ts). */
  readonly pages: string;
  readonly rows: number;
  /** Its section in the archive: the byte offsets of its header line's start and of the end of its closing `]}`. */
  readonly start: number;
  readonly end: number;
  /** SHA-256 of its `objects` lines (indexes, triggers), which its manifest hash covers too (table-hashes.ts). */
  readonly objects: string;
}

/** The page hashes of the tables of the last full or partial export, kept in the sync state (never committed). */
export interface TablePagesRecord {
  readonly writerRevision: number;
  readonly pageSize: number;
  readonly usableSize: number;
  readonly textEncoding: number;
  readonly tables: readonly TablePageEntry[];
}

/**
 * Whether a value read from the sync state has the shape of a {@link TablePagesRecord} (the file is local, but it is
 * a file: anything else is no record, and every table is read).
 */
export function isTablePagesRecord(value: unknown): value is TablePagesRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Partial<Record<keyof TablePagesRecord, unknown>>;
  const count = (n: unknown): boolean => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
  return (
    count(r.writerRevision) &&
    count(r.pageSize) &&
    count(r.usableSize) &&
    count(r.textEncoding) &&
    Array.isArray(r.tables) &&
    r.tables.every((t: unknown) => {
      if (typeof t !== 'object' || t === null) return false;
      const e = t as Partial<Record<keyof TablePageEntry, unknown>>;
      return (
        typeof e.name === 'string' &&
        typeof e.sql === 'string' &&
        typeof e.pages === 'string' &&
        typeof e.objects === 'string' &&
        count(e.root) &&
        count(e.rows) &&
        count(e.start) &&
        count(e.end) &&
        (e.end as number) > (e.start as number)
      );
    })
  );
}

/** Page hashes taken in one snapshot. */
export interface TablePageHashes {
  readonly pageSize: number;
  readonly usableSize: number;
  readonly textEncoding: number;
  /** Table name → hash; a table missing here (out of shape) has no proof. */
  readonly tables: ReadonlyMap<string, string>;
}

/** A running child; {@link PageHashing.wait} collects its answer. */
export class PageHashing {
  private constructor(
    private readonly child: ChildProcess | undefined,
    private readonly requestPath: string,
    private readonly resultPath: string,
    private readonly fileBytes: number,
  ) {}

  /**
   * Starts hashing the pages of `trees` in a child process. `scratch` is a path prefix for its two small files (the
   * archive's temp name: a stale one is removed with the archive's temp files).
   */
  static start(dbPath: string, trees: readonly PageTree[], scratch: string, fileBytes: number): PageHashing {
    const requestPath = `${scratch}.pages-request`;
    const resultPath = `${scratch}.pages-result`;
    const request: PageHashRequest = { dbPath, trees };
    writeFileSync(requestPath, JSON.stringify(request));
    let child: ChildProcess | undefined;
    try {
      const { command, args } = childCommand(requestPath, resultPath);
      child = spawn(command, args, { stdio: 'ignore', env: childEnv() });
      child.on('error', () => undefined); // no answer then: wait() gives up, and nothing is reused
      child.unref();
    } catch {
      child = undefined;
    }
    return new PageHashing(child, requestPath, resultPath, fileBytes);
  }

  /**
   * The child's answer, waiting for it (up to a limit that grows with the file's size); `undefined` when it failed or
   * took too long. Inside the read transaction: the answer is about this snapshot only while it lasts.
   */
  wait(): TablePageHashes | undefined {
    try {
      const pid = this.child?.pid;
      if (pid === undefined) return undefined;
      const deadline = Date.now() + 10_000 + this.fileBytes / 20_000; // 10 s, plus 1 s per 20 MB
      const tick = new Int32Array(new SharedArrayBuffer(4));
      // The event loop is not running (the export is synchronous): the child's exit is seen in /proc, where there is one.
      while (!existsSync(this.resultPath)) {
        if (Date.now() > deadline || hasExited(pid)) {
          if (existsSync(this.resultPath)) break;
          return undefined;
        }
        Atomics.wait(tick, 0, 0, 2);
      }
      return readResult(this.resultPath);
    } finally {
      this.cancel();
    }
  }

  /** Stops the child if it still runs, and removes its files. */
  cancel(): void {
    if (this.child !== undefined && this.child.exitCode === null) this.child.kill();
    rmSync(this.requestPath, { force: true });
    rmSync(this.resultPath, { force: true });
  }
}

/** Whether a child has exited (a zombie, not yet reaped), where /proc tells; elsewhere false (the deadline applies). */
function hasExited(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return process.platform === 'linux';
  }
}

/**
 * Hashes the pages of `trees` now, in this process, through a descriptor that is never closed (src/sqlite/held-file.ts):
 * for an export that needs the answer before it reads anything. `undefined` when the file now at `dbPath` is not the
 * file the export opened (`ino`), or it cannot be read.
 */
export function hashTablePagesNow(
  dbPath: string,
  ino: number,
  trees: readonly PageTree[],
): TablePageHashes | undefined {
  const fd = heldDescriptor(dbPath);
  if (fd === undefined || fstatSync(fd).ino !== ino) return undefined;
  try {
    return toHashes({ ok: true, ...hashBtrees(fd, trees) });
  } catch {
    return undefined;
  }
}

function readResult(path: string): TablePageHashes | undefined {
  let result: PageHashResult;
  try {
    result = JSON.parse(readFileSync(path, 'utf8')) as PageHashResult;
  } catch {
    return undefined;
  }
  return toHashes(result);
}

function toHashes(result: PageHashResult): TablePageHashes | undefined {
  if (!result.ok) return undefined;
  const tables = new Map<string, string>();
  for (const [name, hash] of Object.entries(result.tables))
    if (typeof hash === 'string') tables.set(name, hash);
  return {
    pageSize: result.pageSize,
    usableSize: result.usableSize,
    textEncoding: result.textEncoding,
    tables,
  };
}

/** The child's script, beside this module (TypeScript through tsx when this module runs as TypeScript). */
function childCommand(requestPath: string, resultPath: string): { command: string; args: string[] } {
  const typescript = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(
    new URL(typescript ? './page-hash-child.ts' : './page-hash-child.js', import.meta.url),
  );
  const loader = typescript ? ['--import', import.meta.resolve('tsx')] : [];
  return { command: process.execPath, args: [...loader, script, requestPath, resultPath] };
}

/** The child runs as plain Node even under Electron, and without the parent's debugger or preloads. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ELECTRON_RUN_AS_NODE: '1' };
  delete env.NODE_OPTIONS;
  return env;
}

/**
 * The tables of `record` whose rows are proven unchanged by `hashes` (see the module comment), by name.
 * @param current each table's root page and `CREATE` text now
 */
export function provenUnchanged(
  record: TablePagesRecord,
  hashes: TablePageHashes,
  current: ReadonlyMap<string, { root: number; sql: string }>,
  writerRevision: number,
): Map<string, TablePageEntry> {
  const proven = new Map<string, TablePageEntry>();
  if (
    record.writerRevision !== writerRevision ||
    record.pageSize !== hashes.pageSize ||
    record.usableSize !== hashes.usableSize ||
    record.textEncoding !== hashes.textEncoding
  )
    return proven;
  for (const entry of record.tables) {
    const now = current.get(entry.name);
    if (now === undefined || now.root !== entry.root || now.sql !== entry.sql) continue;
    if (hashes.tables.get(entry.name) === entry.pages) proven.set(entry.name, entry);
  }
  return proven;
}

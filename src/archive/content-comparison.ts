/**
 * An archive's content: its plain bytes without the `exported_at` line, the one line that changes on every export.
 * Two archives with the same content come from databases with the same content (archives are deterministic: tables,
 * rows, keys and objects in a fixed order), so this one rule decides both whether `dehydrate` rewrites an archive
 * ({@link ContentComparison}, fed while the new archive is written) and whether two archive files differ
 * ({@link compareArchives}, used by `status` and `verify`).
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { ArchiveFormatError } from '../errors.js';
import { openArchiveSource } from './archive-file.js';
import type { ByteSource } from './codec.js';
import { EXPORTED_AT_PREFIX } from './format.js';
import { readLines } from './read-lines.js';

/** Where two archives first differ. */
export interface ArchiveDifference {
  /** 1-based line number, counted in the first archive. */
  readonly line: number;
  /** The table whose rows or header differ there; undefined for the file header or footer. */
  readonly table?: string;
}

/** Result of {@link compareArchives}. */
export interface ArchiveComparison {
  readonly same: boolean;
  readonly firstDifference?: ArchiveDifference;
}

/** How far into an archive its `exported_at` line is looked for: it is among the first members of the header. */
const HEAD_BYTES = 4096;
const CHUNK = 1 << 20;

/**
 * Finds the `exported_at` line in the first bytes of an archive.
 * @returns the byte range of the line (its newline included), its 1-based line number and its value
 */
export function findExportedAtLine(
  head: Buffer,
): { start: number; end: number; line: number; value: string | undefined } | undefined {
  const text = head.subarray(0, Math.min(head.length, HEAD_BYTES)).toString('latin1');
  const at = text.indexOf(`\n${EXPORTED_AT_PREFIX}`);
  if (at < 0) return undefined;
  const end = text.indexOf('\n', at + 1);
  if (end < 0) return undefined;
  const member = text.slice(at + 1, end).replace(/,$/, '');
  let value: string | undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(`{${member}}`, 'latin1').toString('utf8'));
    const v = (parsed as { exported_at?: unknown }).exported_at;
    value = typeof v === 'string' ? v : undefined;
  } catch {
    value = undefined;
  }
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i <= at; i = text.indexOf('\n', i + 1)) line++;
  return { start: at + 1, end: end + 1, line, value };
}

/**
 * The content bytes of an archive file, read chunk by chunk. `removedLine` is the line number of the `exported_at`
 * line left out (known after the first read), or undefined when the archive has none: then it is not what this
 * version writes, and its content is all of its bytes.
 */
class ContentSource {
  private readonly source: ByteSource;
  private readonly chunk = Buffer.allocUnsafe(CHUNK);
  private start = 0;
  private end = 0;
  private first = true;
  removedLine: number | undefined;

  /** `onRaw` sees every byte as read, the `exported_at` line included. */
  constructor(
    path: string,
    private readonly onRaw?: (bytes: Buffer) => void,
  ) {
    this.source = openArchiveSource(path);
  }

  /** The next content bytes (valid until the next call), or an empty buffer at the end. */
  next(): Buffer {
    if (this.start === this.end) this.fill();
    const out = this.chunk.subarray(this.start, this.end);
    this.start = this.end;
    return out;
  }

  private fill(): void {
    const n = this.source.read(this.chunk, 0, this.chunk.length);
    if (n > 0) this.onRaw?.(this.chunk.subarray(0, n));
    this.start = 0;
    this.end = n;
    if (!this.first || n === 0) return;
    this.first = false;
    const found = findExportedAtLine(this.chunk.subarray(0, n));
    if (found === undefined) return;
    this.removedLine = found.line;
    // Drop the line: move what precedes it up against what follows.
    this.chunk.copy(this.chunk, found.end - found.start, 0, found.start);
    this.start = found.end - found.start;
  }

  close(): void {
    this.source.close();
  }
}

/**
 * Compares the content of an archive being written with an existing archive's, chunk by chunk as it is written:
 * reading the old file stops at the first difference, so a changed database costs little more than writing, and an
 * unchanged one one read of the old file. The writer feeds it every byte but its own `exported_at` line.
 */
export class ContentComparison {
  private old: ContentSource | undefined;
  private pending: Buffer = Buffer.alloc(0);
  private differs = false;

  constructor(path: string) {
    try {
      this.old = new ContentSource(path);
    } catch {
      this.differs = true;
    }
  }

  /** Compares the next content bytes of the new archive. */
  compare(bytes: Buffer): void {
    let offset = 0;
    while (!this.differs && offset < bytes.length) {
      if (this.pending.length === 0) {
        this.pending = this.readOld();
        if (this.pending.length === 0) {
          this.close();
          return;
        }
      }
      const n = Math.min(bytes.length - offset, this.pending.length);
      if (!bytes.subarray(offset, offset + n).equals(this.pending.subarray(0, n))) {
        this.close();
        return;
      }
      offset += n;
      this.pending = this.pending.subarray(n);
    }
  }

  /** Ends the comparison: true when the old content is exactly what was written (nothing more). */
  finish(): boolean {
    const same = !this.differs && this.pending.length === 0 && this.readOld().length === 0;
    this.close();
    return same;
  }

  /** Stops comparing and closes the old archive; never throws. */
  close(): void {
    this.differs = true;
    const old = this.old;
    this.old = undefined;
    try {
      old?.close();
    } catch {
      // Nothing left to release.
    }
  }

  private readOld(): Buffer {
    const old = this.old;
    if (old === undefined) return Buffer.alloc(0);
    let next: Buffer;
    try {
      next = old.next();
    } catch {
      // An old archive that cannot be read (a damaged compressed file) differs from anything written over it.
      this.close();
      return Buffer.alloc(0);
    }
    // An archive without an `exported_at` line is not what this version writes: it differs.
    if (old.removedLine === undefined) this.differs = true;
    return next;
  }
}

/**
 * The SHA-256 of an archive's content (its plain bytes without the `exported_at` line), streaming: two archives have
 * the same content hash exactly when {@link compareArchives} finds them the same. Sync state records it.
 */
export function archiveContentHash(path: string): string {
  const source = new ContentSource(path);
  const hash = createHash('sha256');
  try {
    for (let bytes = source.next(); bytes.length > 0; bytes = source.next()) hash.update(bytes);
  } finally {
    source.close();
  }
  return hash.digest('hex');
}

/**
 * The two hashes of an archive computed from its plain bytes as some other reader streams them (hydration reads every
 * byte anyway): the SHA-256 of all bytes, and the content hash of {@link archiveContentHash} (the `exported_at`
 * line, found in the first {@link HEAD_BYTES}, left out).
 */
export class ArchiveHasher {
  private readonly full = createHash('sha256');
  private readonly content = createHash('sha256');
  private head: Buffer | undefined = Buffer.alloc(0);

  update(bytes: Buffer): void {
    this.full.update(bytes);
    if (this.head === undefined) {
      this.content.update(bytes);
      return;
    }
    this.head = Buffer.concat([this.head, bytes]);
    if (this.head.length >= HEAD_BYTES) this.flushHead();
  }

  /** The two hashes, once every byte was given. */
  digest(): { sha256: string; contentHash: string } {
    this.flushHead();
    return { sha256: this.full.digest('hex'), contentHash: this.content.digest('hex') };
  }

  private flushHead(): void {
    const head = this.head;
    if (head === undefined) return;
    this.head = undefined;
    const found = findExportedAtLine(head);
    if (found === undefined) this.content.update(head);
    else this.content.update(head.subarray(0, found.start)).update(head.subarray(found.end));
  }
}

/**
 * An archive's content hash (as {@link archiveContentHash}) and the SHA-256 of all its plain bytes, in one read.
 */
export function archiveHashes(path: string): { contentHash: string; sha256: string } {
  const full = createHash('sha256');
  const source = new ContentSource(path, (bytes) => full.update(bytes));
  const hash = createHash('sha256');
  try {
    for (let bytes = source.next(); bytes.length > 0; bytes = source.next()) hash.update(bytes);
  } finally {
    source.close();
  }
  return { contentHash: hash.digest('hex'), sha256: full.digest('hex') };
}

/**
 * Compares two archive files by content (everything but `exported_at`), streaming both.
 * @throws {ArchiveFormatError} when either file is not valid UTF-8 (naming the file and the line)
 */
export function compareArchives(a: string, b: string): ArchiveComparison {
  const left = new ContentSource(a);
  let right: ContentSource | undefined;
  try {
    right = new ContentSource(b);
    const leftText = new Utf8Check(a);
    const rightText = new Utf8Check(b);
    let l: Buffer = Buffer.alloc(0);
    let r: Buffer = Buffer.alloc(0);
    let newlines = 0; // newlines in the left content compared so far
    for (;;) {
      if (l.length === 0) l = leftText.check(left.next());
      if (r.length === 0) r = rightText.check(right.next());
      if (l.length === 0 && r.length === 0) return { same: true };
      const n = Math.min(l.length, r.length);
      let i = 0;
      while (i < n && l[i] === r[i]) i++;
      for (let at = l.indexOf(10); at >= 0 && at < i; at = l.indexOf(10, at + 1)) newlines++;
      if (i < n || n === 0)
        return { same: false, firstDifference: locate(a, newlines + 1, left.removedLine) };
      l = l.subarray(n);
      r = r.subarray(n);
    }
  } finally {
    left.close();
    right?.close();
  }
}

/** The difference at content line `contentLine` of archive `path`: its file line number and the table it is in. */
function locate(path: string, contentLine: number, removedLine: number | undefined): ArchiveDifference {
  const line = removedLine !== undefined && removedLine <= contentLine ? contentLine + 1 : contentLine;
  let table: string | undefined;
  for (const [number, text] of readLines(path)) {
    if (number > line) break;
    table = tableOf(text) ?? (text.startsWith('"sequences"') ? undefined : table);
  }
  return { line, ...(table === undefined ? {} : { table }) };
}

/**
 * Checks that a file's bytes, seen chunk by chunk, are valid UTF-8 (JSON must be): a character cut by a chunk's end
 * is checked with the next chunk. On a bad byte the file is read line by line to name the line.
 */
class Utf8Check {
  private carry = Buffer.alloc(0);

  constructor(private readonly path: string) {}

  /** Checks the next chunk (an empty one at the end of the file) and returns it. */
  check(chunk: Buffer): Buffer {
    const bytes = this.carry.length === 0 ? chunk : Buffer.concat([this.carry, chunk]);
    const cut = chunk.length === 0 ? bytes.length : completeCharacters(bytes);
    if (!isUtf8(bytes.subarray(0, cut))) this.fail();
    this.carry = Buffer.from(bytes.subarray(cut));
    return chunk;
  }

  private fail(): never {
    // The line reader names the first bad line; it throws before reaching the end.
    const lines = readLines(this.path);
    while (lines.next().done !== true);
    throw new ArchiveFormatError('the archive is not valid UTF-8', { file: this.path });
  }
}

/** The length of the longest prefix of `bytes` that does not end inside a UTF-8 character. */
function completeCharacters(bytes: Buffer): number {
  for (let i = bytes.length - 1; i >= Math.max(0, bytes.length - 4); i--) {
    const b = bytes[i] ?? 0;
    if ((b & 0xc0) === 0x80) continue;
    const size = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return i + size > bytes.length ? i : bytes.length;
  }
  return bytes.length;
}

const TABLE_MARK = ': {"schema": ';

/** The table name of a table header line (`"name": {"schema": ...`), else undefined. */
export function tableOf(line: string): string | undefined {
  if (!line.startsWith('"')) return undefined;
  const at = line.indexOf(TABLE_MARK);
  if (at < 0) return undefined;
  try {
    const name: unknown = JSON.parse(line.slice(0, at));
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined;
  }
}

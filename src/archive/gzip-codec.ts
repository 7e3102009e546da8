/**
 * The gzip codec: `<name>.json.gz`, RFC 1952, readable by `gzip -dc` (which prints exactly the plain archive).
 *
 * Writing is deterministic and streams with flat memory: the plain bytes are cut into members of
 * {@link MEMBER_PLAIN_BYTES} (a cut that depends on the bytes only, not on how they were written), and each member is
 * compressed on its own by zlib at level 6, with no file name, mtime 0 and the OS byte set to 3 (Unix) whatever the
 * platform. gzip files may hold several members one after the other; `gzip -dc` prints them concatenated.
 *
 * Reading is synchronous (the exit hook's dehydrate and the readers are): each member's header is parsed here, its
 * deflate data inflated by zlib (which stops at the end of the member and says how much input it used), and its
 * CRC-32 and length checked. A member is inflated whole, so memory stays flat for members of the size this codec
 * writes; a member from another tool (one member for the whole file) is read whole, up to
 * {@link MAX_MEMBER_PLAIN_BYTES}. Damage, truncation and bytes after the last member are errors naming the file.
 */
import { crc32, gzipSync, inflateRawSync } from 'node:zlib';
import { ArchiveFormatError } from '../errors.js';
import type { ArchiveCodec, ByteSink, ByteSource } from './codec.js';

/** Plain bytes per gzip member written: 1 MiB (compression loses well under 1 % to the cuts; 32 KiB window). */
export const MEMBER_PLAIN_BYTES = 1 << 20;
/** The compression level: fixed, so the same archive is the same bytes on every run. */
export const GZIP_LEVEL = 6;
/** The largest member (uncompressed) a reader inflates: it is held in memory whole. */
export const MAX_MEMBER_PLAIN_BYTES = 256 * (1 << 20);
/** The OS byte written in every member header (RFC 1952: 3 = Unix), as GNU gzip writes it on Linux. */
const OS_UNIX = 3;
/** Compressed bytes read at a time (and the first guess of a member's compressed size). */
const READ_BYTES = 2 * (1 << 20);
const HEADER_BYTES = 10;
const TRAILER_BYTES = 8;
const FLAG_HCRC = 2;
const FLAG_EXTRA = 4;
const FLAG_NAME = 8;
const FLAG_COMMENT = 16;

const HINT =
  'the compressed archive is damaged or cut short: restore it from Git (`git checkout -- <file>`), or run `gzip -t` on it to see what gzip makes of it';

/** The gzip codec (`.json.gz`). */
export const GZIP_CODEC: ArchiveCodec = {
  name: 'gzip',
  extension: '.gz',
  decode: (file) => new GzipSource(file),
  encode: (file) => new GzipSink(file),
};

/** One gzip member of `plain`, deterministic: zlib level 6, no name, mtime 0 (zlib's default), OS byte fixed. */
export function gzipMember(plain: Buffer): Buffer {
  const member = gzipSync(plain, { level: GZIP_LEVEL });
  member[9] = OS_UNIX;
  return member;
}

class GzipSink implements ByteSink {
  private readonly pending = Buffer.allocUnsafe(MEMBER_PLAIN_BYTES);
  private used = 0;
  private members = 0;

  constructor(private readonly file: ByteSink) {}

  write(bytes: Buffer): void {
    let offset = 0;
    while (offset < bytes.length) {
      const n = Math.min(bytes.length - offset, this.pending.length - this.used);
      bytes.copy(this.pending, this.used, offset, offset + n);
      this.used += n;
      offset += n;
      if (this.used === this.pending.length) this.flushMember();
    }
  }

  finish(sync: boolean): void {
    // An empty archive is still a gzip file: one empty member.
    if (this.used > 0 || this.members === 0) this.flushMember();
    this.file.finish(sync);
  }

  abort(): void {
    this.file.abort();
  }

  private flushMember(): void {
    this.file.write(gzipMember(this.pending.subarray(0, this.used)));
    this.used = 0;
    this.members++;
  }
}

class GzipSource implements ByteSource {
  readonly path: string | undefined;
  /** Compressed bytes read but not yet used. */
  private input: Buffer = Buffer.alloc(0);
  private eof = false;
  /** The current member's plain bytes, and how many were handed out. */
  private plain: Buffer = Buffer.alloc(0);
  private plainAt = 0;
  private members = 0;

  constructor(private readonly file: ByteSource) {
    this.path = file.path;
  }

  read(into: Buffer, offset: number, length: number): number {
    while (this.plainAt === this.plain.length) {
      if (!this.nextMember()) return 0;
    }
    const n = Math.min(length, this.plain.length - this.plainAt);
    this.plain.copy(into, offset, this.plainAt, this.plainAt + n);
    this.plainAt += n;
    return n;
  }

  close(): void {
    this.file.close();
  }

  /** Inflates the next member into `plain`; false at the end of the file. */
  private nextMember(): boolean {
    this.fill(HEADER_BYTES);
    if (this.input.length === 0 && this.eof) {
      if (this.members === 0) this.fail('the file is empty, not gzip data');
      return false;
    }
    const start = this.headerLength();
    let inflated: { buffer: Buffer; used: number } | undefined;
    while (inflated === undefined) {
      inflated = this.inflate(start);
      if (inflated === undefined) this.fill(this.input.length + Math.max(READ_BYTES, this.input.length));
    }
    const end = start + inflated.used;
    this.fill(end + TRAILER_BYTES);
    if (this.input.length < end + TRAILER_BYTES) this.fail('the file ends inside a member (cut short)');
    const crc = this.input.readUInt32LE(end);
    const size = this.input.readUInt32LE(end + 4);
    if (crc32(inflated.buffer) !== crc || inflated.buffer.length % 2 ** 32 !== size)
      this.fail(`member ${this.members + 1} fails its CRC-32 or length check`);
    this.input = this.input.subarray(end + TRAILER_BYTES);
    this.plain = inflated.buffer;
    this.plainAt = 0;
    this.members++;
    return true;
  }

  /** Inflates the deflate data at `start`; undefined when more input is needed to reach its end. */
  private inflate(start: number): { buffer: Buffer; used: number } | undefined {
    try {
      const { buffer, engine } = inflateRawSync(this.input.subarray(start), {
        info: true,
        maxOutputLength: MAX_MEMBER_PLAIN_BYTES,
      }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
      return { buffer, used: engine.bytesWritten };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === 'Z_BUF_ERROR' && !this.eof) return undefined;
      if (code === 'Z_BUF_ERROR') this.fail('the file ends inside a member (cut short)');
      if (code === 'ERR_BUFFER_TOO_LARGE')
        this.fail(
          `a gzip member is larger than ${MAX_MEMBER_PLAIN_BYTES / (1 << 20)} MiB uncompressed (gzip made by another tool?)`,
          'decompress it (`gzip -d`) and run `db-hydration dehydrate --compress gzip` to rewrite it in members this reader takes',
        );
      this.fail(`the deflate data is damaged (${(error as Error).message})`);
    }
  }

  /** The length of the member header at the start of `input`, after checking it. */
  private headerLength(): number {
    const h = this.input;
    if (h.length < HEADER_BYTES || h[0] !== 0x1f || h[1] !== 0x8b)
      this.fail(
        this.members === 0
          ? 'the file is not gzip data (no gzip header)'
          : `unexpected bytes after gzip member ${this.members}`,
      );
    if (h[2] !== 8) this.fail('the gzip data does not use deflate');
    const flags = h[3] ?? 0;
    let at = HEADER_BYTES;
    if ((flags & FLAG_EXTRA) !== 0) {
      this.fill(at + 2);
      at += 2 + (this.input.length >= at + 2 ? this.input.readUInt16LE(at) : 0);
    }
    if ((flags & FLAG_NAME) !== 0) at = this.skipZeroTerminated(at);
    if ((flags & FLAG_COMMENT) !== 0) at = this.skipZeroTerminated(at);
    if ((flags & FLAG_HCRC) !== 0) at += 2;
    this.fill(at);
    if (this.input.length < at) this.fail('the file ends inside a gzip header');
    return at;
  }

  private skipZeroTerminated(at: number): number {
    for (;;) {
      const zero = this.input.indexOf(0, at);
      if (zero >= 0) return zero + 1;
      if (this.eof) this.fail('the file ends inside a gzip header');
      this.fill(this.input.length + READ_BYTES);
    }
  }

  /** Reads until `input` holds at least `bytes` bytes or the file ends. */
  private fill(bytes: number): void {
    if (this.input.length >= bytes || this.eof) return;
    const chunks = [this.input];
    let total = this.input.length;
    while (total < bytes) {
      const chunk = Buffer.allocUnsafe(Math.max(READ_BYTES, bytes - total));
      const n = this.file.read(chunk, 0, chunk.length);
      if (n === 0) {
        this.eof = true;
        break;
      }
      chunks.push(chunk.subarray(0, n));
      total += n;
    }
    this.input = Buffer.concat(chunks, total);
  }

  private fail(problem: string, hint = HINT): never {
    throw new ArchiveFormatError(`cannot decompress the archive: ${problem}`, {
      ...(this.path === undefined ? {} : { file: this.path }),
      hint,
    });
  }
}

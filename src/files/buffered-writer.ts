/**
 * A synchronous, buffered writer for one temp file. Rows are appended as strings; they reach the disk in large
 * chunks, so memory stays flat and system calls stay few. It also keeps two SHA-256 hashes: of every byte, and of
 * every byte except the parts written with `hashed = false` (the archive's `exported_at` line), which tells whether
 * an archive's content changed.
 */
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';

/** Size of the output buffer: text is encoded straight into it and reaches the disk in chunks of this size. */
const BUFFER_BYTES = 1 << 21;

/**
 * Encodes `text` as UTF-8 into `buf` at `offset` (room is checked by the caller); returns the bytes written. Node's
 * `Buffer#utf8Write` skips the argument parsing of `Buffer#write`, which shows up at one call per row.
 */
const utf8Write: (buf: Buffer, text: string, offset: number) => number =
  typeof (Buffer.prototype as { utf8Write?: unknown }).utf8Write === 'function'
    ? (buf, text, offset) =>
        (buf as unknown as { utf8Write(t: string, o: number): number }).utf8Write(text, offset)
    : (buf, text, offset) => buf.write(text, offset, 'utf8');

export class BufferedWriter {
  private fd: number | undefined;
  private readonly buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  private used = 0;
  private readonly fullHash: Hash = createHash('sha256');
  private readonly contentHash: Hash = createHash('sha256');
  private bytes = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'wx', 0o644);
  }

  /** Appends text. With `hashed = false` it is left out of the content hash. */
  write(text: string, hashed = true): void {
    if (!hashed) {
      this.flush();
      const buf = Buffer.from(text, 'utf8');
      this.fullHash.update(buf);
      this.writeBuffer(buf);
      return;
    }
    // A UTF-16 code unit takes at most 3 bytes in UTF-8, so `3 * length` bytes of room always suffice.
    const worst = text.length * 3;
    if (worst > BUFFER_BYTES - this.used) {
      this.flush();
      if (worst > BUFFER_BYTES) {
        const buf = Buffer.from(text, 'utf8');
        this.fullHash.update(buf);
        this.contentHash.update(buf);
        this.writeBuffer(buf);
        return;
      }
    }
    this.used += utf8Write(this.buffer, text, this.used);
  }

  /** Writes out what is buffered. */
  flush(): void {
    if (this.used === 0) return;
    const buf = this.buffer.subarray(0, this.used);
    this.fullHash.update(buf);
    this.contentHash.update(buf);
    this.writeBuffer(buf);
    this.used = 0;
  }

  /** Flushes, fsyncs and closes. Returns the hex hashes and the size in bytes. */
  finish(): { sha256: string; contentSha256: string; bytes: number } {
    this.flush();
    const fd = this.requireFd();
    fsyncSync(fd);
    closeSync(fd);
    this.fd = undefined;
    return {
      sha256: this.fullHash.digest('hex'),
      contentSha256: this.contentHash.digest('hex'),
      bytes: this.bytes,
    };
  }

  /** Closes and deletes the temp file. Safe to call more than once. */
  abort(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // Already closed by a failed write; the file is removed below either way.
      }
      this.fd = undefined;
    }
    rmSync(this.path, { force: true });
  }

  private writeBuffer(buf: Buffer): void {
    const fd = this.requireFd();
    let offset = 0;
    while (offset < buf.length) offset += writeSync(fd, buf, offset, buf.length - offset);
    this.bytes += buf.length;
  }

  private requireFd(): number {
    if (this.fd === undefined) throw new Error(`${this.path} is already closed`);
    return this.fd;
  }
}

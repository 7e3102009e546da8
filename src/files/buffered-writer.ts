/**
 * A synchronous, buffered writer for one temp file. Rows are appended as strings; they reach the disk in large
 * chunks, so memory stays flat and system calls stay few. It also keeps two SHA-256 hashes: of every byte, and of
 * every byte except the parts written with `hashed = false` (the archive's `exported_at` line), which tells whether
 * an archive's content changed.
 */
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';

const FLUSH_AT = 1 << 20;

export class BufferedWriter {
  private fd: number | undefined;
  private pending: string[] = [];
  private pendingLength = 0;
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
    this.pending.push(text);
    this.pendingLength += text.length;
    if (this.pendingLength >= FLUSH_AT) this.flush();
  }

  /** Writes out what is buffered. */
  flush(): void {
    if (this.pending.length === 0) return;
    const buf = Buffer.from(this.pending.join(''), 'utf8');
    this.pending = [];
    this.pendingLength = 0;
    this.fullHash.update(buf);
    this.contentHash.update(buf);
    this.writeBuffer(buf);
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

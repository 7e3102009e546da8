/**
 * A synchronous, buffered writer for one temp archive file (or a part file of one), through the byte seam. Rows are appended as strings; they reach the disk in large
 * chunks, so memory stays flat and system calls stay few. It keeps the SHA-256 of every byte, and hands every byte
 * except the parts written with `hashed = false` (the archive's `exported_at` line) to an optional content listener,
 * which tells whether an archive's content changed. The hash covers the plain bytes (the file's bytes with the identity
 * codec).
 */
import { createHash } from 'node:crypto';
import { ThreadHash, type ByteHash } from './hash-thread.js';
import { createArchiveSink, openArchiveSource, readPlainRange } from './archive-file.js';
import { rmSync } from 'node:fs';
import { IDENTITY_CODEC, type ArchiveCodec, type ByteSink } from './codec.js';

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
  private sink: ByteSink | undefined;
  private readonly buffer: Buffer;
  private used = 0;
  private readonly fullHash: ByteHash | undefined;
  private readonly onContent: ((chunk: Buffer) => void) | undefined;
  private bytes = 0;

  /**
   * @param options.hashed keep the hash of every byte (default true); a part file that is appended to another writer
   *   later needs none
   * @param options.onContent receives the content bytes (all but those written with `hashed = false`), in order, in
   *   chunks valid only during the call
   * @param options.buffer the output buffer to use (at least 64 KiB), so that a series of files can share one: a
   *   buffer is memory outside V8's heap, freed only by a full garbage collection
   * @param options.codec the codec of the archive being written (a temp name does not show it); default identity
   * @param options.target the archive the file becomes, named by encryption errors (default `path`)
   */
  constructor(
    readonly path: string,
    options: {
      readonly hashed?: boolean;
      readonly onContent?: (chunk: Buffer) => void;
      readonly buffer?: Buffer;
      readonly codec?: ArchiveCodec;
      readonly target?: string;
      /** Hash the bytes on a worker thread (a large file whose writer's thread is busy: see hash-thread.ts). */
      readonly hashOnThread?: boolean;
    } = {},
  ) {
    this.buffer = options.buffer ?? Buffer.allocUnsafe(BUFFER_BYTES);
    this.fullHash =
      (options.hashed ?? true)
        ? options.hashOnThread === true
          ? new ThreadHash()
          : createHash('sha256')
        : undefined;
    this.onContent = options.onContent;
    this.sink = createArchiveSink(path, options.codec ?? IDENTITY_CODEC, options.target ?? path);
  }

  /** Appends the whole content of another file (a part written by {@link BufferedWriter} without hashes). */
  appendFile(path: string): void {
    this.flush();
    const part = openArchiveSource(path, IDENTITY_CODEC);
    try {
      for (;;) {
        const n = part.read(this.buffer, 0, this.buffer.length);
        if (n === 0) break;
        this.used = n;
        this.flush();
      }
    } finally {
      this.used = 0;
      part.close();
    }
  }

  /** Plain bytes written so far (the offset in the plain archive where the next write lands). */
  get position(): number {
    return this.bytes + this.used;
  }

  /**
   * Appends bytes `start` to `end` of a plain file (a section of an existing archive). `check` sees the first chunk
   * before anything is written, and may throw to refuse it.
   * @throws {Error} when the file is shorter than `end`
   */
  appendRange(path: string, start: number, end: number, check: (first: Buffer) => void): void {
    this.flush();
    let first = true;
    try {
      readPlainRange(path, { start, end }, this.buffer, (chunk) => {
        if (first) check(chunk);
        first = false;
        this.used = chunk.length;
        this.flush();
      });
    } finally {
      this.used = 0;
    }
  }

  /** Appends text. With `hashed = false` it is left out of the content hash. */
  write(text: string, hashed = true): void {
    if (!hashed) {
      this.flush();
      const buf = Buffer.from(text, 'utf8');
      this.fullHash?.update(buf);
      this.writeBuffer(buf);
      return;
    }
    // A UTF-16 code unit takes at most 3 bytes in UTF-8, so `3 * length` bytes of room always suffice.
    const worst = text.length * 3;
    if (worst > this.buffer.length - this.used) {
      this.flush();
      if (worst > this.buffer.length) {
        const buf = Buffer.from(text, 'utf8');
        this.fullHash?.update(buf);
        this.onContent?.(buf);
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
    this.fullHash?.update(buf);
    this.onContent?.(buf);
    this.writeBuffer(buf);
    this.used = 0;
  }

  /**
   * Flushes, fsyncs (unless `sync` is false: a part file that is copied elsewhere) and closes. Returns the hex hash
   * (an empty string if not kept) and the size in bytes.
   */
  finish(sync = true): { sha256: string; bytes: number } {
    this.flush();
    this.requireSink().finish(sync);
    this.sink = undefined;
    return { sha256: this.fullHash?.digest('hex') ?? '', bytes: this.bytes };
  }

  /** Closes and deletes the temp file. Safe to call more than once. */
  abort(): void {
    if (this.fullHash instanceof ThreadHash) this.fullHash.abort();
    const sink = this.sink;
    this.sink = undefined;
    if (sink === undefined) rmSync(this.path, { force: true });
    else sink.abort();
  }

  private writeBuffer(buf: Buffer): void {
    this.requireSink().write(buf);
    this.bytes += buf.length;
  }

  private requireSink(): ByteSink {
    if (this.sink === undefined) throw new Error(`${this.path} is already closed`);
    return this.sink;
  }
}

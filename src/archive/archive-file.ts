/**
 * The byte seam: the only module that opens archive files. Readers get the archive's plain bytes as a
 * {@link ByteSource}, writers a {@link ByteSink} that creates a new file; both go through the file's codec
 * ({@link codecForFileName}), so a compressed or encrypted archive is read and written by the same code above this.
 * An ESLint rule (`no-restricted-imports` in eslint.config.js) keeps every other module of `src/` from opening files
 * itself, except the few that open databases, the config or the manifest.
 *
 * Everything here is synchronous: the exit handler's `dehydrateAllSync` cannot wait for a promise, and synchronous
 * reads in large chunks are the fastest way through a file in Node.
 */
import {
  closeSync,
  constants,
  copyFileSync,
  createReadStream,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import {
  codecForFileName,
  GZIP_CODEC,
  IDENTITY_CODEC,
  type ArchiveCodec,
  type ByteSink,
  type ByteSource,
} from './codec.js';
import { isEncryptedCodec } from './age-codec.js';
import { recipientsFor, useRecipients } from './keys.js';
import { tempPathFor } from '../files/atomic-file.js';
import { ARCHIVE_EXTENSION } from './naming.js';
import { ArchiveEncryptionError } from '../errors.js';

/**
 * The codec of an archive file: from its name ({@link codecForFileName}); a name without a codec's ending (a temp
 * file git hands a merge or diff driver) is gzip when the file starts with gzip's magic bytes, which no plain archive
 * does (JSON text cannot start with byte 0x1f). Encrypted archives are never sniffed: the merge driver copies them
 * under their repository name first (merge-encrypted.ts).
 */
export function codecOfFile(path: string): ArchiveCodec {
  const byName = codecForFileName(basename(path));
  if (byName !== IDENTITY_CODEC) return byName;
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const magic = Buffer.alloc(2);
    const n = readSync(fd, magic, 0, 2, 0);
    return n === 2 && magic[0] === 0x1f && magic[1] === 0x8b ? GZIP_CODEC : IDENTITY_CODEC;
  } catch {
    return IDENTITY_CODEC; // opening it again reports why it cannot be read
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Opens an archive (or an archive part file) for reading its plain bytes. */
export function openArchiveSource(path: string, codec: ArchiveCodec = codecOfFile(path)): ByteSource {
  const raw = rawSource(openSync(path, 'r'), path);
  let source: ByteSource;
  try {
    source = codec.decode(raw);
  } catch (error) {
    raw.close();
    throw namingFile(error, path);
  }
  if (codec === IDENTITY_CODEC) return source;
  // A large encrypted archive is decrypted as it is read: an error at a later chunk names the file too.
  return {
    read: (into, offset, length) => {
      try {
        return source.read(into, offset, length);
      } catch (error) {
        throw namingFile(error, path);
      }
    },
    close: () => {
      source.close();
    },
  };
}

/**
 * The codec to write an archive path with: the one its name ends with, and for an encrypted archive the recipients set
 * for that path (keys.ts `useRecipients`).
 */
export function codecForArchivePath(path: string): ArchiveCodec {
  const codec = codecForFileName(basename(path));
  return isEncryptedCodec(codec) ? codec.withKeys(recipientsFor(path)) : codec;
}

/**
 * A temp file's path for writing (or rewriting) the archive at `target`: `tempPathFor(target)` plus `tag`, and for an
 * archive with a codec (`.json.gz`, `.json.age`) that codec's ending again (with the target's recipients), so the
 * temp file is written and read back through the same codec (an encrypted archive's temp file is encrypted too).
 * Temp names start with a dot: they are never taken for archives, and the next run's stale-file cleanup removes them.
 */
export function tempArchivePath(target: string, tag = ''): string {
  const name = basename(target);
  const codec = codecForFileName(name);
  if (codec === IDENTITY_CODEC) return `${tempPathFor(target)}${tag}`;
  const path = `${tempPathFor(target)}${tag}${ARCHIVE_EXTENSION}${codec.extension}`;
  if (isEncryptedCodec(codec)) useRecipients(path, recipientsFor(target));
  return path;
}

/** An encryption error that does not name its file yet, naming `path`. */
function namingFile(error: unknown, path: string): unknown {
  if (!(error instanceof ArchiveEncryptionError) || error.file !== undefined) return error;
  const message = error.message;
  return new ArchiveEncryptionError(message, { file: path, hint: error.hint, cause: error.cause });
}

/**
 * Creates a new archive file (it must not exist: temp names are unique) and returns the sink for its plain bytes.
 * The file is created with mode 0644, as `git checkout` would.
 */
export function createArchiveSink(
  path: string,
  codec: ArchiveCodec = codecForArchivePath(path),
  /** The file an encryption error names (the archive a temp file becomes); default `path`. */
  named: string = path,
): ByteSink {
  const sink = codec.encode(rawSink(path, openSync(path, 'wx', 0o644)));
  return {
    write: (bytes) => {
      try {
        sink.write(bytes);
      } catch (error) {
        throw namingFile(error, named);
      }
    },
    finish: (sync) => {
      try {
        sink.finish(sync);
      } catch (error) {
        throw namingFile(error, named);
      }
    },
    abort: () => {
      sink.abort();
    },
  };
}

/**
 * Decrypts an encrypted archive (authenticating it whole; the plaintext stays in memory) and does nothing for a plain
 * one: for callers that must refuse a tampered or undecryptable archive before they write anything.
 * @throws ArchiveEncryptionError naming the file when it cannot be decrypted
 */
export function authenticateArchive(path: string): void {
  if (!isEncryptedCodec(codecForFileName(basename(path)))) return;
  // Read to the end: a large archive is decrypted (and authenticated) as it is read.
  const source = openArchiveSource(path);
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    while (source.read(buf, 0, buf.length) > 0);
  } finally {
    source.close();
  }
}

/** Reads at most `maxBytes` plain bytes from the start of an archive (for sniffing its layout and header). */
export function readArchivePrefix(path: string, maxBytes: number): Buffer {
  const source = openArchiveSource(path);
  try {
    const buf = Buffer.alloc(maxBytes);
    let used = 0;
    while (used < maxBytes) {
      const n = source.read(buf, used, maxBytes - used);
      if (n === 0) break;
      used += n;
    }
    return buf.subarray(0, used);
  } finally {
    source.close();
  }
}

/**
 * Reads a whole archive's plain bytes, refusing one larger than `maxBytes` (for archives that must be parsed whole).
 * @returns the bytes, or `undefined` when there are more than `maxBytes`
 */
export function readWholeArchive(path: string, maxBytes: number): Buffer | undefined {
  const source = openArchiveSource(path);
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(1 << 20, maxBytes + 1 - total));
      if (chunk.length === 0) return undefined;
      const n = source.read(chunk, 0, chunk.length);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > maxBytes) return undefined;
    }
    return Buffer.concat(chunks, total);
  } finally {
    source.close();
  }
}

/** SHA-256 and size of an archive file as stored (its codec's bytes, which the manifest's checksum covers). */
export function hashArchiveFile(path: string): { sha256: string; bytes: number } {
  const hash = createHash('sha256');
  const source = rawSource(openSync(path, 'r'));
  const chunk = Buffer.allocUnsafe(1 << 20);
  let bytes = 0;
  try {
    for (;;) {
      const n = source.read(chunk, 0, chunk.length);
      if (n === 0) break;
      hash.update(chunk.subarray(0, n));
      bytes += n;
    }
  } finally {
    source.close();
  }
  return { sha256: hash.digest('hex'), bytes };
}

/**
 * Writes the plain bytes of archive `from` (read through its codec) into `to`, a new file, through `codec`; fsyncs
 * it. Streams: memory stays flat. On failure `to` is removed.
 */
export function transcodeArchive(from: string, to: string, codec: ArchiveCodec): void {
  const source = openArchiveSource(from);
  try {
    const sink = createArchiveSink(to, codec);
    try {
      const chunk = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const n = source.read(chunk, 0, chunk.length);
        if (n === 0) break;
        sink.write(chunk.subarray(0, n));
      }
      sink.finish(true);
    } catch (error) {
      sink.abort();
      throw error;
    }
  } finally {
    source.close();
  }
}

/** Size in bytes of an archive file as stored. */
export function archiveFileBytes(path: string): number {
  const fd = openSync(path, 'r');
  try {
    return fstatSync(fd).size;
  } finally {
    closeSync(fd);
  }
}

/** Copies an archive file's bytes as stored into `to`, a new file, and fsyncs it. */
export function copyArchiveFile(from: string, to: string): void {
  copyFileSync(from, to, constants.COPYFILE_EXCL);
  const fd = openSync(to, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function rawSource(fd: number, path?: string): ByteSource {
  let open = true;
  return {
    path,
    read: (into, offset, length) => readSync(fd, into, offset, length, null),
    close: () => {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

function rawSink(path: string, fd: number): ByteSink {
  let open = true;
  const close = (): void => {
    if (!open) return;
    open = false;
    closeSync(fd);
  };
  return {
    write: (bytes) => {
      let offset = 0;
      while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
    },
    finish: (sync) => {
      if (sync) fsyncSync(fd);
      close();
    },
    abort: () => {
      try {
        close();
      } catch {
        // Already closed by a failed write; the file is removed below either way.
      }
      rmSync(path, { force: true });
    },
  };
}

/**
 * An archive file's bytes as stored (no codec), as a stream: what a remote store uploads.
 * @returns the stream and the file's size in bytes, taken from the opened file
 */
export function archiveFileStream(path: string): { stream: Readable; bytes: number } {
  const fd = openSync(path, 'r');
  let bytes: number;
  try {
    bytes = fstatSync(fd).size;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
  return { stream: createReadStream(path, { fd, autoClose: true }), bytes };
}

/**
 * Writes bytes received (a download) into `path`, a new file, hashing them on the way, and fsyncs it. The file is
 * removed again when the chunks fail midway.
 * @returns the SHA-256 (hex) and size of what was written
 */
export async function receiveArchiveFile(
  chunks: AsyncIterable<Uint8Array>,
  path: string,
): Promise<{ sha256: string; bytes: number }> {
  const fd = openSync(path, 'wx');
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of chunks) {
      hash.update(chunk);
      let done = 0;
      while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done);
      bytes += chunk.length;
    }
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw error;
  }
  closeSync(fd);
  return { sha256: hash.digest('hex'), bytes };
}

/**
 * Reads bytes `start` to `end` of a plain archive file (a table's section) into `buffer`, a chunk at a time, handing
 * each chunk to `onChunk` (valid only during the call). Random access needs the plain bytes: other codecs are refused.
 * @throws {Error} when the file is not plain or ends before `end`
 */
export function readPlainRange(
  path: string,
  range: { readonly start: number; readonly end: number },
  buffer: Buffer,
  onChunk: (chunk: Buffer) => void,
): void {
  if (codecForArchivePath(path) !== IDENTITY_CODEC) throw new Error(`${path} is not a plain archive`);
  const fd = openSync(path, 'r');
  try {
    for (let at = Math.max(0, range.start); at < range.end;) {
      const n = readSync(fd, buffer, 0, Math.min(buffer.length, range.end - at), at);
      if (n === 0) throw new Error(`${path} ends before byte ${range.end}`);
      onChunk(buffer.subarray(0, n));
      at += n;
    }
  } finally {
    closeSync(fd);
  }
}

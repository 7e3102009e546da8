/**
 * The codec seam: how an archive's plain bytes (the JSON text of docs/archive-format.md) become the bytes of its
 * file, and back. A codec wraps the raw file's byte source and sink; everything above it (the line reader, the
 * writer, the comparison) sees plain bytes only. The identity codec writes `<name>.json`, the gzip codec
 * (src/archive/gzip-codec.ts) `<name>.json.gz`, the age layer (src/archive/age-codec.ts) encrypts either one
 * (`<name>.json.age`, `<name>.json.gz.age`); {@link codecForFileName} chooses by the file's ending.
 */
import { AgeCodec } from './age-codec.js';
import { GZIP_CODEC } from './gzip-codec.js';

export { GZIP_CODEC };

/** Plain bytes, read chunk by chunk. */
export interface ByteSource {
  /** Reads up to `length` bytes into `into` at `offset`; returns how many, 0 at the end. */
  read(into: Buffer, offset: number, length: number): number;
  /** Releases the file; safe to call more than once. */
  close(): void;
  /** The file's path, when known (for messages about its bytes). */
  readonly path?: string | undefined;
}

/** Plain bytes, written chunk by chunk into a new file. */
export interface ByteSink {
  /** Writes all of `bytes` (the buffer may be reused by the caller once this returns). */
  write(bytes: Buffer): void;
  /** Ends the file: writes what the codec still holds, fsyncs (unless `sync` is false) and closes. */
  finish(sync: boolean): void;
  /** Closes and deletes the unfinished file; safe to call more than once and after a failed write. */
  abort(): void;
}

/** A transformation between an archive's plain bytes and its file's bytes. */
export interface ArchiveCodec {
  /** The name recorded for it (manifest, messages): `identity`, `gzip`. */
  readonly name: string;
  /** What the codec adds to the archive's file name after `.json`: `''` for identity, `.gz` for gzip. */
  readonly extension: string;
  /** Plain bytes from the file's bytes. */
  decode(file: ByteSource): ByteSource;
  /** A sink taking plain bytes and writing the file's bytes into `file`. */
  encode(file: ByteSink): ByteSink;
}

/** The archive is stored as its plain JSON text. */
export const IDENTITY_CODEC: ArchiveCodec = {
  name: 'identity',
  extension: '',
  decode: (file) => file,
  encode: (file) => file,
};

/** Plain JSON text encrypted with age (`.json.age`, age-codec.ts): a layer over the identity codec. */
export const AGE_CODEC: AgeCodec = new AgeCodec(IDENTITY_CODEC);

/** Gzip'd JSON text encrypted with age (`.json.gz.age`): compressed first, as compressing ciphertext gains nothing. */
export const GZIP_AGE_CODEC: AgeCodec = new AgeCodec(GZIP_CODEC);

/** Every codec this version knows, the identity codec first. */
export const CODECS: readonly ArchiveCodec[] = [IDENTITY_CODEC, GZIP_CODEC, AGE_CODEC, GZIP_AGE_CODEC];

/**
 * The codec of an archive file, from its name: the longest codec extension after `.json` that the name ends with
 * (`shop.json` → identity).
 */
export function codecForFileName(fileName: string): ArchiveCodec {
  let best = IDENTITY_CODEC;
  for (const codec of CODECS) {
    if (codec.extension.length > best.extension.length && fileName.endsWith(`.json${codec.extension}`))
      best = codec;
  }
  return best;
}

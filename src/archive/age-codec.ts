/**
 * The age layer of the codec seam: an archive file `<name>.json.age` (or `.json.gz.age` over a compressing codec) is
 * the inner codec's bytes encrypted in the age format (age-encryption.org/v1), by the `age-encryption` library
 * (age-sync.ts). The file decrypts with the `age` command-line tool into exactly the inner codec's bytes, and a file
 * encrypted by `age` reads.
 *
 * Fail closed: a file is decrypted whole, in memory, before a byte of it is handed up; a wrong key, a flipped bit,
 * a truncation (also at a chunk boundary) or reordered chunks fail the whole file, so nothing above ever parses
 * unauthenticated bytes. Writing collects the plain bytes in memory and encrypts them when the file is finished, so no
 * plaintext reaches the disk. Memory: an encrypted archive costs its plain and encrypted size while it is read or
 * written (up to {@link MAX_ENCRYPTED_BYTES}).
 */
import { createHash } from 'node:crypto';
import { ArchiveEncryptionError } from '../errors.js';
import {
  AgeFailure,
  AgeWorkerStopped,
  ageDecryptStream,
  ageDecryptSync,
  ageEncryptStream,
  ageEncryptSync,
  type AgeEncryption,
  type AgeDecryptKeys,
  type AgeEncryptKeys,
} from './age-sync.js';
import { currentKeyRing, decryptionKeys, encryptKeysFor, type EncryptTarget } from './keys.js';
import type { ArchiveCodec, ByteSink, ByteSource } from './codec.js';

/** The largest encrypted archive read or written (it is held whole in memory). */
export const MAX_ENCRYPTED_BYTES = 1 << 30;

/** The file extension the age layer adds. */
export const AGE_EXTENSION = '.age';

/** The last plaintext decrypted, by the hash of its file and keys: a command often reads one archive several times. */
let lastDecrypted: { key: string; plain: Buffer } | undefined;
/** Plaintexts up to this size are kept for the next read. */
const CACHE_MAX_BYTES = 64 << 20;
/** Encrypted archives up to this size are decrypted and encrypted whole (unless DB_HYDRATION_AGE_MEMORY_BYTES). */
const WHOLE_MAX_BYTES = 16 << 20;

/** An age layer over an inner codec; `keys` are what it encrypts to: recipients or a passphrase (to write only). */
export class AgeCodec implements ArchiveCodec {
  readonly name: string;
  readonly extension: string;

  constructor(
    readonly inner: ArchiveCodec,
    readonly keys?: EncryptTarget,
  ) {
    this.name = inner.extension === '' ? 'age' : `${inner.name}+age`;
    this.extension = `${inner.extension}${AGE_EXTENSION}`;
  }

  /** The same layer, encrypting to `keys`. */
  withKeys(keys: EncryptTarget | undefined): AgeCodec {
    return new AgeCodec(this.inner, keys);
  }

  decode(file: ByteSource): ByteSource {
    let head: Buffer[];
    let whole: boolean;
    try {
      ({ head, whole } = readHead(file, memoryBytes()));
      if (whole) {
        file.close();
        return this.inner.decode(memorySource(decryptWhole(Buffer.concat(head))));
      }
    } catch (error) {
      file.close();
      throw error;
    }
    return this.inner.decode(decryptingSource(file, head));
  }

  encode(file: ByteSink): ByteSink {
    const target = this.keys;
    if (target === undefined || (target.recipients.length === 0 && target.passphrase === undefined)) {
      file.abort();
      throw new ArchiveEncryptionError('no recipients are configured to encrypt this archive to', {
        hint: 'set "encrypt": { "recipients": ["age1…"] } in the config, or pass --recipient age1…',
      });
    }
    return this.inner.encode(encryptingSink(file, target));
  }
}

/** Whether a codec has the age layer. */
export function isEncryptedCodec(codec: ArchiveCodec): codec is AgeCodec {
  return codec instanceof AgeCodec;
}

/**
 * Encrypted archives up to this many bytes are decrypted and encrypted whole in memory (and the last one decrypted is
 * kept for the next read); larger ones stream through the age library a chunk at a time. 16 MiB, or the value of
 * `DB_HYDRATION_AGE_MEMORY_BYTES` (at least 4 KiB).
 */
export function memoryBytes(): number {
  const value = process.env.DB_HYDRATION_AGE_MEMORY_BYTES;
  // At least the start of any age header, which tells whether the file is encrypted to a passphrase.
  const bytes = value !== undefined && /^\d+$/.test(value) ? Number(value) : WHOLE_MAX_BYTES;
  return Math.max(4096, Math.min(bytes, MAX_ENCRYPTED_BYTES));
}

/** Reads up to `limit` + 1 bytes: all of a file that small (`whole`), else the start of a larger one. */
function readHead(file: ByteSource, limit: number): { head: Buffer[]; whole: boolean } {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(Math.min(1 << 20, limit + 1 - total));
    const n = file.read(chunk, 0, chunk.length);
    if (n === 0) return { head: chunks, whole: true };
    chunks.push(chunk.subarray(0, n));
    total += n;
    if (total > limit) return { head: chunks, whole: false };
  }
}

/**
 * The plaintext of a large archive, decrypted as it is read. Each chunk is authenticated before its bytes are handed
 * up, and the end is reported only once the last chunk authenticated: a damaged, truncated or reordered file fails the
 * read at its first bad chunk, so whatever was built from the earlier ones is never finished (and never renamed into
 * place).
 */
function decryptingSource(file: ByteSource, head: Buffer[]): ByteSource {
  const keys = keysFor(head[0] ?? Buffer.alloc(0));
  const stream = ageDecryptStream(keys, (into) => {
    const first = head[0];
    if (first !== undefined) {
      const n = Math.min(into.length, first.length);
      first.copy(into, 0, 0, n);
      if (n === first.length) head.shift();
      else head[0] = first.subarray(n);
      return n;
    }
    return file.read(into, 0, into.length);
  });
  let current: Buffer = Buffer.alloc(0);
  let at = 0;
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    stream.cancel();
    file.close();
  };
  return {
    read: (into, offset, length) => {
      while (at === current.length) {
        let next: Buffer | undefined;
        try {
          next = stream.next();
        } catch (error) {
          close();
          throw decryptionError(error, keys);
        }
        if (next === undefined) return 0;
        current = next;
        at = 0;
      }
      const n = Math.min(length, current.length - at);
      current.copy(into, offset, at, at + n);
      at += n;
      return n;
    },
    close,
  };
}

/** Whether an age file is encrypted with a passphrase: its header's first stanza is scrypt (then the only one). */
export function isPassphraseEncrypted(head: Uint8Array): boolean {
  const text = Buffer.from(head.subarray(0, 256)).toString('latin1');
  return /^age-encryption\.org\/v1\n-> scrypt /.test(text);
}

/** The keys to decrypt `cipher` with: a passphrase (known, or asked for) for a scrypt file, else the identities. */
function keysFor(cipher: Buffer): AgeDecryptKeys {
  if (isPassphraseEncrypted(cipher)) {
    return { identities: [], passphrases: [currentKeyRing().passphraseFor({ purpose: 'decrypt' })] };
  }
  const keys = decryptionKeys();
  if (keys.identities.length === 0 && keys.passphrases.length === 0) {
    throw new ArchiveEncryptionError('the archive is encrypted and no identity or passphrase was given', {
      hint: 'give the identity that decrypts it: --identity FILE or DB_HYDRATION_AGE_IDENTITY=FILE',
    });
  }
  return keys;
}

function decryptWhole(cipher: Buffer): Buffer {
  const keys = keysFor(cipher);
  const key = createHash('sha256')
    .update(cipher)
    .update(JSON.stringify([keys.identities, keys.passphrases]))
    .digest('hex');
  if (lastDecrypted?.key === key) return lastDecrypted.plain;
  let plain: Buffer;
  try {
    plain = ageDecryptSync(cipher, keys);
  } catch (error) {
    throw decryptionError(error, keys);
  }
  lastDecrypted = plain.length <= CACHE_MAX_BYTES ? { key, plain } : undefined;
  return plain;
}

/** A decryption's failure, said for a reader (the age library's message inside). */
function decryptionError(error: unknown, keys: AgeDecryptKeys): unknown {
  if (!(error instanceof AgeFailure)) return error;
  if (error instanceof AgeWorkerStopped) return workerStopped(error);
  if (/no identity matched/i.test(error.message))
    for (const p of keys.passphrases) currentKeyRing().rejectPassphrase(p);
  return new ArchiveEncryptionError(`cannot decrypt the archive: ${describeFailure(error.message)}`, {
    cause: error,
  });
}

/** An encryption's failure, said for a reader. */
function encryptionError(error: unknown): unknown {
  if (!(error instanceof AgeFailure)) return error;
  if (error instanceof AgeWorkerStopped) return workerStopped(error);
  return new ArchiveEncryptionError(`cannot encrypt the archive: ${error.message}`, {
    cause: error,
    hint: 'check the recipients (age1…) in the config or on the command line',
  });
}

/** The worker thread running the age library stopped mid-request: nothing was decrypted or written. */
function workerStopped(error: AgeWorkerStopped): ArchiveEncryptionError {
  return new ArchiveEncryptionError(`${error.message}; nothing was written`, {
    cause: error,
    hint: `run the command again; an archive near ${MAX_ENCRYPTED_BYTES} bytes may need more memory (node --max-old-space-size)`,
  });
}

/** The age library's message, said for a reader of the error. */
function describeFailure(message: string): string {
  if (/no identity matched/i.test(message))
    return 'none of the given identities or passphrases is one it was encrypted to';
  if (/invalid tag|stream|chunk|truncat|header|mac|last/i.test(message))
    return `the file is damaged, truncated or was changed (${message})`;
  return message;
}

function memorySource(plain: Buffer): ByteSource {
  let at = 0;
  return {
    read: (into, offset, length) => {
      const n = Math.min(length, plain.length - at);
      plain.copy(into, offset, at, at + n);
      at += n;
      return n;
    },
    close: () => undefined,
  };
}

/**
 * Collects the plain bytes and encrypts them when the file is finished; a passphrase from the key ring is had (or
 * asked for) only then, so an archive found unchanged (aborted, never finished) asks for nothing. Past
 * {@link memoryBytes} the collected bytes go to a stream, and the rest as it comes: memory stays flat (the passphrase
 * is then had when the stream begins).
 */
function encryptingSink(file: ByteSink, target: EncryptTarget): ByteSink {
  let chunks: Buffer[] = [];
  let total = 0;
  let stream: AgeEncryption | undefined;
  const limit = memoryBytes();
  const failed = (error: unknown): unknown => {
    stream?.cancel();
    stream = undefined;
    chunks = [];
    file.abort();
    return encryptionError(error);
  };
  return {
    write: (bytes) => {
      try {
        if (stream !== undefined) {
          stream.write(bytes);
          return;
        }
        chunks.push(Buffer.from(bytes));
        total += bytes.length;
        if (total <= limit) return;
        const s = ageEncryptStream(encryptKeysFor(target), (cipher) => {
          file.write(cipher);
        });
        stream = s;
        for (const chunk of chunks) s.write(chunk);
        chunks = [];
      } catch (error) {
        throw failed(error);
      }
    },
    finish: (sync) => {
      try {
        if (stream !== undefined) {
          stream.end();
        } else {
          const keys: AgeEncryptKeys = encryptKeysFor(target);
          const cipher = ageEncryptSync(Buffer.concat(chunks, total), keys);
          chunks = [];
          file.write(cipher);
        }
      } catch (error) {
        throw failed(error);
      }
      file.finish(sync);
    },
    abort: () => {
      stream?.cancel();
      stream = undefined;
      chunks = [];
      file.abort();
    },
  };
}

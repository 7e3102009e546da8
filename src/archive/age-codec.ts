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
  ageDecryptSync,
  ageEncryptSync,
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
    let plain: Buffer;
    try {
      plain = decryptWhole(readAll(file));
    } finally {
      file.close();
    }
    return this.inner.decode(memorySource(plain));
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

function readAll(file: ByteSource): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const chunk = Buffer.allocUnsafe(1 << 20);
    const n = file.read(chunk, 0, chunk.length);
    if (n === 0) break;
    chunks.push(chunk.subarray(0, n));
    total += n;
    if (total > MAX_ENCRYPTED_BYTES) {
      throw new ArchiveEncryptionError(
        `the encrypted archive is larger than ${MAX_ENCRYPTED_BYTES} bytes, the most that is decrypted in memory`,
        { hint: 'decrypt it with `age -d`, or keep an archive this large unencrypted' },
      );
    }
  }
  return Buffer.concat(chunks, total);
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
    if (!(error instanceof AgeFailure)) throw error;
    if (error instanceof AgeWorkerStopped) throw workerStopped(error);
    if (/no identity matched/i.test(error.message))
      for (const p of keys.passphrases) currentKeyRing().rejectPassphrase(p);
    throw new ArchiveEncryptionError(`cannot decrypt the archive: ${describeFailure(error.message)}`, {
      cause: error,
    });
  }
  lastDecrypted = plain.length <= CACHE_MAX_BYTES ? { key, plain } : undefined;
  return plain;
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
 * asked for) only then, so an archive found unchanged (aborted, never finished) asks for nothing.
 */
function encryptingSink(file: ByteSink, target: EncryptTarget): ByteSink {
  const chunks: Buffer[] = [];
  let total = 0;
  return {
    write: (bytes) => {
      total += bytes.length;
      if (total > MAX_ENCRYPTED_BYTES) {
        throw new ArchiveEncryptionError(
          `the archive is larger than ${MAX_ENCRYPTED_BYTES} bytes, the most that is encrypted in memory`,
          { hint: 'keep an archive this large unencrypted' },
        );
      }
      chunks.push(Buffer.from(bytes));
    },
    finish: (sync) => {
      let cipher: Buffer;
      try {
        const keys: AgeEncryptKeys = encryptKeysFor(target);
        cipher = ageEncryptSync(Buffer.concat(chunks, total), keys);
      } catch (error) {
        file.abort();
        if (!(error instanceof AgeFailure)) throw error;
        if (error instanceof AgeWorkerStopped) throw workerStopped(error);
        throw new ArchiveEncryptionError(`cannot encrypt the archive: ${error.message}`, {
          cause: error,
          hint: 'check the recipients (age1…) in the config or on the command line',
        });
      }
      chunks.length = 0;
      file.write(cipher);
      file.finish(sync);
    },
    abort: () => {
      chunks.length = 0;
      file.abort();
    },
  };
}

/**
 * Re-encrypting every encrypted archive to a new set of recipients (a person added or removed): each archive is
 * decrypted whole, encrypted again to the new recipients into a temp file beside it, and renamed over it. The
 * plaintext is not changed (nor written anywhere); the manifest's checksum and size and the sync state follow.
 */
import { basename } from 'node:path';
import { ArchiveEncryptionError, toErrorDetail, type ErrorDetail } from '../errors.js';
import { AGE_CODEC } from '../archive/codec.js';
import { isEncryptedCodec, MAX_ENCRYPTED_BYTES } from '../archive/age-codec.js';
import { codecForFileName } from '../archive/codec.js';
import { createArchiveSink, hashArchiveFile, readWholeArchive } from '../archive/archive-file.js';
import { peekHeader, targetFileName } from '../archive/archive-header.js';
import { commitTempFile, tempPathFor } from '../files/atomic-file.js';
import { readManifest, writeManifest } from '../manifest/manifest.js';
import { recordRekey } from '../sync/sync-state.js';
import type { ManagerContext } from './types.js';

/** Options of {@link DBHydrationManager.rekey}. */
export interface RekeyOptions {
  /** Encrypt every encrypted archive to these recipients (default: each database's configured recipients). */
  readonly recipients?: readonly string[];
}

/** One archive {@link DBHydrationManager.rekey} rewrote. */
export interface RekeyedArchive {
  readonly fileName: string;
  readonly archivePath: string;
  /** How many recipients it is now encrypted to. */
  readonly recipients: number;
  /** SHA-256 of the new file. */
  readonly sha256: string;
}

/** Result of {@link DBHydrationManager.rekey}. */
export interface RekeyResult {
  /** The archives rewritten, in order. Plain archives are not touched. */
  readonly archives: readonly RekeyedArchive[];
  readonly errors: readonly string[];
  readonly errorDetails: readonly ErrorDetail[];
  /** Whether manifest.json was rewritten. */
  readonly manifestChanged: boolean;
}

/** Re-encrypts every encrypted archive of `ctx`; `configured` gives a database's configured recipients. */
export function rekeyAll(
  ctx: ManagerContext,
  configured: (fileName: string) => readonly string[] | undefined,
  options: RekeyOptions = {},
): RekeyResult {
  const archives: RekeyedArchive[] = [];
  const errorDetails: ErrorDetail[] = [];
  const manifest = readManifest(ctx.manifestPath);
  const entries = { ...(manifest?.databases ?? {}) };
  for (const archivePath of ctx.listArchives()) {
    if (!isEncryptedCodec(codecForFileName(basename(archivePath)))) continue;
    try {
      const fileName = targetFileName(peekHeader(archivePath), archivePath);
      const recipients = options.recipients ?? configured(fileName);
      if (recipients === undefined || recipients.length === 0) {
        throw new ArchiveEncryptionError('no recipients are configured to re-encrypt this archive to', {
          file: archivePath,
          hint: 'pass --recipient age1… (repeatable), or set "encrypt": { "recipients": [...] } in the config',
        });
      }
      const rewritten = rekeyOne(ctx, fileName, archivePath, recipients);
      archives.push(rewritten);
      const entry = entries[fileName];
      if (entry !== undefined)
        entries[fileName] = { ...entry, sha256: rewritten.sha256, bytes: hashArchiveFile(archivePath).bytes };
    } catch (error) {
      errorDetails.push(toErrorDetail(error, { file: archivePath }));
    }
  }
  const manifestChanged =
    manifest !== undefined &&
    archives.length > 0 &&
    writeManifest(ctx.manifestPath, { ...manifest, databases: entries });
  return { archives, errors: errorDetails.map((e) => e.message), errorDetails, manifestChanged };
}

function rekeyOne(
  ctx: ManagerContext,
  fileName: string,
  archivePath: string,
  recipients: readonly string[],
): RekeyedArchive {
  const plain = readWholeArchive(archivePath, MAX_ENCRYPTED_BYTES);
  if (plain === undefined) {
    throw new ArchiveEncryptionError(`the archive is larger than ${MAX_ENCRYPTED_BYTES} bytes`, {
      file: archivePath,
    });
  }
  const old = hashArchiveFile(archivePath).sha256;
  const codec = codecForFileName(basename(archivePath));
  const keyed = (isEncryptedCodec(codec) ? codec : AGE_CODEC).withKeys({ recipients });
  const temp = tempPathFor(archivePath);
  const sink = createArchiveSink(temp, keyed);
  try {
    sink.write(plain);
    sink.finish(true);
  } catch (error) {
    sink.abort();
    throw error;
  }
  commitTempFile(temp, archivePath);
  recordRekey(ctx.dataDir, fileName, archivePath, old);
  return {
    fileName,
    archivePath,
    recipients: recipients.length,
    sha256: hashArchiveFile(archivePath).sha256,
  };
}

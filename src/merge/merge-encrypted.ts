/**
 * The three-way merge of encrypted archives (`.json.age`), as git's merge driver runs it: git hands the driver temp
 * files without the archive's name (`.merge_file_XXXXXX`), so each side's stored bytes are copied into a private
 * scratch directory under the archive's own file name, merged there (decrypted in memory through the byte seam,
 * never written in plaintext), and the merged archive, encrypted to the archive's recipients, replaces OURS.
 * Without an identity that decrypts the sides, nothing is written: OURS stays as git gave it, and git records a
 * conflict.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { copyArchiveFile } from '../archive/archive-file.js';
import { useRecipients } from '../archive/keys.js';
import { commitTempFile, tempPathFor } from '../files/atomic-file.js';
import { mergeArchives } from './merge-archives.js';
import type { MergeArchivesOptions, MergeResult } from './merge-types.js';

/** Options of {@link mergeEncryptedArchives}: those of `mergeArchives`, plus the archive's name and recipients. */
export interface MergeEncryptedOptions extends MergeArchivesOptions {
  /** The archive's file name in the repository (git's `%P`), e.g. `shop.json.age`: it names the codec. */
  readonly archiveFileName: string;
  /** The recipients (`age1…`) the merged archive is encrypted to. */
  readonly recipients: readonly string[];
  /**
   * Encrypt the merged archive to the passphrase instead (`encrypt: { passphrase: true }`): the one of the key ring
   * in use (`DB_HYDRATION_AGE_PASSPHRASE`, or its provider); `recipients` must then be empty.
   */
  readonly passphrase?: true;
}

/**
 * Merges encrypted archives given under any names into `output` (which may be `ours`).
 * @throws {ArchiveEncryptionError} when a side cannot be decrypted or the result cannot be encrypted; `output` is
 *   then left as it was
 */
export function mergeEncryptedArchives(options: MergeEncryptedOptions): MergeResult {
  const dir = mkdtempSync(join(tmpdir(), 'db-hydration-merge-'));
  try {
    const name = basename(options.archiveFileName);
    const side = (label: string, path: string): string => {
      const copy = join(dir, `${label}.${name}`);
      if (existsSync(path)) copyArchiveFile(path, copy);
      return copy;
    };
    const merged = join(dir, `merged.${name}`);
    useRecipients(
      merged,
      options.passphrase === true ? { recipients: [], passphrase: true } : { recipients: options.recipients },
    );
    const result = mergeArchives({
      ...options,
      base: side('base', options.base),
      ours: side('ours', options.ours),
      theirs: side('theirs', options.theirs),
      output: merged,
    });
    const temp = tempPathFor(options.output);
    copyArchiveFile(merged, temp);
    commitTempFile(temp, options.output);
    return result;
  } finally {
    useRecipients(join(dir, `merged.${basename(options.archiveFileName)}`), undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

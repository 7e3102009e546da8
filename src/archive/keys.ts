/**
 * The keys of encrypted archives, for the process: the identities and passphrases that decrypt (private, never
 * written anywhere by db-hydration), and per archive the recipients it is encrypted to (public, from the config).
 *
 * Decryption keys are the ones last set with {@link useDecryptionKeys} (a {@link DBHydrationManager} sets them from its
 * options), plus, always, the identity file named by `DB_HYDRATION_AGE_IDENTITY` and the passphrase in
 * `DB_HYDRATION_AGE_PASSPHRASE`. Recipients are set per archive path by whoever writes it.
 */
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ArchiveEncryptionError } from '../errors.js';
import { ageGenerateSync, type AgeDecryptKeys, type AgeEncryptKeys } from './age-sync.js';

/** Environment variable holding the path of an age identity file. */
export const IDENTITY_ENV = 'DB_HYDRATION_AGE_IDENTITY';
/** Environment variable holding a passphrase (scrypt) for encrypted archives. */
export const PASSPHRASE_ENV = 'DB_HYDRATION_AGE_PASSPHRASE';

/** What decrypts archives: identity files, identities given inline, a passphrase. */
export interface DecryptionKeys {
  /** Paths of age identity files (as `age-keygen` writes them). */
  readonly identityFiles?: readonly string[] | undefined;
  /** Identities (`AGE-SECRET-KEY-1…`) given directly. */
  readonly identities?: readonly string[] | undefined;
  readonly passphrase?: string | undefined;
}

let current: { identities: string[]; passphrases: string[] } = { identities: [], passphrases: [] };
const recipientsByArchive = new Map<string, AgeEncryptKeys>();
/** A key made for this process only (in memory, never written), for scratch copies of encrypted archives. */
let ephemeral: { identity: string; recipient: string } | undefined;

/** Sets the process's decryption keys (replacing those set before); identity files are read now. */
export function useDecryptionKeys(keys: DecryptionKeys): void {
  current = {
    identities: [
      ...(keys.identities ?? []),
      ...(keys.identityFiles ?? []).flatMap((f) => readIdentityFile(f)),
    ],
    passphrases: keys.passphrase === undefined ? [] : [keys.passphrase],
  };
}

/** The keys to decrypt with now: those set with {@link useDecryptionKeys}, then the environment's. */
export function decryptionKeys(): AgeDecryptKeys {
  const identities = [...current.identities, ...(ephemeral === undefined ? [] : [ephemeral.identity])];
  const passphrases = [...current.passphrases];
  const file = process.env[IDENTITY_ENV];
  if (file !== undefined && file !== '') identities.push(...readIdentityFile(file, IDENTITY_ENV));
  const passphrase = process.env[PASSPHRASE_ENV];
  if (passphrase !== undefined && passphrase !== '') passphrases.push(passphrase);
  return { identities, passphrases };
}

/** Whether any decryption key is available (set, or in the environment). */
export function hasDecryptionKeys(): boolean {
  const keys = decryptionKeys();
  return keys.identities.length > 0 || keys.passphrases.length > 0;
}

/** Sets (or with `undefined` clears) the recipients an archive path is encrypted to. */
export function useRecipients(archivePath: string, keys: AgeEncryptKeys | undefined): void {
  if (keys === undefined) recipientsByArchive.delete(resolve(archivePath));
  else recipientsByArchive.set(resolve(archivePath), keys);
}

/** The recipients set for an archive path, if any. */
export function recipientsFor(archivePath: string): AgeEncryptKeys | undefined {
  return recipientsByArchive.get(resolve(archivePath));
}

/**
 * A scratch archive's path in `dir` for the archive at `archivePath` (`prefix` + its file name), with the same codec:
 * a scratch copy of an encrypted database is encrypted too. A scratch copy that only this process reads
 * (`output: false`) is encrypted to a key made for the process, held in memory only; one that becomes the archive
 * (`output: true`) to the archive's recipients.
 */
export function scratchArchivePath(
  dir: string,
  archivePath: string,
  options: { readonly prefix?: string; readonly output?: boolean } = {},
): string {
  const path = join(dir, `${options.prefix ?? ''}${basename(archivePath)}`);
  if (options.output === true) {
    useRecipients(path, recipientsFor(archivePath));
  } else if (basename(archivePath).endsWith('.age')) {
    ephemeral ??= ageGenerateSync();
    useRecipients(path, { recipients: [ephemeral.recipient] });
  }
  return path;
}

/**
 * The identities of an age identity file: its `AGE-SECRET-KEY-1…` lines; `#` comments and blank lines are skipped.
 * @throws ArchiveEncryptionError when the file cannot be read or holds anything else
 */
export function readIdentityFile(path: string, source?: string): string[] {
  const from = source === undefined ? path : `${path} (from ${source})`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ArchiveEncryptionError(`cannot read the identity file ${from}`, {
      file: path,
      cause: error,
      hint: 'give the path of a file written by `age-keygen -o FILE`',
    });
  }
  const identities: string[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!/^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$/.test(line)) {
      throw new ArchiveEncryptionError(
        `the identity file ${from} has something other than an age identity on line ${index + 1}`,
        { file: path, hint: 'an identity file holds AGE-SECRET-KEY-1… lines, as `age-keygen` writes them' },
      );
    }
    identities.push(line);
  }
  if (identities.length === 0) {
    throw new ArchiveEncryptionError(`the identity file ${from} holds no identity`, {
      file: path,
      hint: 'an identity file holds AGE-SECRET-KEY-1… lines, as `age-keygen` writes them',
    });
  }
  return identities;
}

/** Whether a string looks like an age recipient (`age1…`, bech32); the age library checks it fully when used. */
export function isAgeRecipient(value: string): boolean {
  return /^age1[02-9ac-hj-np-z]{20,}$/.test(value);
}

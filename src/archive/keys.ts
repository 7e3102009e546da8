/**
 * The keys of encrypted archives: the identities and passphrases that decrypt (private, never written anywhere by
 * db-hydration), and per archive what it is encrypted to (public, from the config: recipients, or a passphrase).
 *
 * Keys belong to a {@link KeyRing}: each {@link DBHydrationManager} has its own, and its operations run in it
 * ({@link withKeyRing}, an `AsyncLocalStorage`), so two managers with different identities work side by side in one
 * process. Outside any operation (git's drivers, which have no manager) the process's ring is used, set with
 * {@link useDecryptionKeys}. Every ring adds, always, the identity file named by `DB_HYDRATION_AGE_IDENTITY` and the
 * passphrase in `DB_HYDRATION_AGE_PASSPHRASE`.
 *
 * A passphrase is a value or a {@link PassphraseProvider}: a callback asked (once per ring) only when a passphrase is
 * needed and the environment has none; the CLI's provider prompts on the terminal. The library itself never prompts.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ArchiveEncryptionError } from '../errors.js';
import { ageGenerateSync, type AgeDecryptKeys, type AgeEncryptKeys } from './age-sync.js';

/** Environment variable holding the path of an age identity file. */
export const IDENTITY_ENV = 'DB_HYDRATION_AGE_IDENTITY';
/** Environment variable holding a passphrase (scrypt) for encrypted archives. */
export const PASSPHRASE_ENV = 'DB_HYDRATION_AGE_PASSPHRASE';

/** Why a passphrase is asked for: to decrypt an archive encrypted with one, or to encrypt one (then confirm it). */
export interface PassphraseRequest {
  readonly purpose: 'decrypt' | 'encrypt';
}

/**
 * Gives the passphrase when one is needed and `DB_HYDRATION_AGE_PASSPHRASE` is not set; called at most once per
 * manager (the answer is kept in memory for its later operations). It is synchronous, as archives are read and
 * written synchronously; throw to refuse (the operation then fails with that error).
 */
export type PassphraseProvider = (request: PassphraseRequest) => string;

/** What decrypts archives: identity files, identities given inline, a passphrase (or who to ask for it). */
export interface DecryptionKeys {
  /** Paths of age identity files (as `age-keygen` writes them). */
  readonly identityFiles?: readonly string[] | undefined;
  /** Identities (`AGE-SECRET-KEY-1…`) given directly. */
  readonly identities?: readonly string[] | undefined;
  readonly passphrase?: string | PassphraseProvider | undefined;
}

/**
 * What an archive is encrypted to: recipients (`age1…`), or a passphrase (scrypt; age allows no other recipient
 * beside one). `passphrase: true` takes the key ring's passphrase when the archive is written.
 */
export interface EncryptTarget {
  readonly recipients: readonly string[];
  readonly passphrase?: string | true | undefined;
}

/** The keys of one manager (or of the process): what decrypts, and what each archive path is encrypted to. */
export class KeyRing {
  private identities: string[] = [];
  private passphrase: string | undefined;
  private provider: PassphraseProvider | undefined;
  /** The passphrase the provider gave, and whether it failed to decrypt an archive. */
  private asked: { passphrase: string; rejected: boolean } | undefined;
  /** What the provider threw, if it did: it is not asked again. */
  private refusal: Error | undefined;
  private readonly targets = new Map<string, EncryptTarget>();

  constructor(keys: DecryptionKeys = {}) {
    this.set(keys);
  }

  /** Replaces the decryption keys; identity files are read now. */
  set(keys: DecryptionKeys): void {
    this.identities = [
      ...(keys.identities ?? []),
      ...(keys.identityFiles ?? []).flatMap((f) => readIdentityFile(f)),
    ];
    this.passphrase = typeof keys.passphrase === 'string' ? keys.passphrase : undefined;
    this.provider = typeof keys.passphrase === 'function' ? keys.passphrase : undefined;
    this.asked = undefined;
    this.refusal = undefined;
  }

  /** The identities to decrypt with: this ring's, the environment's, the process's scratch key. */
  identitiesNow(): string[] {
    const identities = [...this.identities, ...(ephemeral === undefined ? [] : [ephemeral.identity])];
    const file = process.env[IDENTITY_ENV];
    if (file !== undefined && file !== '') identities.push(...readIdentityFile(file, IDENTITY_ENV));
    return identities;
  }

  /** The passphrase given as a value or in the environment, without asking anyone. */
  knownPassphrase(): string | undefined {
    if (this.passphrase !== undefined) return this.passphrase;
    const env = process.env[PASSPHRASE_ENV];
    if (env !== undefined && env !== '') return env;
    return this.asked?.passphrase;
  }

  /** Whether a passphrase could be had (given, in the environment, or from the provider). */
  canGetPassphrase(): boolean {
    return this.knownPassphrase() !== undefined || this.provider !== undefined;
  }

  /**
   * The passphrase for `request`: the known one, else the provider's answer (asked once, unless prompting is off).
   * @throws ArchiveEncryptionError when there is none, or (to encrypt) the one given failed to decrypt an archive
   */
  passphraseFor(request: PassphraseRequest): string {
    const known = this.knownPassphrase();
    if (known !== undefined) {
      if (request.purpose === 'encrypt' && this.asked?.rejected === true && known === this.asked.passphrase) {
        throw new ArchiveEncryptionError(
          'the passphrase given did not decrypt another archive, so nothing is encrypted with it',
          { hint: 'run the command again and check the passphrase' },
        );
      }
      return known;
    }
    if (this.provider === undefined || noPrompting.getStore() === true) {
      throw new ArchiveEncryptionError(
        request.purpose === 'encrypt'
          ? 'the archive is to be encrypted with a passphrase and none was given'
          : 'the archive is encrypted with a passphrase and none was given',
        { hint: `set ${PASSPHRASE_ENV}, or run db-hydration in a terminal to be asked for it` },
      );
    }
    // Asked once: a refusal (a cancelled prompt) stands for the rest of the operation's archives too.
    if (this.refusal !== undefined) throw this.refusal;
    let passphrase: string;
    try {
      passphrase = this.provider(request);
      if (typeof passphrase !== 'string' || passphrase === '') {
        throw new ArchiveEncryptionError('no passphrase was given', {
          hint: `type the passphrase when asked, or set ${PASSPHRASE_ENV}`,
        });
      }
    } catch (error) {
      this.refusal = error instanceof Error ? error : new ArchiveEncryptionError(String(error));
      throw this.refusal;
    }
    this.asked = { passphrase, rejected: false };
    return passphrase;
  }

  /** Records that a passphrase failed to decrypt an archive (one from the provider is then not encrypted with). */
  rejectPassphrase(passphrase: string): void {
    if (this.asked?.passphrase === passphrase) this.asked.rejected = true;
  }

  /** Sets (or with `undefined` clears) what an archive path is encrypted to. */
  setTarget(archivePath: string, target: EncryptTarget | undefined): void {
    if (target === undefined) this.targets.delete(resolve(archivePath));
    else this.targets.set(resolve(archivePath), target);
  }

  /** What an archive path is encrypted to, if set. */
  targetOf(archivePath: string): EncryptTarget | undefined {
    return this.targets.get(resolve(archivePath));
  }
}

/** The process's ring: used outside every manager's operations. */
let processRing = new KeyRing();
const storage = new AsyncLocalStorage<KeyRing>();
const noPrompting = new AsyncLocalStorage<boolean>();
/** A key made for this process only (in memory, never written), for scratch copies of encrypted archives. */
let ephemeral: { identity: string; recipient: string } | undefined;

/**
 * Makes `ring` the process's (the CLI runs one command, of one manager, per process: its code outside the manager's
 * operations then has the manager's keys too).
 */
export function useProcessKeyRing(ring: KeyRing): void {
  processRing = ring;
}

/** Runs `fn` (synchronous or async) with `ring`'s keys: a manager's operations run in its own ring. */
export function withKeyRing<T>(ring: KeyRing, fn: () => T): T {
  return storage.run(ring, fn);
}

/** The ring of the running operation, or the process's. */
export function currentKeyRing(): KeyRing {
  return storage.getStore() ?? processRing;
}

/** Runs `fn` without asking a passphrase provider: a passphrase is then only the known one. */
export function withoutPrompting<T>(fn: () => T): T {
  return noPrompting.run(true, fn);
}

/** Sets the decryption keys of the current ring (outside an operation: the process's), replacing those set before. */
export function useDecryptionKeys(keys: DecryptionKeys): void {
  currentKeyRing().set(keys);
}

/** The identities to decrypt with now, and the passphrase when it is known without asking. */
export function decryptionKeys(): AgeDecryptKeys {
  const ring = currentKeyRing();
  const passphrase = ring.knownPassphrase();
  return { identities: ring.identitiesNow(), passphrases: passphrase === undefined ? [] : [passphrase] };
}

/** Whether any decryption key is available (set, in the environment, or a passphrase provider). */
export function hasDecryptionKeys(): boolean {
  const ring = currentKeyRing();
  return ring.identitiesNow().length > 0 || ring.canGetPassphrase();
}

/** Sets (or with `undefined` clears) what an archive path is encrypted to, in the current ring. */
export function useRecipients(archivePath: string, keys: EncryptTarget | undefined): void {
  currentKeyRing().setTarget(archivePath, keys);
}

/** What an archive path is encrypted to in the current ring, if set. */
export function recipientsFor(archivePath: string): EncryptTarget | undefined {
  return currentKeyRing().targetOf(archivePath);
}

/** An {@link EncryptTarget} made concrete for the age library: a `passphrase: true` is the ring's passphrase now. */
export function encryptKeysFor(target: EncryptTarget): AgeEncryptKeys {
  if (target.passphrase === undefined) return { recipients: target.recipients };
  const passphrase =
    target.passphrase === true ? currentKeyRing().passphraseFor({ purpose: 'encrypt' }) : target.passphrase;
  return { recipients: [], passphrase };
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

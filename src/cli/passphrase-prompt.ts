/**
 * The CLI's passphrase provider: asks on the terminal, with echo off, when a passphrase is needed (an archive
 * encrypted with one, or a database configured with `encrypt: { passphrase: true }`) and
 * `DB_HYDRATION_AGE_PASSPHRASE` is not set. The library never prompts; it calls this provider (keys.ts).
 *
 * Archives are read and written synchronously, so the prompt is too: it opens the controlling terminal
 * (`/dev/tty`), switches echo, line editing and signals off with `stty` (saving the settings first and restoring them
 * whatever happens), and reads the key presses itself: Enter ends the passphrase, Backspace deletes, Ctrl-U clears,
 * Ctrl-C or Ctrl-D (on an empty line) cancels. Nothing typed is ever shown.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { ArchiveEncryptionError } from '../errors.js';
import { PASSPHRASE_ENV, type PassphraseProvider } from '../archive/keys.js';

/**
 * A provider that asks on the terminal, or `undefined` when stdin or stderr is not a terminal (then a needed
 * passphrase is an error naming {@link PASSPHRASE_ENV}). `beforeAsking` runs first (it clears progress bars).
 */
export function terminalPassphraseProvider(beforeAsking: () => void): PassphraseProvider | undefined {
  if (process.platform === 'win32' || !isatty(0) || !isatty(2)) return undefined;
  return (request) => {
    beforeAsking();
    if (request.purpose === 'decrypt') return ask('Passphrase of the encrypted archives: ');
    const first = ask('Passphrase to encrypt the archives with: ');
    const again = ask('The same passphrase again: ');
    if (first !== again) {
      throw new ArchiveEncryptionError('the two passphrases typed differ, so nothing was encrypted', {
        hint: `run the command again and type the same passphrase twice (or set ${PASSPHRASE_ENV})`,
      });
    }
    return first;
  };
}

/** Asks for one line on the terminal with echo off. */
function ask(prompt: string): string {
  let fd: number;
  try {
    fd = openSync('/dev/tty', 'r+');
  } catch (error) {
    throw new ArchiveEncryptionError('cannot open the terminal to ask for the passphrase', {
      cause: error,
      hint: `set ${PASSPHRASE_ENV}`,
    });
  }
  let saved: string | undefined;
  try {
    saved = stty(fd, ['-g']).trim();
    stty(fd, ['-echo', '-icanon', '-isig', 'min', '1', 'time', '0']);
    writeSync(fd, prompt);
    return readLine(fd);
  } finally {
    try {
      if (saved !== undefined) stty(fd, [saved]);
      writeSync(fd, '\n');
    } finally {
      closeSync(fd);
    }
  }
}

function stty(fd: number, args: readonly string[]): string {
  try {
    return execFileSync('stty', args, { stdio: [fd, 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (error) {
    throw new ArchiveEncryptionError('cannot switch off the terminal echo to ask for the passphrase', {
      cause: error,
      hint: `set ${PASSPHRASE_ENV}`,
    });
  }
}

/** Reads key presses up to Enter; the passphrase's bytes never leave this function but as its result. */
function readLine(fd: number): string {
  const typed: number[] = [];
  const buf = Buffer.alloc(64);
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n === 0) throw cancelled();
    for (const byte of buf.subarray(0, n)) {
      if (byte === 0x0d || byte === 0x0a) {
        const text = Buffer.from(typed).toString('utf8');
        typed.fill(0);
        return text;
      }
      if (byte === 0x03 || (byte === 0x04 && typed.length === 0)) throw cancelled();
      if (byte === 0x7f || byte === 0x08) {
        // One character back: its UTF-8 continuation bytes (10xxxxxx), then its first byte.
        while (typed.length > 0 && ((typed.at(-1) ?? 0) & 0xc0) === 0x80) typed.pop();
        typed.pop();
      } else if (byte === 0x15) {
        typed.length = 0;
      } else if (byte >= 0x20 || byte === 0x09) {
        typed.push(byte);
      }
    }
    buf.fill(0);
  }
}

function cancelled(): ArchiveEncryptionError {
  return new ArchiveEncryptionError('no passphrase was given (the prompt was cancelled)', {
    hint: `run the command again and type the passphrase, or set ${PASSPHRASE_ENV}`,
  });
}

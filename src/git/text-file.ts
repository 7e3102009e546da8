/** The small text files of a repository's setup (`.gitattributes`, `.gitignore`, hooks): read whole, written atomically. */
import { chmodSync, readFileSync, rmSync, statSync } from 'node:fs';
import { GitError } from '../errors.js';
import { writeFileAtomic } from '../files/atomic-file.js';

/**
 * A file's text, or `undefined` when it does not exist.
 * @throws {GitError} when the file is not UTF-8 (it is left as it is: rewriting it could not keep its bytes)
 */
export function readText(path: string): string | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes))
    throw new GitError('the file is not UTF-8 text, so it was left as it is', {
      file: path,
      hint: 'convert it to UTF-8, or add the lines by hand (see docs/git.md)',
    });
  return text;
}

/**
 * Makes the file hold `text` (`undefined`: no file), keeping the mode of an existing file (a new one gets `mode`).
 * Returns whether anything changed; a file that already holds the text is not touched.
 */
export function writeText(path: string, text: string | undefined, mode?: number): boolean {
  const current = readText(path);
  if (current === text) return false;
  if (text === undefined) {
    rmSync(path, { force: true });
    return true;
  }
  const oldMode = current === undefined ? mode : statSync(path).mode & 0o7777;
  writeFileAtomic(path, text);
  if (oldMode !== undefined) chmodSync(path, oldMode);
  return true;
}

/** A private temp directory for work whose results are compared and thrown away (status, verify). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Runs `fn` with a fresh temp directory and removes the directory afterwards, whatever happens.
 * @param parent where to make it (default the system's temp directory)
 */
export async function withScratchDir<T>(
  fn: (dir: string) => T | Promise<T>,
  parent: string = tmpdir(),
): Promise<T> {
  const dir = mkdtempSync(join(parent, 'db-hydration-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

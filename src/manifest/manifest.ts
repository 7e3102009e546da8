/**
 * The manifest: `<archiveDir>/manifest.json`, in the seed's Manifest Format, extended with each archive's SHA-256,
 * size and export time. It is rewritten only when something other than its `timestamp` changed.
 */
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { writeFileAtomic } from '../files/atomic-file.js';

/** One database's entry (snake_case: this is on-disk JSON). */
export interface ManifestEntry {
  readonly archive_path: string;
  readonly tables_exported: number;
  readonly total_rows: number;
  readonly sha256: string;
  readonly bytes: number;
  readonly exported_at: string;
}

/** The manifest file's content. */
export interface Manifest {
  readonly timestamp: string;
  readonly databases: Readonly<Record<string, ManifestEntry>>;
  readonly total_tables: number;
  readonly total_rows: number;
  readonly errors: readonly string[];
}

/** Reads a manifest, or `undefined` when there is none or it is not a manifest. */
export function readManifest(path: string): Manifest | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const m = parsed as Partial<Record<keyof Manifest, unknown>>;
    // A manifest edited by hand or by a merge is not trusted in part: anything off and it counts as none (the next
    // dehydrate writes a correct one).
    if (!isObject(m.databases) || typeof m.timestamp !== 'string') return undefined;
    if (!Object.values(m.databases).every(isEntry)) return undefined;
    return m as Manifest;
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** The seed's entry fields, and db-hydration's own where present (a seed-shaped manifest has none of them). */
function isEntry(value: unknown): value is ManifestEntry {
  return (
    isObject(value) &&
    typeof value.archive_path === 'string' &&
    isCount(value.tables_exported) &&
    isCount(value.total_rows) &&
    (value.sha256 === undefined || typeof value.sha256 === 'string') &&
    (value.bytes === undefined || isCount(value.bytes)) &&
    (value.exported_at === undefined || typeof value.exported_at === 'string')
  );
}

/**
 * Writes the manifest unless the existing one already says the same (timestamp aside).
 * @returns whether the file was written
 */
export function writeManifest(path: string, manifest: Manifest): boolean {
  const existing = readManifest(path);
  if (
    existing !== undefined &&
    isDeepStrictEqual({ ...existing, timestamp: '' }, { ...manifest, timestamp: '' })
  )
    return false;
  writeFileAtomic(path, `${JSON.stringify(manifest, null, 2)}\n`);
  return true;
}

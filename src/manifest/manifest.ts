/**
 * The manifest: `<archiveDir>/manifest.json`, in the basic manifest format, extended with each archive's SHA-256,
 * size, export time, codec and content hashes (the whole archive's and each table's, independent of the codec). It is a committed file, so its bytes depend only on the archives it describes: entries sorted
 * by file name, `archive_path` relative to the manifest's own directory, no run's errors, and it is rewritten only
 * when something other than its `timestamp` changed.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../files/atomic-file.js';
import { compareNames } from '../sqlite/names.js';

/** One database's entry (snake_case: this is on-disk JSON). */
export interface ManifestEntry {
  /** The archive's path relative to the directory holding manifest.json, with `/` separators: `<name>.json`. */
  readonly archive_path: string;
  readonly tables_exported: number;
  readonly total_rows: number;
  /** db-hydration's own fields (absent from an entry of a basic manifest, which is read as it is). */
  readonly sha256?: string;
  readonly bytes?: number;
  readonly exported_at?: string;
  /** The archive file's codec: `identity` (`<name>.json`) or `gzip` (`<name>.json.gz`). */
  readonly codec?: string;
  /**
   * SHA-256 of the archive's content: its plain bytes (decompressed) without the `exported_at` line. The same data
   * gives the same value on any machine, at any time, in any codec; `sha256` is the file's checksum as stored.
   */
  readonly content_sha256?: string;
  /** Per table (by name): its rows, and the SHA-256 of its schema and rows (src/archive/table-hashes.ts). */
  readonly tables?: Readonly<Record<string, ManifestTableEntry>>;
}

/** One table of a {@link ManifestEntry}. */
export interface ManifestTableEntry {
  readonly rows: number;
  readonly content_sha256: string;
}

/** The manifest file's content. */
export interface Manifest {
  readonly timestamp: string;
  readonly databases: Readonly<Record<string, ManifestEntry>>;
  readonly total_tables: number;
  readonly total_rows: number;
  /**
   * Kept for the basic format, and always empty: a run's errors name paths of one machine and problems of one
   * moment (a lock, a damaged file), so they are reported by the run, not committed.
   */
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

/** The basic entry fields, and db-hydration's own where present (a basic manifest has none of them). */
function isEntry(value: unknown): value is ManifestEntry {
  return (
    isObject(value) &&
    typeof value.archive_path === 'string' &&
    isCount(value.tables_exported) &&
    isCount(value.total_rows) &&
    (value.sha256 === undefined || typeof value.sha256 === 'string') &&
    (value.bytes === undefined || isCount(value.bytes)) &&
    (value.exported_at === undefined || typeof value.exported_at === 'string') &&
    (value.codec === undefined || typeof value.codec === 'string') &&
    (value.content_sha256 === undefined || typeof value.content_sha256 === 'string') &&
    (value.tables === undefined ||
      (isObject(value.tables) &&
        Object.values(value.tables).every(
          (t) => isObject(t) && isCount(t.rows) && typeof t.content_sha256 === 'string',
        )))
  );
}

/**
 * The manifest's text: databases in {@link compareNames} order, every object's fields in one fixed order, two-space
 * indentation and a final newline, so the same content is the same bytes on every machine.
 */
export function manifestText(manifest: Manifest): string {
  const databases: Record<string, ManifestEntry> = {};
  for (const name of Object.keys(manifest.databases).sort(compareNames)) {
    const e = manifest.databases[name];
    if (e === undefined) continue;
    databases[name] = {
      archive_path: e.archive_path,
      tables_exported: e.tables_exported,
      total_rows: e.total_rows,
      // A basic entry has none of these three; it keeps having none.
      ...(e.sha256 === undefined ? {} : { sha256: e.sha256 }),
      ...(e.bytes === undefined ? {} : { bytes: e.bytes }),
      ...(e.exported_at === undefined ? {} : { exported_at: e.exported_at }),
      ...(e.codec === undefined ? {} : { codec: e.codec }),
      ...(e.content_sha256 === undefined ? {} : { content_sha256: e.content_sha256 }),
      ...(e.tables === undefined ? {} : { tables: orderedTables(e.tables) }),
    };
  }
  const ordered: Manifest = {
    timestamp: manifest.timestamp,
    databases,
    total_tables: manifest.total_tables,
    total_rows: manifest.total_rows,
    errors: manifest.errors,
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/** The tables of an entry in {@link compareNames} order, each with its fields in a fixed order. */
function orderedTables(
  tables: Readonly<Record<string, ManifestTableEntry>>,
): Record<string, ManifestTableEntry> {
  const out = Object.create(null) as Record<string, ManifestTableEntry>;
  for (const name of Object.keys(tables).sort(compareNames)) {
    const t = tables[name];
    if (t !== undefined) out[name] = { rows: t.rows, content_sha256: t.content_sha256 };
  }
  return out;
}

/**
 * Writes the manifest unless the existing file already holds exactly its text (timestamp aside), so a run that
 * changed nothing leaves the file byte for byte as it was, mtime included.
 * @returns whether the file was written
 */
export function writeManifest(path: string, manifest: Manifest): boolean {
  const existing = readManifest(path);
  if (existing !== undefined) {
    let text: string | undefined;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      text = undefined;
    }
    if (text === manifestText({ ...manifest, timestamp: existing.timestamp })) return false;
  }
  writeFileAtomic(path, manifestText(manifest));
  return true;
}

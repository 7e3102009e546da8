/**
 * The merge of `manifest.json`, which never conflicts: it only describes the archives beside it, so the merged
 * manifest is derived from them. Every database listed by either side is kept; its entry is computed from its
 * archive in the working tree when that archive is complete (already merged, or unchanged), and otherwise taken from
 * the side with the later export. An entry goes only when its archive is gone from the tree and from both sides.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { hashArchiveFile } from '../archive/archive-file.js';
import { readArchive } from '../archive/read-archive.js';
import { archiveContentFields } from '../archive/table-hashes.js';
import { readManifest, writeManifest, type Manifest, type ManifestEntry } from '../manifest/manifest.js';

/** Options of {@link mergeManifests}. */
export interface MergeManifestsOptions {
  readonly base: string;
  readonly ours: string;
  readonly theirs: string;
  readonly output: string;
  /** The directory holding the merged archives (the manifest's own directory in the working tree). */
  readonly archiveDir: string;
}

/** Merges two manifests into `output`; returns the merged manifest. */
export function mergeManifests(options: MergeManifestsOptions): Manifest {
  const ours = readManifest(options.ours);
  const theirs = readManifest(options.theirs);
  const databases: Record<string, ManifestEntry> = Object.create(null) as Record<string, ManifestEntry>;
  const names = new Set([...Object.keys(ours?.databases ?? {}), ...Object.keys(theirs?.databases ?? {})]);
  for (const name of names) {
    const o = ours?.databases[name];
    const t = theirs?.databases[name];
    const later =
      o === undefined ? t : t === undefined ? o : (t.exported_at ?? '') > (o.exported_at ?? '') ? t : o;
    if (later === undefined) continue;
    const path = join(options.archiveDir, later.archive_path);
    databases[name] = (existsSync(path) ? entryFromArchive(path, later.archive_path) : undefined) ?? later;
  }
  const entries = Object.values(databases);
  const timestamps = [ours?.timestamp ?? '', theirs?.timestamp ?? ''].sort();
  const manifest: Manifest = {
    timestamp: timestamps[1] ?? '',
    databases,
    total_tables: entries.reduce((s, e) => s + e.tables_exported, 0),
    total_rows: entries.reduce((s, e) => s + e.total_rows, 0),
    errors: [],
  };
  writeManifest(options.output, manifest);
  return manifest;
}

/** The entry for a complete archive, or `undefined` when it does not read (conflict markers: not merged yet). */
function entryFromArchive(path: string, archivePath: string): ManifestEntry | undefined {
  try {
    let tables = 0;
    let rows = 0;
    let exportedAt = '';
    for (const event of readArchive(path, { skipRows: true })) {
      if (event.kind === 'header') exportedAt = event.header.exported_at;
      else if (event.kind === 'tableEnd') {
        tables++;
        rows += event.rows;
      }
    }
    const { sha256, bytes } = hashArchiveFile(path);
    return {
      archive_path: archivePath,
      tables_exported: tables,
      total_rows: rows,
      sha256,
      bytes,
      exported_at: exportedAt,
      ...archiveContentFields(path),
    };
  } catch {
    return undefined;
  }
}

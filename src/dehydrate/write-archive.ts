/**
 * Archive writing: the streaming layout of docs/archive-format.md. One member per line in the header, one table
 * header line per table followed by one row per line, then the sequences and one schema object per line.
 *
 * The archive is written to a temp file; it replaces the existing archive only when its content (everything but
 * `exported_at`) differs, so an unchanged database leaves its archive untouched, mtime included.
 */
import { closeSync, existsSync, openSync, readSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { BufferedWriter } from '../files/buffered-writer.js';
import { commitTempFile, tempPathFor } from '../files/atomic-file.js';
import {
  ARCHIVE_FORMAT,
  ARCHIVE_FORMAT_VERSION,
  type ArchiveObject,
  type ArchivePragmas,
} from '../archive/format.js';
import type { TablePlan } from './read-schema.js';

/** The outcome of writing one archive. */
export interface ArchiveWriteOutcome {
  /** Whether the archive file was replaced (false: its content was already the same). */
  readonly changed: boolean;
  /** SHA-256 of the archive file as it now is on disk. */
  readonly sha256: string;
  readonly bytes: number;
  /** `exported_at` of the archive as it now is on disk. */
  readonly exportedAt: string;
}

const EXPORTED_AT_PREFIX = '"exported_at": ';

/** Writes one archive; call the methods in file order, then {@link ArchiveWriter.commit}. */
export class ArchiveWriter {
  private readonly writer: BufferedWriter;
  private firstTable = true;
  private firstRow = true;
  private readonly exportedAt: string;

  constructor(readonly target: string) {
    // The content hash only serves to compare with an existing archive (one SHA-256 pass fewer without one).
    this.writer = new BufferedWriter(tempPathFor(target), { contentHashed: existsSync(target) });
    this.exportedAt = new Date().toISOString();
  }

  /** The members before `tables`. */
  writeHeader(database: string, fileName: string, pragmas: ArchivePragmas): void {
    const w = this.writer;
    w.write(`{\n"database": ${JSON.stringify(database)},\n`);
    w.write(`${EXPORTED_AT_PREFIX}${JSON.stringify(this.exportedAt)},\n`, false);
    w.write(`"format": ${JSON.stringify(ARCHIVE_FORMAT)},\n"format_version": ${ARCHIVE_FORMAT_VERSION},\n`);
    w.write(
      `"file_name": ${JSON.stringify(fileName)},\n"pragmas": ${JSON.stringify(sortedKeys(pragmas))},\n`,
    );
    w.write('"tables": {');
  }

  /** A table's header line; rows follow with {@link writeRow}, then {@link endTable}. */
  beginTable(table: TablePlan, rowCount: number): void {
    const kind = table.kind === 'table' ? '' : `, "type": ${JSON.stringify(table.kind)}`;
    const rowid = table.rowidKey === undefined ? '' : `, "rowid_key": ${JSON.stringify(table.rowidKey)}`;
    this.writer.write(
      `${this.firstTable ? '\n' : ',\n'}${JSON.stringify(table.name)}: {"schema": ${JSON.stringify(table.sql)}${kind}${rowid}, "row_count": ${rowCount}, "rows": [`,
    );
    this.firstTable = false;
    this.firstRow = true;
  }

  /** One row line. */
  writeRow(line: string): void {
    this.writer.write(this.firstRow ? `\n${line}` : `,\n${line}`);
    this.firstRow = false;
  }

  /**
   * Appends row lines another thread wrote to a part file (`line,\nline…`, no separator before the first); `rows` is
   * how many lines it holds.
   */
  appendRowsFile(path: string, rows: number): void {
    if (rows === 0) return;
    this.writer.write(this.firstRow ? '\n' : ',\n');
    this.writer.appendFile(path);
    this.firstRow = false;
  }

  /** The temp file's path, a prefix for part files (they share its temp-file marker). */
  get tempPath(): string {
    return this.writer.path;
  }

  /** Closes the current table. */
  endTable(): void {
    this.writer.write(this.firstRow ? ']}' : '\n]}');
  }

  /** The members after `tables`. */
  writeFooter(sequences: readonly (readonly [string, string])[], objects: readonly ArchiveObject[]): void {
    const w = this.writer;
    w.write(this.firstTable ? '},\n' : '\n},\n');
    w.write(
      `"sequences": {${sequences.map(([name, value]) => `${JSON.stringify(name)}: ${value}`).join(', ')}},\n`,
    );
    if (objects.length === 0) {
      w.write('"objects": []\n}\n');
      return;
    }
    w.write('"objects": [\n');
    w.write(
      objects
        .map((o) => JSON.stringify({ type: o.type, name: o.name, tbl_name: o.tbl_name, sql: o.sql }))
        .join(',\n'),
    );
    w.write('\n]\n}\n');
  }

  /**
   * Finishes the temp file and puts it in place if its content differs from the existing archive; otherwise the
   * temp file is dropped and the existing archive is kept as it is.
   */
  commit(): ArchiveWriteOutcome {
    const written = this.writer.finish();
    const existing = existsSync(this.target) ? hashExisting(this.target) : undefined;
    if (
      existing !== undefined &&
      written.contentSha256 !== '' &&
      existing.contentSha256 === written.contentSha256
    ) {
      rmSync(this.writer.path, { force: true });
      return {
        changed: false,
        sha256: existing.sha256,
        bytes: existing.bytes,
        exportedAt: existing.exportedAt ?? this.exportedAt,
      };
    }
    commitTempFile(this.writer.path, this.target);
    return { changed: true, sha256: written.sha256, bytes: written.bytes, exportedAt: this.exportedAt };
  }

  /** Drops the temp file; the existing archive stays as it was. */
  abort(): void {
    this.writer.abort();
  }
}

function sortedKeys<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : 1))) as T;
}

/**
 * Hashes an existing archive the way {@link BufferedWriter} hashes a new one: all bytes, and all bytes except the
 * `exported_at` line (looked for among the first lines only).
 */
function hashExisting(path: string): {
  sha256: string;
  contentSha256: string;
  bytes: number;
  exportedAt: string | undefined;
} {
  const full = createHash('sha256');
  const content = createHash('sha256');
  const fd = openSync(path, 'r');
  const chunk = Buffer.allocUnsafe(1 << 20);
  let bytes = 0;
  let exportedAt: string | undefined;
  let first = true;
  try {
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      const part = chunk.subarray(0, n);
      bytes += n;
      full.update(part);
      if (first) {
        first = false;
        const found = findExportedAtLine(part);
        if (found !== undefined) {
          exportedAt = found.value;
          content.update(part.subarray(0, found.start));
          content.update(part.subarray(found.end));
          continue;
        }
      }
      content.update(part);
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: full.digest('hex'), contentSha256: content.digest('hex'), bytes, exportedAt };
}

function findExportedAtLine(
  buf: Buffer,
): { start: number; end: number; value: string | undefined } | undefined {
  const head = buf.subarray(0, Math.min(buf.length, 4096)).toString('latin1');
  const start = head.indexOf(`\n${EXPORTED_AT_PREFIX}`);
  if (start < 0) return undefined;
  const end = head.indexOf('\n', start + 1);
  if (end < 0) return undefined;
  const line = head.slice(start + 1, end).replace(/,$/, '');
  let value: string | undefined;
  try {
    const parsed: unknown = JSON.parse(`{${line}}`);
    const at = (parsed as { exported_at?: unknown }).exported_at;
    value = typeof at === 'string' ? at : undefined;
  } catch {
    value = undefined;
  }
  return { start: start + 1, end: end + 1, value };
}

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
  type ArchiveSchemaEntry,
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
  private readonly comparison: ContentComparison | undefined;
  private firstTable = true;
  private firstRow = true;
  private readonly exportedAt: string;

  constructor(readonly target: string) {
    const comparison = existsSync(target) ? new ContentComparison(target) : undefined;
    this.comparison = comparison;
    try {
      this.writer = new BufferedWriter(
        tempPathFor(target),
        comparison === undefined
          ? {}
          : {
              onContent: (chunk) => {
                comparison.compare(chunk);
              },
            },
      );
    } catch (error) {
      comparison?.close();
      throw error;
    }
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
  writeFooter(
    sequences: readonly (readonly [string, string])[],
    objects: readonly ArchiveObject[],
    schemaOrder: readonly ArchiveSchemaEntry[],
  ): void {
    const w = this.writer;
    w.write(this.firstTable ? '},\n' : '\n},\n');
    w.write(
      `"sequences": {${sequences.map(([name, value]) => `${JSON.stringify(name)}: ${value}`).join(', ')}},\n`,
    );
    const array = (member: string, items: readonly string[], last: boolean): void => {
      const end = last ? '\n' : ',\n';
      w.write(items.length === 0 ? `"${member}": []${end}` : `"${member}": [\n${items.join(',\n')}\n]${end}`);
    };
    array(
      'objects',
      objects.map((o) => JSON.stringify({ type: o.type, name: o.name, tbl_name: o.tbl_name, sql: o.sql })),
      false,
    );
    array(
      'schema_order',
      schemaOrder.map((e) => JSON.stringify({ type: e.type, name: e.name })),
      true,
    );
    w.write('}\n');
  }

  /**
   * Finishes the temp file and puts it in place if its content differs from the existing archive; otherwise the
   * temp file is dropped and the existing archive is kept as it is.
   */
  commit(): ArchiveWriteOutcome {
    const written = this.writer.finish();
    const same = this.comparison?.finish() === true;
    const existing = same && existsSync(this.target) ? hashExisting(this.target) : undefined;
    if (existing !== undefined) {
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
    this.comparison?.close();
    this.writer.abort();
  }
}

function sortedKeys<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : 1))) as T;
}

/** Hashes an existing archive, and reads its `exported_at` (looked for among the first lines only). */
function hashExisting(path: string): { sha256: string; bytes: number; exportedAt: string | undefined } {
  const full = createHash('sha256');
  const fd = openSync(path, 'r');
  const chunk = Buffer.allocUnsafe(1 << 20);
  let bytes = 0;
  let exportedAt: string | undefined;
  try {
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      const part = chunk.subarray(0, n);
      if (bytes === 0) exportedAt = findExportedAtLine(part)?.value;
      bytes += n;
      full.update(part);
    }
  } finally {
    closeSync(fd);
  }
  return { sha256: full.digest('hex'), bytes, exportedAt };
}

/**
 * Compares the content of the archive being written (every byte but the `exported_at` line) with an existing
 * archive's, chunk by chunk as it is written: reading the old file stops at the first difference, so a changed
 * database costs little more than writing, and an unchanged one one read of the old file.
 */
class ContentComparison {
  private fd: number | undefined;
  private readonly chunk = Buffer.allocUnsafe(1 << 20);
  /** Old content read but not compared yet: `chunk[start, end)`. */
  private start = 0;
  private end = 0;
  private first = true;
  private differs = false;

  constructor(path: string) {
    try {
      this.fd = openSync(path, 'r');
    } catch {
      this.differs = true;
    }
  }

  /** Compares the next content bytes of the new archive. */
  compare(bytes: Buffer): void {
    let offset = 0;
    while (!this.differs && offset < bytes.length) {
      if (this.start === this.end && !this.fill()) {
        this.close();
        return;
      }
      const n = Math.min(bytes.length - offset, this.end - this.start);
      if (!bytes.subarray(offset, offset + n).equals(this.chunk.subarray(this.start, this.start + n))) {
        this.close();
        return;
      }
      offset += n;
      this.start += n;
    }
  }

  /** Ends the comparison: true when the old content is exactly what was written (nothing more). */
  finish(): boolean {
    const same = !this.differs && this.start === this.end && !this.fill();
    this.close();
    return same;
  }

  /** Reads the next old content into the chunk; false at the end of the file. */
  private fill(): boolean {
    if (this.fd === undefined) return false;
    const n = readSync(this.fd, this.chunk, 0, this.chunk.length, null);
    this.start = 0;
    this.end = n;
    if (this.first && n > 0) {
      this.first = false;
      const found = findExportedAtLine(this.chunk.subarray(0, n));
      // An archive without the line is not what this version writes: it differs.
      if (found === undefined) return false;
      // Drop the line: move what precedes it up against what follows.
      this.chunk.copy(this.chunk, found.end - found.start, 0, found.start);
      this.start = found.end - found.start;
    }
    return n > 0;
  }

  /** Stops comparing and closes the old archive; never throws. */
  close(): void {
    this.differs = true;
    const fd = this.fd;
    this.fd = undefined;
    if (fd === undefined) return;
    try {
      closeSync(fd);
    } catch {
      // Nothing left to release.
    }
  }
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

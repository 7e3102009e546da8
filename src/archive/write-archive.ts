/**
 * Archive writing: the streaming layout of docs/archive-format.md. One member per line in the header, one table
 * header line per table followed by one row per line, then the sequences and one schema object per line.
 *
 * The archive is written to a temp file; it replaces the existing archive only when its content (everything but
 * `exported_at`) differs, so an unchanged database leaves its archive untouched, mtime included.
 */
import { existsSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { ArchiveEncryptionError } from '../errors.js';
import { IDENTITY_CODEC, type ArchiveCodec } from './codec.js';
import { BufferedWriter } from './buffered-writer.js';
import { codecForArchivePath, hashArchiveFile, readArchivePrefix, readPlainRange } from './archive-file.js';
import { isEncryptedCodec } from './age-codec.js';
import { withoutPrompting } from './keys.js';
import { ContentComparison, findExportedAtLine } from './content-comparison.js';
import { commitTempFile, tempPathFor } from '../files/atomic-file.js';
import {
  ARCHIVE_FORMAT,
  ARCHIVE_FORMAT_VERSION,
  EXPORTED_AT_PREFIX,
  type ArchiveObject,
  type ArchivePragmas,
  type ArchiveSchemaEntry,
  type ArchiveTableMeta,
} from './format.js';

/** The outcome of writing one archive. */
export interface ArchiveWriteOutcome {
  /** Whether the archive file was replaced (false: its content was already the same). */
  readonly changed: boolean;
  /** SHA-256 of the archive file as it now is on disk. */
  readonly sha256: string;
  readonly bytes: number;
  /** `exported_at` of the archive as it now is on disk. */
  readonly exportedAt: string;
  /** SHA-256 of the archive's content (all but `exported_at`), as `archiveContentHash` computes it. */
  readonly contentSha256: string;
}

/** Where a table's section lies in the plain archive: from its header line to the end of its closing `]}`. */
export interface TableSection {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

/** A copied section that is not the table's section of the archive it was taken from. */
export class SectionMismatchError extends Error {}

/** What an archive file held when its database last matched it: its SHA-256 as stored, and its content hash. */
export interface KnownArchive {
  readonly sha256: string;
  readonly contentHash: string;
  /**
   * The caller found the file, by its identity (inode, size, modification and change times), to be the one these
   * hashes were taken of: its content is then compared by hash, without reading the file.
   */
  readonly identityChecked?: boolean;
}

/** Writes one archive; call the methods in file order, then {@link ArchiveWriter.commit}. */
export class ArchiveWriter {
  private readonly writer: BufferedWriter;
  private readonly comparison: ContentComparison | undefined;
  private firstTable = true;
  private firstRow = true;
  private readonly exportedAt: string;
  private readonly contentHash = createHash('sha256');
  private readonly codec: ArchiveCodec;
  private readonly encrypted: boolean;
  private readonly known: KnownArchive | undefined;
  private readonly sectionList: TableSection[] = [];
  private sectionStart: { name: string; start: number } | undefined;

  /**
   * @param options.known what the existing archive held when its database last matched it (the sync state): an
   *   encrypted archive that cannot be decrypted here (only recipients are configured) is kept when it is still that
   *   file and the new content is that content
   */
  constructor(
    readonly target: string,
    options: {
      readonly known?: KnownArchive | undefined;
      /** Hash the file's bytes on a worker thread: for a large archive written mostly by copying (hash-thread.ts). */
      readonly hashOnThread?: boolean;
    } = {},
  ) {
    this.known = options.known;
    const codec = codecForArchivePath(target);
    this.codec = codec;
    this.encrypted = isEncryptedCodec(codec);
    const comparison =
      existsSync(target) && this.known?.identityChecked !== true
        ? openComparison(target, this.encrypted, this.known)
        : undefined;
    this.comparison = comparison;
    try {
      const contentHash = this.contentHash;
      this.writer = new BufferedWriter(tempPathFor(target), {
        codec,
        target,
        hashOnThread: options.hashOnThread === true,
        // The content (all but `exported_at`) is hashed as it is written (the sync state records it) and, when an
        // archive exists, compared with it.
        onContent: (chunk) => {
          contentHash.update(chunk);
          comparison?.compare(chunk);
        },
      });
    } catch (error) {
      comparison?.close();
      throw error;
    }
    this.exportedAt = new Date().toISOString();
  }

  /** The members before `tables`. */
  writeHeader(database: string, fileName: string, pragmas: ArchivePragmas): void {
    const w = this.writer;
    const opening = headerOpening(database, this.exportedAt, fileName);
    w.write(opening.beforeExportedAt);
    w.write(opening.exportedAt, false);
    w.write(opening.afterExportedAt);
    w.write(`${pragmasMember(pragmas)}\n`);
    w.write('"tables": {');
  }

  /**
   * A table's header line, from plain table metadata (a merge writes archives it never read from SQLite); rows follow
   * with {@link writeRow}, then {@link endTable}.
   */
  beginTable(table: ArchiveTableMeta): void {
    this.writer.write(this.firstTable ? '\n' : ',\n');
    this.sectionStart = { name: table.name, start: this.writer.position };
    this.writer.write(tableOpening(table));
    this.firstTable = false;
    this.firstRow = true;
  }

  /**
   * Copies a table's whole section (header line, rows, closing `]}`) from a plain archive, in place of
   * {@link beginTable}, rows and {@link endTable}.
   * @throws {SectionMismatchError} when the bytes there do not start with this table's header line or do not end
   *   its section; nothing of it is written then
   */
  copyTable(table: ArchiveTableMeta, from: { path: string; start: number; end: number }): void {
    const opening = Buffer.from(tableOpening(table), 'utf8');
    // The section ends its table: `]}`, then the next table's `,` or the end of `tables` (a newline).
    const around = bytesAt(from.path, from.end - 2, 3);
    if (from.end - from.start < opening.length + 2 || (around !== ']},' && around !== ']}\n'))
      throw new SectionMismatchError(`${table.name}: the archive has no section there`);
    this.writer.write(this.firstTable ? '\n' : ',\n');
    const start = this.writer.position;
    this.writer.appendRange(from.path, from.start, from.end, (first) => {
      if (
        first.length < Math.min(opening.length, from.end - from.start) ||
        !first.subarray(0, opening.length).equals(opening)
      )
        throw new SectionMismatchError(`${table.name}: the archive's section does not start with its header`);
    });
    this.firstTable = false;
    this.sectionList.push({ name: table.name, start, end: this.writer.position });
  }

  /** The sections of the tables written so far, in archive order. */
  get sections(): readonly TableSection[] {
    return this.sectionList;
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
    if (this.sectionStart !== undefined)
      this.sectionList.push({ ...this.sectionStart, end: this.writer.position });
    this.sectionStart = undefined;
  }

  /** The members after `tables`. */
  writeFooter(
    sequences: readonly (readonly [string, string])[],
    objects: readonly ArchiveObject[],
    schemaOrder: readonly ArchiveSchemaEntry[],
  ): void {
    const w = this.writer;
    w.write(this.firstTable ? '},\n' : '\n},\n');
    w.write(`${sequencesMember(sequences)}\n`);
    w.write(arrayMember('objects', objects.map(objectLine), false));
    w.write(arrayMember('schema_order', schemaOrder.map(schemaEntryLine), true));
    w.write('}\n');
  }

  /**
   * Finishes the temp file and puts it in place if its content differs from the existing archive; otherwise the
   * temp file is dropped and the existing archive is kept as it is.
   */
  commit(): ArchiveWriteOutcome {
    // An encrypted archive is compared before it is finished: an unchanged one is then never encrypted (nor is a
    // passphrase asked for). Any other is finished first, as its bytes are written as they come anyway.
    const plain = this.encrypted ? undefined : this.writer.finish();
    if (this.encrypted) this.writer.flush();
    const contentSha256 = this.contentHash.digest('hex');
    const same =
      this.comparison === undefined ? this.knownUnchanged(contentSha256) : this.comparison.finish();
    // Kept by the sync state's hashes (not decrypted): its export time is not read either (the manifest keeps it).
    const decrypted = !this.encrypted || this.comparison !== undefined;
    const existing = same && existsSync(this.target) ? hashExisting(this.target, decrypted) : undefined;
    if (existing !== undefined) {
      if (this.encrypted) this.writer.abort();
      else rmSync(this.writer.path, { force: true });
      return {
        changed: false,
        sha256: existing.sha256,
        bytes: existing.bytes,
        exportedAt: existing.exportedAt ?? this.exportedAt,
        contentSha256,
      };
    }
    if (this.encrypted) this.finishEncrypted();
    // The writer hashes plain bytes; a codec's file holds other bytes, which the manifest's checksum covers.
    const written =
      plain !== undefined && this.codec === IDENTITY_CODEC ? plain : hashArchiveFile(this.writer.path);
    commitTempFile(this.writer.path, this.target);
    return {
      changed: true,
      sha256: written.sha256,
      bytes: written.bytes,
      exportedAt: this.exportedAt,
      contentSha256,
    };
  }

  /** Finishes (encrypts) the temp file; an encryption error names the archive, not its temp file. */
  private finishEncrypted(): void {
    try {
      this.writer.finish();
    } catch (error) {
      if (!(error instanceof ArchiveEncryptionError)) throw error;
      const prefix = error.file === undefined ? '' : `${error.file}: `;
      const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
      throw new ArchiveEncryptionError(message, { file: this.target, hint: error.hint, cause: error.cause });
    }
  }

  /**
   * For an encrypted archive this process cannot decrypt: whether it is still the file its database last matched and
   * the new content is what that file held. Only the hashes in the local sync state are compared, never plaintext.
   */
  private knownUnchanged(contentSha256: string): boolean {
    const known = this.known;
    if (known === undefined || known.contentHash !== contentSha256) return false;
    if (!this.encrypted && known.identityChecked !== true) return false;
    return existsSync(this.target) && hashArchiveFile(this.target).sha256 === known.sha256;
  }

  /** Drops the temp file; the existing archive stays as it was. */
  abort(): void {
    this.comparison?.close();
    this.writer.abort();
  }
}

/** The header's lines before `pragmas`, in three parts around the `exported_at` line (which is not content). */
export function headerOpening(
  database: string,
  exportedAt: string,
  fileName: string,
): { beforeExportedAt: string; exportedAt: string; afterExportedAt: string } {
  return {
    beforeExportedAt: `{\n"database": ${JSON.stringify(database)},\n`,
    exportedAt: `${EXPORTED_AT_PREFIX}${JSON.stringify(exportedAt)},\n`,
    afterExportedAt: `"format": ${JSON.stringify(ARCHIVE_FORMAT)},\n"format_version": ${ARCHIVE_FORMAT_VERSION},\n"file_name": ${JSON.stringify(fileName)},\n`,
  };
}

/** The `pragmas` member's line, comma included. */
export function pragmasMember(pragmas: ArchivePragmas): string {
  return `"pragmas": ${JSON.stringify(sortedKeys(pragmas))},`;
}

/** A table's header line, up to the opening `[` of its rows. */
export function tableOpening(table: ArchiveTableMeta): string {
  const kind = table.type === 'table' ? '' : `, "type": ${JSON.stringify(table.type)}`;
  const rowid = table.rowid_key === undefined ? '' : `, "rowid_key": ${JSON.stringify(table.rowid_key)}`;
  return `${JSON.stringify(table.name)}: {"schema": ${JSON.stringify(table.schema)}${kind}${rowid}, "row_count": ${table.row_count}, "rows": [`;
}

/** The `sequences` member's line, comma included; values are encoded JSON text. */
export function sequencesMember(sequences: readonly (readonly [string, string])[]): string {
  return `"sequences": {${sequences.map(([name, value]) => `${JSON.stringify(name)}: ${value}`).join(', ')}},`;
}

/** One item line of `objects`. */
export function objectLine(o: ArchiveObject): string {
  return JSON.stringify({ type: o.type, name: o.name, tbl_name: o.tbl_name, sql: o.sql });
}

/** One item line of `schema_order`. */
export function schemaEntryLine(e: ArchiveSchemaEntry): string {
  return JSON.stringify({ type: e.type, name: e.name });
}

/** An array member whose items are one per line; `last` when no member follows (no comma after it). */
export function arrayMember(member: string, items: readonly string[], last: boolean): string {
  const end = last ? '\n' : ',\n';
  return items.length === 0 ? `"${member}": []${end}` : `"${member}": [\n${items.join(',\n')}\n]${end}`;
}

function sortedKeys<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : 1))) as T;
}

/**
 * The comparison with the existing archive, or `undefined` when it is encrypted and cannot be decrypted here (no
 * identity, another one): the writer then goes by {@link KnownArchive}.
 */
function openComparison(
  target: string,
  encrypted: boolean,
  known: KnownArchive | undefined,
): ContentComparison | undefined {
  if (encrypted) {
    // Still the file its database last matched: the sync state's hashes tell whether the content is the same, with
    // no decryption (and no passphrase to ask for).
    if (known !== undefined && hashArchiveFile(target).sha256 === known.sha256) return undefined;
    try {
      // Decrypts the whole file (kept for the comparison's own read, age-codec.ts).
      readArchivePrefix(target, 1);
    } catch (error) {
      if (error instanceof ArchiveEncryptionError) return undefined;
      throw error;
    }
  }
  return new ContentComparison(target);
}

/** `length` bytes of a plain archive at `position`, as Latin-1 text. */
function bytesAt(path: string, position: number, length: number): string {
  let text = '';
  readPlainRange(path, { start: position, end: position + length }, Buffer.alloc(length), (chunk) => {
    text += chunk.toString('latin1');
  });
  return text;
}

/** Hashes an existing archive, and reads its `exported_at`. */
function hashExisting(
  path: string,
  readExportedAt: boolean,
): { sha256: string; bytes: number; exportedAt: string | undefined } {
  const { sha256, bytes } = hashArchiveFile(path);
  let exportedAt: string | undefined;
  if (!readExportedAt) return { sha256, bytes, exportedAt };
  try {
    // Only with a key at hand: the export time is not worth asking for a passphrase.
    exportedAt = findExportedAtLine(withoutPrompting(() => readArchivePrefix(path, 4096)))?.value;
  } catch (error) {
    // An encrypted archive this process cannot decrypt: its export time is not known here.
    if (!(error instanceof ArchiveEncryptionError)) throw error;
  }
  return { sha256, bytes, exportedAt };
}

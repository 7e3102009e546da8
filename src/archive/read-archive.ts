/**
 * Archive reading, as a stream of events: header, then for each table its header, its rows and its end, then the
 * footer. db-hydration's own archives are read line by line with constant memory (read-streaming.ts); an archive in
 * the basic plain shape (any JSON layout, no `format` field) is parsed whole.
 *
 * Archives come from other people's commits, so everything is checked: structure, field types, duplicate tables,
 * row counts, and that the bytes are UTF-8. Errors name the file and the line.
 */
import { ArchiveFormatError } from '../errors.js';
import { ARCHIVE_FORMAT, type ArchiveFooter, type ArchiveHeader, type ArchiveTableMeta } from './format.js';
import { archiveFileBytes, readArchivePrefix, readWholeArchive } from './archive-file.js';
import { assertUtf8 } from './read-lines.js';
import { readStreaming } from './read-streaming.js';
import { isConflictMarker, UNRESOLVED_CONFLICT_HINT } from './conflict-markers.js';
import { validateHeader, validateTableMeta } from './validate-archive.js';

/** One step of reading an archive. */
export type ArchiveEvent =
  | { readonly kind: 'header'; readonly header: ArchiveHeader; readonly plain: boolean }
  | { readonly kind: 'table'; readonly table: ArchiveTableMeta }
  | {
      readonly kind: 'row';
      readonly row: Readonly<Record<string, unknown>>;
      readonly line: number;
      /** The row's JSON text exactly as the archive holds it (streaming layout only). */
      readonly text?: string;
    }
  | { readonly kind: 'tableEnd'; readonly table: ArchiveTableMeta; readonly rows: number }
  | { readonly kind: 'footer'; readonly footer: ArchiveFooter };

/** Options of {@link readArchive}. */
export interface ReadArchiveOptions {
  /** Count rows without parsing them (for statistics). Row events are then not emitted. */
  readonly skipRows?: boolean;
  /**
   * Parse each row only when its `row` is first read (streaming layout): a merge or a diff that finds a row's text the
   * same on every side never parses it. A row that is not valid JSON then throws when it is read, naming its line.
   */
  readonly lazyRows?: boolean;
  /** Receives every plain byte of the file as it is read (to hash it on the way). */
  readonly onBytes?: (bytes: Buffer) => void;
}

/** The largest plain (basic-shaped) archive parsed whole; db-hydration's own archives have no limit. */
export const PLAIN_ARCHIVE_MAX_BYTES = 512 * 1024 * 1024;

/** Reads an archive as events. @throws {ArchiveFormatError} on anything malformed, naming the file and line */
export function* readArchive(
  path: string,
  options: ReadArchiveOptions = {},
): Generator<ArchiveEvent, void, undefined> {
  if (isStreamingLayout(path)) yield* readStreaming(path, options);
  else yield* readPlain(path, options.onBytes);
}

/** Whether the file starts like db-hydration's own layout: `{`, then `"database": …` on its own line. */
function isStreamingLayout(path: string): boolean {
  // Byte-level detection (ASCII only): the bytes are checked to be UTF-8 as they are read.
  const text = readArchivePrefix(path, 4096).toString('latin1');
  return /^\{\r?\n"database": /.test(text) && text.includes(`"format": ${JSON.stringify(ARCHIVE_FORMAT)}`);
}

function* readPlain(
  path: string,
  onBytes?: (bytes: Buffer) => void,
): Generator<ArchiveEvent, void, undefined> {
  const fail = (message: string): never => {
    throw new ArchiveFormatError(message, { file: path });
  };
  const bytes = readWholeArchive(path, PLAIN_ARCHIVE_MAX_BYTES);
  if (bytes === undefined) {
    return fail(
      `the archive is not in db-hydration's streaming layout and is too large (${archiveFileBytes(path)} bytes) to parse whole`,
    );
  }
  if (bytes.length === 0) fail('the archive is empty (0 bytes)');
  onBytes?.(bytes);
  // JSON must be UTF-8 (RFC 8259): bytes that are not are refused, not decoded as U+FFFD.
  assertUtf8(bytes, 0, bytes.length, 0, path);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (error) {
    const marker = bytes
      .toString('utf8')
      .split('\n')
      .findIndex((line) => isConflictMarker(line));
    if (marker >= 0) {
      throw new ArchiveFormatError(`line ${marker + 1}: unresolved merge conflict marker`, {
        file: path,
        hint: UNRESOLVED_CONFLICT_HINT,
      });
    }
    return fail(`not valid JSON (${(error as Error).message})`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    return fail('the archive is not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.format !== undefined) {
    if (d.format !== ARCHIVE_FORMAT) fail(`unknown "format" ${JSON.stringify(d.format)}`);
    fail('a db-hydration archive must keep its one-row-per-line layout; it seems to have been reformatted');
  }
  const header = validateHeader({ database: d.database, exported_at: d.exported_at ?? '' }, fail);
  yield { kind: 'header', header, plain: true };
  const tables = d.tables;
  if (typeof tables !== 'object' || tables === null || Array.isArray(tables))
    return fail('"tables" must be an object');
  for (const [name, value] of Object.entries(tables as Record<string, unknown>)) {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return fail(`table "${name}" must be an object`);
    const t = value as Record<string, unknown>;
    const rows = t.rows;
    if (!Array.isArray(rows)) return fail(`table "${name}": "rows" must be an array`);
    const table = validateTableMeta(name, { ...t, row_count: t.row_count ?? rows.length, rows: [] }, fail);
    if (table.row_count !== rows.length) {
      fail(`table "${name}": row_count says ${table.row_count} but the archive holds ${rows.length} rows`);
    }
    yield { kind: 'table', table };
    for (const row of rows) {
      if (typeof row !== 'object' || row === null || Array.isArray(row))
        return fail(`a row of table "${name}" is not a JSON object`);
      yield { kind: 'row', row: row as Record<string, unknown>, line: 0 };
    }
    yield { kind: 'tableEnd', table, rows: rows.length };
  }
  yield { kind: 'footer', footer: { sequences: {}, objects: [] } };
}

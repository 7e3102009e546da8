/**
 * Archive reading, as a stream of events: header, then for each table its header, its rows and its end, then the
 * footer. db-hydration's own archives are read line by line with constant memory; an archive in the seed's plain
 * shape (any JSON layout, no `format` field) is parsed whole.
 *
 * Archives come from other people's commits, so everything is checked: structure, field types, duplicate tables,
 * row counts, and that the bytes are UTF-8. Errors name the file and the line.
 */
import { ArchiveFormatError } from '../errors.js';
import {
  ARCHIVE_FORMAT,
  ARCHIVE_FORMAT_VERSION,
  type ArchiveFooter,
  type ArchiveHeader,
  type ArchiveObject,
  type ArchivePragmas,
  type ArchiveSchemaEntry,
  type ArchiveTableMeta,
  type TableKind,
} from './format.js';
import { archiveFileBytes, readArchivePrefix, readWholeArchive } from './archive-file.js';
import { assertUtf8, readLines } from './read-lines.js';

/** One step of reading an archive. */
export type ArchiveEvent =
  | { readonly kind: 'header'; readonly header: ArchiveHeader; readonly plain: boolean }
  | { readonly kind: 'table'; readonly table: ArchiveTableMeta }
  | { readonly kind: 'row'; readonly row: Readonly<Record<string, unknown>>; readonly line: number }
  | { readonly kind: 'tableEnd'; readonly table: ArchiveTableMeta; readonly rows: number }
  | { readonly kind: 'footer'; readonly footer: ArchiveFooter };

/** Options of {@link readArchive}. */
export interface ReadArchiveOptions {
  /** Count rows without parsing them (for statistics). Row events are then not emitted. */
  readonly skipRows?: boolean;
}

/** The largest plain (seed-shaped) archive parsed whole; db-hydration's own archives have no limit. */
export const PLAIN_ARCHIVE_MAX_BYTES = 512 * 1024 * 1024;

/** Reads an archive as events. @throws {ArchiveFormatError} on anything malformed, naming the file and line */
export function* readArchive(
  path: string,
  options: ReadArchiveOptions = {},
): Generator<ArchiveEvent, void, undefined> {
  if (isStreamingLayout(path)) yield* readStreaming(path, options);
  else yield* readPlain(path);
}

/** Whether the file starts like db-hydration's own layout: `{`, then `"database": …` on its own line. */
function isStreamingLayout(path: string): boolean {
  // Byte-level detection (ASCII only): the bytes are checked to be UTF-8 as they are read.
  const text = readArchivePrefix(path, 4096).toString('latin1');
  return /^\{\r?\n"database": /.test(text) && text.includes(`"format": ${JSON.stringify(ARCHIVE_FORMAT)}`);
}

function* readStreaming(path: string, options: ReadArchiveOptions): Generator<ArchiveEvent, void, undefined> {
  const lines = readLines(path);
  let lineNumber = 0;
  let lastMore = false;
  const fail = (message: string): never => {
    throw new ArchiveFormatError(`line ${lineNumber}: ${message}`, { file: path });
  };
  const next = (): string => {
    const r = lines.next();
    if (r.done === true) return fail('the archive ends too early (truncated?)');
    lineNumber = r.value[0];
    return r.value[1];
  };
  const parse = (text: string, what: string): unknown => {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      return fail(`${what} is not valid JSON (${(error as Error).message})`);
    }
  };
  const member = (line: string, what: string): [string, unknown] => {
    const obj = parse(`{${line}}`, what);
    const entries = Object.entries(obj as Record<string, unknown>);
    if (entries.length !== 1) fail(`expected one ${what} on this line`);
    return entries[0] as [string, unknown];
  };

  if (next() !== '{') fail('expected "{" on the first line');
  const header: Record<string, unknown> = {};
  for (;;) {
    const line = next();
    if (line === '"tables": {' || line === '"tables": {},') {
      const validated = validateHeader(header, fail);
      yield { kind: 'header', header: validated, plain: false };
      if (line === '"tables": {},') break;
      yield* readTables();
      break;
    }
    if (!line.endsWith(',')) fail('expected a header member ending with ","');
    const [key, value] = member(line.slice(0, -1), 'header member');
    if (Object.hasOwn(header, key)) fail(`duplicate header member "${key}"`);
    header[key] = value;
  }

  const footer: Record<string, unknown> = {};
  for (;;) {
    const line = next();
    if (line === '}') break;
    let text = line;
    if (line.endsWith('[')) {
      const items: string[] = [];
      // Each item but the last ends with a comma, the last with none: the lines must join into valid JSON as they are.
      let comma = true;
      for (;;) {
        const item = next();
        if (item === ']' || item === '],') {
          if (items.length > 0 && comma) fail('a comma after the last item of an array (JSON allows none)');
          text = `${line}${items.join(',')}]${item === '],' ? ',' : ''}`;
          break;
        }
        if (!comma) fail('expected a comma at the end of the previous line');
        comma = item.endsWith(',');
        items.push(comma ? item.slice(0, -1) : item);
      }
    }
    const more = text.endsWith(',');
    const [key, value] = member(more ? text.slice(0, -1) : text, 'footer member');
    if (Object.hasOwn(footer, key)) fail(`duplicate member "${key}"`);
    footer[key] = value;
    if (!more) {
      if (next() !== '}') fail('expected "}" closing the archive');
      break;
    }
  }
  // Only white space may follow (JSON allows it); anything else is not part of the document.
  for (let rest = lines.next(); rest.done !== true; rest = lines.next()) {
    lineNumber = rest.value[0];
    if (rest.value[1].trim() !== '') fail('unexpected content after the end of the archive');
  }
  yield { kind: 'footer', footer: validateFooter(footer, fail) };

  function* readTables(): Generator<ArchiveEvent, void, undefined> {
    const seen = new Set<string>();
    for (;;) {
      const line = next();
      if (line === '},') {
        if (seen.size > 0 && lastMore) fail('a comma after the last table (JSON allows none)');
        return;
      }
      if (line === '}') return fail('the archive ends after "tables" without "sequences" and "objects"');
      const withRows = line.endsWith('"rows": [');
      const text = withRows ? `${line}]}` : line.endsWith(',') ? line.slice(0, -1) : line;
      const [name, meta] = member(text, 'table header');
      if (seen.has(name)) fail(`table "${name}" appears twice`);
      seen.add(name);
      const table = validateTableMeta(name, meta, fail);
      yield { kind: 'table', table };
      let rows = 0;
      if (withRows) {
        for (;;) {
          const rowLine = next();
          if (rowLine === ']},' || rowLine === ']}') {
            // Reached here only after a row ending with a comma (or none at all).
            return fail(
              rows === 0
                ? `table "${name}": a "rows" array opened on its own line must hold rows`
                : `table "${name}": a comma after its last row (JSON allows none)`,
            );
          }
          const more = rowLine.endsWith(',');
          if (!options.skipRows) {
            const row = parse(more ? rowLine.slice(0, -1) : rowLine, `a row of table "${name}"`);
            if (typeof row !== 'object' || row === null || Array.isArray(row))
              fail(`a row of table "${name}" is not a JSON object`);
            yield { kind: 'row', row: row as Record<string, unknown>, line: lineNumber };
          } else if (!rowLine.startsWith('{') || !rowLine.endsWith(more ? '},' : '}')) {
            fail(`a row of table "${name}" is not a JSON object`);
          }
          rows++;
          if (!more) {
            const close = next();
            if (close !== ']},' && close !== ']}')
              fail(`expected "]}" after the last row of table "${name}"`);
            yield* finish(close.endsWith(','));
            break;
          }
        }
      } else {
        yield* finish(line.endsWith(','));
      }
      if (!lastMore) {
        if (next() !== '},') fail('expected "}," closing "tables"');
        return;
      }

      function* finish(more: boolean): Generator<ArchiveEvent, void, undefined> {
        if (rows !== table.row_count)
          fail(`table "${name}": row_count says ${table.row_count} but the archive holds ${rows} rows`);
        lastMore = more;
        yield { kind: 'tableEnd', table, rows };
      }
    }
  }
}

function* readPlain(path: string): Generator<ArchiveEvent, void, undefined> {
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
  // JSON must be UTF-8 (RFC 8259): bytes that are not are refused, not decoded as U+FFFD.
  assertUtf8(bytes, 0, bytes.length, 0, path);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as unknown;
  } catch (error) {
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

type Fail = (message: string) => never;

function validateHeader(h: Record<string, unknown>, fail: Fail): ArchiveHeader {
  if (typeof h.database !== 'string' || h.database === '') fail('"database" must be a non-empty string');
  if (typeof h.exported_at !== 'string') fail('"exported_at" must be a string');
  if (h.format !== undefined && h.format !== ARCHIVE_FORMAT)
    fail(`unknown "format" ${JSON.stringify(h.format)}`);
  if (h.format_version !== undefined) {
    if (typeof h.format_version !== 'number' || !Number.isInteger(h.format_version))
      fail('"format_version" must be an integer');
    if (h.format_version > ARCHIVE_FORMAT_VERSION) {
      fail(
        `the archive has format_version ${String(h.format_version)}; this db-hydration reads up to ${ARCHIVE_FORMAT_VERSION}: upgrade db-hydration`,
      );
    }
  }
  if (h.file_name !== undefined && typeof h.file_name !== 'string') fail('"file_name" must be a string');
  const header: { -readonly [K in keyof ArchiveHeader]: ArchiveHeader[K] } = {
    database: h.database,
    exported_at: h.exported_at,
  };
  if (typeof h.format === 'string') header.format = h.format;
  if (typeof h.format_version === 'number') header.format_version = h.format_version;
  if (typeof h.file_name === 'string') header.file_name = h.file_name;
  if (h.pragmas !== undefined) header.pragmas = validatePragmas(h.pragmas, fail);
  return header;
}

const ENCODINGS = new Set(['UTF-8', 'UTF-16le', 'UTF-16be']);
const JOURNAL_MODES = new Set(['delete', 'truncate', 'persist', 'memory', 'wal', 'off']);

function validatePragmas(p: unknown, fail: Fail): ArchivePragmas {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return fail('"pragmas" must be an object');
  const o = p as Record<string, unknown>;
  const int32 = (key: string): number => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31)
      fail(`pragmas.${key} must be a 32-bit integer`);
    return v;
  };
  const pageSize = int32('page_size');
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0)
    fail('pragmas.page_size must be a power of two from 512 to 65536');
  const autoVacuum = int32('auto_vacuum');
  if (autoVacuum < 0 || autoVacuum > 2) fail('pragmas.auto_vacuum must be 0, 1 or 2');
  if (typeof o.encoding !== 'string' || !ENCODINGS.has(o.encoding))
    fail('pragmas.encoding must be UTF-8, UTF-16le or UTF-16be');
  if (typeof o.journal_mode !== 'string' || !JOURNAL_MODES.has(o.journal_mode))
    fail('pragmas.journal_mode is not a journal mode');
  return {
    application_id: int32('application_id'),
    auto_vacuum: autoVacuum,
    encoding: o.encoding as ArchivePragmas['encoding'],
    journal_mode: o.journal_mode,
    page_size: pageSize,
    user_version: int32('user_version'),
  };
}

const KINDS = new Set<TableKind>(['table', 'virtual', 'shadow']);

function validateTableMeta(name: string, meta: unknown, fail: Fail): ArchiveTableMeta {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta))
    return fail(`table "${name}" must be an object`);
  const m = meta as Record<string, unknown>;
  if (typeof m.schema !== 'string') fail(`table "${name}": "schema" must be a string`);
  const rc = m.row_count;
  if (typeof rc !== 'number' || !Number.isSafeInteger(rc) || rc < 0)
    fail(`table "${name}": "row_count" must be a non-negative integer`);
  if (!Array.isArray(m.rows) || m.rows.length !== 0) fail(`table "${name}": "rows" must be an array`);
  const type = m.type ?? 'table';
  if (typeof type !== 'string' || !KINDS.has(type as TableKind))
    fail(`table "${name}": unknown "type" ${JSON.stringify(type)}`);
  if (m.rowid_key !== undefined && (typeof m.rowid_key !== 'string' || m.rowid_key === '')) {
    fail(`table "${name}": "rowid_key" must be a non-empty string`);
  }
  const table: { -readonly [K in keyof ArchiveTableMeta]: ArchiveTableMeta[K] } = {
    name,
    schema: m.schema,
    type: type as TableKind,
    row_count: rc,
  };
  if (typeof m.rowid_key === 'string') table.rowid_key = m.rowid_key;
  return table;
}

function validateFooter(f: Record<string, unknown>, fail: Fail): ArchiveFooter {
  const sequences: unknown = f.sequences ?? {};
  if (typeof sequences !== 'object' || sequences === null || Array.isArray(sequences))
    return fail('"sequences" must be an object');
  const objects = f.objects ?? [];
  if (!Array.isArray(objects)) return fail('"objects" must be an array');
  const checked: ArchiveObject[] = objects.map((o: unknown, i) => {
    if (typeof o !== 'object' || o === null) return fail(`objects[${i}] must be an object`);
    const r = o as Record<string, unknown>;
    if (r.type !== 'index' && r.type !== 'view' && r.type !== 'trigger')
      return fail(`objects[${i}].type must be index, view or trigger`);
    if (typeof r.name !== 'string' || typeof r.tbl_name !== 'string' || typeof r.sql !== 'string') {
      return fail(`objects[${i}] needs string "name", "tbl_name" and "sql"`);
    }
    return { type: r.type, name: r.name, tbl_name: r.tbl_name, sql: r.sql };
  });
  const footer: { -readonly [K in keyof ArchiveFooter]: ArchiveFooter[K] } = {
    sequences: sequences as Record<string, unknown>,
    objects: checked,
  };
  if (f.schema_order !== undefined) footer.schema_order = validateSchemaOrder(f.schema_order, fail);
  return footer;
}

const SCHEMA_TYPES = new Set(['table', 'index', 'view', 'trigger']);

function validateSchemaOrder(order: unknown, fail: Fail): ArchiveSchemaEntry[] {
  if (!Array.isArray(order)) return fail('"schema_order" must be an array');
  const seen = new Set<string>();
  return order.map((e: unknown, i) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e))
      return fail(`schema_order[${i}] must be an object`);
    const r = e as Record<string, unknown>;
    if (typeof r.type !== 'string' || !SCHEMA_TYPES.has(r.type) || typeof r.name !== 'string')
      return fail(`schema_order[${i}] needs "type" (table, index, view or trigger) and a string "name"`);
    const key = `${r.type}\u0000${r.name}`;
    if (seen.has(key)) fail(`schema_order lists ${r.type} "${r.name}" twice`);
    seen.add(key);
    return { type: r.type as ArchiveSchemaEntry['type'], name: r.name };
  });
}

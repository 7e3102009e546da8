/**
 * Field checks for the parts of an archive (header, pragmas, table header, footer): shared by the streaming and the
 * plain reader. Archives come from other people's commits, so every field's type is checked.
 */
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

/** Reports a malformed part; never returns. */
export type Fail = (message: string) => never;

export function validateHeader(h: Record<string, unknown>, fail: Fail): ArchiveHeader {
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

export function validatePragmas(p: unknown, fail: Fail): ArchivePragmas {
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

export function validateTableMeta(name: string, meta: unknown, fail: Fail): ArchiveTableMeta {
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

export function validateFooter(f: Record<string, unknown>, fail: Fail): ArchiveFooter {
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

export function validateSchemaOrder(order: unknown, fail: Fail): ArchiveSchemaEntry[] {
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

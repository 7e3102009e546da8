/**
 * Per-table content hashes of an archive, for the manifest: each table's SHA-256 over its schema and its rows, taken
 * from the archive's plain lines (so the same for `shop.json` and `shop.json.gz`, on any machine, at any time).
 *
 * A table's hash covers, in archive order, each line of its section (its header line, with the table's name, `schema`,
 * `type`, `rowid_key` and `row_count`, then one line per row), then each line of `objects` whose `tbl_name` is the
 * table (its indexes and triggers; views are objects of their own name), each line without a trailing comma and
 * followed by `\n`. Commas are left out because they depend on the table's place in the file, not on its content.
 */
import { createHash, type Hash } from 'node:crypto';
import { readLines } from './read-lines.js';
import { codecOfFile, readPlainRange } from './archive-file.js';
import { archiveContentHash, tableOf } from './content-comparison.js';
import { isEncryptedCodec } from './age-codec.js';

/** One table's entry: rows and content hash. */
export interface TableContentHash {
  readonly rows: number;
  readonly content_sha256: string;
}

/**
 * The per-table hashes of an archive, in the archive's table order, streaming its lines.
 * @returns undefined for an archive not in the streaming layout (a basic-format file, one line per table or less)
 * @throws {ArchiveFormatError} when the file is not valid UTF-8 or a compressed file is damaged
 */
export function archiveTableHashes(path: string): Record<string, TableContentHash> | undefined {
  const tables = new Map<string, { hash: Hash; rows: number }>();
  let state: 'header' | 'tables' | 'table' | 'after' | 'objects' = 'header';
  let current: { hash: Hash; rows: number } | undefined;
  let sawTables = false;
  for (const [, line] of readLines(path)) {
    switch (state) {
      case 'header':
        if (line === '"tables": {') {
          state = 'tables';
          sawTables = true;
        } else if (line === '"tables": {},') {
          state = 'after';
          sawTables = true;
        }
        break;
      case 'tables': {
        if (line === '}' || line === '},') {
          state = 'after';
          break;
        }
        const name = tableOf(line);
        if (name === undefined) break; // a conflict marker or a line this reader does not know: left out
        current = { hash: createHash('sha256'), rows: 0 };
        tables.set(name, current);
        current.hash.update(`${withoutComma(line)}\n`);
        if (!line.endsWith('[]}') && !line.endsWith('[]},')) state = 'table';
        break;
      }
      case 'table':
        if (current === undefined) break;
        current.hash.update(`${withoutComma(line)}\n`);
        if (line === ']}' || line === ']},') state = 'tables';
        else current.rows++;
        break;
      case 'after':
        if (line === '"objects": [') state = 'objects';
        break;
      case 'objects': {
        if (line === ']' || line === '],') {
          state = 'after';
          break;
        }
        const owner = tables.get(objectTable(line) ?? '');
        owner?.hash.update(`${withoutComma(line)}\n`);
        break;
      }
    }
  }
  if (!sawTables) return undefined;
  const out: Record<string, TableContentHash> = Object.create(null) as Record<string, TableContentHash>;
  for (const [name, t] of tables) out[name] = { rows: t.rows, content_sha256: t.hash.digest('hex') };
  return out;
}

/**
 * One table's hash, as {@link archiveTableHashes} computes it, from its section of a plain archive (the byte range
 * from its header line to its closing `]}`) and its `objects` lines: for an export that knows where it wrote each
 * table, without reading the other tables' lines. A row line never holds a raw newline (JSON escapes it), so a line's
 * trailing comma is a `,` just before a `\n`.
 */
export function sectionTableHash(
  path: string,
  section: { start: number; end: number },
  objectLines: readonly string[],
): TableContentHash {
  const hash = createHash('sha256');
  let newlines = 0;
  const held = { comma: false }; // a `,` held back from the end of the previous chunk
  let at = section.start;
  readPlainRange(path, section, Buffer.allocUnsafe(1 << 20), (whole) => {
    at += whole.length;
    let chunk = whole;
    if (held.comma) {
      if (chunk[0] !== 0x0a) hash.update(',');
      held.comma = false;
    }
    if (chunk[chunk.length - 1] === 0x2c && at < section.end) {
      chunk = chunk.subarray(0, chunk.length - 1);
      held.comma = true;
    }
    let from = 0;
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) {
      newlines++;
      if (i > 0 && chunk[i - 1] === 0x2c) {
        hash.update(chunk.subarray(from, i - 1));
        from = i;
      }
    }
    hash.update(chunk.subarray(from));
  });
  if (held.comma) hash.update(',');
  hash.update('\n');
  for (const line of objectLines) hash.update(`${line}\n`);
  // Lines: the header, one per row, the closing `]}`; a table without rows has one line.
  return { rows: Math.max(0, newlines - 1), content_sha256: hash.digest('hex') };
}

function withoutComma(line: string): string {
  return line.endsWith(',') ? line.slice(0, -1) : line;
}

/** The `tbl_name` of an `objects` line, else undefined. */
function objectTable(line: string): string | undefined {
  try {
    const o = JSON.parse(withoutComma(line)) as { tbl_name?: unknown; type?: unknown };
    return o.type !== 'view' && typeof o.tbl_name === 'string' ? o.tbl_name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What the manifest records of an archive's content: its codec, content hash and per-table hashes. An encrypted
 * archive's entry has its codec only: a hash of its plaintext in a committed file would let anyone without the key
 * confirm a guess of its content (docs/encryption.md).
 */
export interface ArchiveContentFields {
  readonly codec: string;
  readonly content_sha256?: string;
  readonly tables?: Record<string, TableContentHash>;
}

/**
 * The manifest's content fields of an archive file. `contentSha256`, when the caller has it (the writer hashed the
 * content as it wrote it), saves a read; the table hashes take one read of the archive.
 */
export function archiveContentFields(path: string, contentSha256?: string): ArchiveContentFields {
  const codec = codecOfFile(path);
  if (isEncryptedCodec(codec)) return { codec: codec.name };
  const tables = archiveTableHashes(path);
  return {
    codec: codec.name,
    content_sha256: contentSha256 ?? archiveContentHash(path),
    ...(tables === undefined ? {} : { tables }),
  };
}

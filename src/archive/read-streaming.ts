/**
 * The streaming reader: db-hydration's own layout (docs/archive-format.md), read line by line with constant memory.
 * Each member of the header and the footer, each table header and each row is one line; the lines must join into
 * one valid JSON document exactly as they are (no trailing commas, no missing ones, nothing after the end).
 *
 * Lines that are merge-conflict markers (`<<<<<<<`, `|||||||`, `=======`, `>>>>>>>`) are reported as such, with the
 * way to resolve them, rather than as invalid JSON.
 */
import { ArchiveFormatError } from '../errors.js';
import type { ArchiveEvent, ReadArchiveOptions } from './read-archive.js';
import { LineReader } from './read-lines.js';
import { isConflictMarker, UNRESOLVED_CONFLICT_HINT } from './conflict-markers.js';
import { validateFooter, validateHeader, validateTableMeta } from './validate-archive.js';
import type { ArchiveTableMeta } from './format.js';

/** The lines of one archive, with the number of the current one for messages. */
class LineCursor {
  private readonly lines: LineReader;
  lineNumber = 0;
  private current = '';

  constructor(
    readonly path: string,
    onBytes?: (bytes: Buffer) => void,
  ) {
    this.lines = new LineReader(path, onBytes);
  }

  /** Releases the file. */
  close(): void {
    this.lines.close();
  }

  fail = (message: string): never => {
    if (isConflictMarker(this.current)) {
      throw new ArchiveFormatError(`line ${this.lineNumber}: unresolved merge conflict marker`, {
        file: this.path,
        hint: UNRESOLVED_CONFLICT_HINT,
      });
    }
    throw new ArchiveFormatError(`line ${this.lineNumber}: ${message}`, { file: this.path });
  };

  next(): string {
    const line = this.lines.next();
    if (line === undefined) return this.fail('the archive ends too early (truncated?)');
    this.lineNumber = this.lines.lineNumber;
    this.current = line;
    return line;
  }

  /** Consumes the rest of the file, which may hold only white space (JSON allows it). */
  expectEnd(): void {
    for (let rest = this.lines.next(); rest !== undefined; rest = this.lines.next()) {
      this.lineNumber = this.lines.lineNumber;
      this.current = rest;
      if (rest.trim() !== '') this.fail('unexpected content after the end of the archive');
    }
  }

  parse(text: string, what: string): unknown {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      return this.fail(`${what} is not valid JSON (${(error as Error).message})`);
    }
  }

  /** One `"key": value` member on its own line. */
  member(line: string, what: string): [string, unknown] {
    const obj = this.parse(`{${line}}`, what);
    const entries = Object.entries(obj as Record<string, unknown>);
    if (entries.length !== 1) this.fail(`expected one ${what} on this line`);
    return entries[0] as [string, unknown];
  }
}

/** Reads an archive in the streaming layout as events. @throws {ArchiveFormatError} naming the file and line */
export function* readStreaming(
  path: string,
  options: ReadArchiveOptions,
): Generator<ArchiveEvent, void, undefined> {
  const cursor = new LineCursor(path, options.onBytes);
  try {
    if (cursor.next() !== '{') cursor.fail('expected "{" on the first line');
    const header: Record<string, unknown> = {};
    for (;;) {
      const line = cursor.next();
      if (line === '"tables": {' || line === '"tables": {},') {
        yield { kind: 'header', header: validateHeader(header, cursor.fail), plain: false };
        if (line === '"tables": {') yield* readTables(cursor, options);
        break;
      }
      if (!line.endsWith(',')) cursor.fail('expected a header member ending with ","');
      const [key, value] = cursor.member(line.slice(0, -1), 'header member');
      if (Object.hasOwn(header, key)) cursor.fail(`duplicate header member "${key}"`);
      header[key] = value;
    }
    const footer = readFooter(cursor);
    cursor.expectEnd();
    yield { kind: 'footer', footer: validateFooter(footer, cursor.fail) };
  } finally {
    cursor.close();
  }
}

/** The members after `tables`: one per line, arrays with one item per line. */
function readFooter(cursor: LineCursor): Record<string, unknown> {
  const footer: Record<string, unknown> = {};
  for (;;) {
    const line = cursor.next();
    if (line === '}') return footer;
    const text = line.endsWith('[') ? readArrayMember(cursor, line) : line;
    const more = text.endsWith(',');
    const [key, value] = cursor.member(more ? text.slice(0, -1) : text, 'footer member');
    if (Object.hasOwn(footer, key)) cursor.fail(`duplicate member "${key}"`);
    footer[key] = value;
    if (!more) {
      if (cursor.next() !== '}') cursor.fail('expected "}" closing the archive');
      return footer;
    }
  }
}

/** An array member opened by `line` (ending with `[`), its items one per line: the member as one line of text. */
function readArrayMember(cursor: LineCursor, line: string): string {
  const items: string[] = [];
  // Each item but the last ends with a comma, the last with none: the lines must join into valid JSON as they are.
  let comma = true;
  for (;;) {
    const item = cursor.next();
    if (item === ']' || item === '],') {
      if (items.length > 0 && comma)
        cursor.fail('a comma after the last item of an array (JSON allows none)');
      return `${line}${items.join(',')}]${item === '],' ? ',' : ''}`;
    }
    if (!comma) cursor.fail('expected a comma at the end of the previous line');
    comma = item.endsWith(',');
    items.push(comma ? item.slice(0, -1) : item);
  }
}

/** The `tables` member after its opening line: each table's header line, its rows, its end. */
function* readTables(
  cursor: LineCursor,
  options: ReadArchiveOptions,
): Generator<ArchiveEvent, void, undefined> {
  const seen = new Set<string>();
  let lastMore = false;
  for (;;) {
    const line = cursor.next();
    if (line === '},') {
      if (seen.size > 0 && lastMore) cursor.fail('a comma after the last table (JSON allows none)');
      return;
    }
    if (line === '}') return cursor.fail('the archive ends after "tables" without "sequences" and "objects"');
    const withRows = line.endsWith('"rows": [');
    const text = withRows ? `${line}]}` : line.endsWith(',') ? line.slice(0, -1) : line;
    const [name, meta] = cursor.member(text, 'table header');
    if (seen.has(name)) cursor.fail(`table "${name}" appears twice`);
    seen.add(name);
    const table = validateTableMeta(name, meta, cursor.fail);
    yield { kind: 'table', table };
    const end = withRows ? yield* readRows(cursor, table, options) : { rows: 0, more: line.endsWith(',') };
    if (end.rows !== table.row_count)
      cursor.fail(
        `table "${name}": row_count says ${table.row_count} but the archive holds ${end.rows} rows`,
      );
    lastMore = end.more;
    yield { kind: 'tableEnd', table, rows: end.rows };
    if (!lastMore) {
      if (cursor.next() !== '},') cursor.fail('expected "}," closing "tables"');
      return;
    }
  }
}

/** A table's rows, one per line, up to its closing `]}`; returns how many and whether another table follows. */
function* readRows(
  cursor: LineCursor,
  table: ArchiveTableMeta,
  options: ReadArchiveOptions,
): Generator<ArchiveEvent, { rows: number; more: boolean }, undefined> {
  const name = table.name;
  let rows = 0;
  for (;;) {
    const rowLine = cursor.next();
    if (rowLine === ']},' || rowLine === ']}') {
      // Reached here only after a row ending with a comma (or none at all).
      return cursor.fail(
        rows === 0
          ? `table "${name}": a "rows" array opened on its own line must hold rows`
          : `table "${name}": a comma after its last row (JSON allows none)`,
      );
    }
    const more = rowLine.endsWith(',');
    if (options.lazyRows === true && options.skipRows !== true) {
      const text = more ? rowLine.slice(0, -1) : rowLine;
      if (!text.startsWith('{') || !text.endsWith('}'))
        cursor.fail(`a row of table "${name}" is not a JSON object`);
      yield lazyRow(cursor.path, name, cursor.lineNumber, text);
    } else if (options.skipRows !== true) {
      const text = more ? rowLine.slice(0, -1) : rowLine;
      const row = cursor.parse(text, `a row of table "${name}"`);
      if (typeof row !== 'object' || row === null || Array.isArray(row))
        cursor.fail(`a row of table "${name}" is not a JSON object`);
      yield { kind: 'row', row: row as Record<string, unknown>, line: cursor.lineNumber, text };
    } else if (!rowLine.startsWith('{') || !rowLine.endsWith(more ? '},' : '}')) {
      cursor.fail(`a row of table "${name}" is not a JSON object`);
    }
    rows++;
    if (!more) {
      const close = cursor.next();
      if (close !== ']},' && close !== ']}')
        cursor.fail(`expected "]}" after the last row of table "${name}"`);
      return { rows, more: close.endsWith(',') };
    }
  }
}

/**
 * A row event whose `row` is parsed when first read (a class, so the getter lives on the prototype: one small object
 * per row). It is also a cursor row: `values` is `row`.
 */
class LazyRowEvent {
  readonly kind = 'row';
  private parsed: Readonly<Record<string, unknown>> | undefined;

  constructor(
    private readonly path: string,
    private readonly table: string,
    readonly line: number,
    readonly text: string,
  ) {}

  get row(): Readonly<Record<string, unknown>> {
    return (this.parsed ??= this.parse());
  }

  get values(): Readonly<Record<string, unknown>> {
    return this.row;
  }

  private parse(): Readonly<Record<string, unknown>> {
    let value: unknown;
    try {
      value = JSON.parse(this.text) as unknown;
    } catch (error) {
      throw new ArchiveFormatError(
        `line ${this.line}: a row of table "${this.table}" is not valid JSON (${(error as Error).message})`,
        { file: this.path, table: this.table },
      );
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ArchiveFormatError(`line ${this.line}: a row of table "${this.table}" is not a JSON object`, {
        file: this.path,
        table: this.table,
      });
    }
    return value as Record<string, unknown>;
  }
}

function lazyRow(path: string, table: string, line: number, text: string): ArchiveEvent {
  return new LazyRowEvent(path, table, line, text);
}

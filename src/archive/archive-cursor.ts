/**
 * An archive read table by table: the header, then each table's metadata and its rows on demand, then the footer.
 * Cursors advanced side by side are what a row-level diff and a three-way merge walk; only the current row is in
 * memory.
 */
import { ArchiveFormatError } from '../errors.js';
import type { ArchiveFooter, ArchiveHeader, ArchiveTableMeta } from './format.js';
import { readArchive, type ArchiveEvent } from './read-archive.js';

/** One row of an archive as read: its members (column → JSON value) and the file line it is on. */
export interface CursorRow {
  readonly values: Readonly<Record<string, unknown>>;
  readonly line: number;
  /** The row's JSON text as the archive holds it (a plain archive's rows are stringified). */
  readonly text: string;
}

/** Reads one archive forward, a table at a time. */
export class ArchiveCursor {
  readonly header: ArchiveHeader;
  /** Whether the archive is in the plain (basic) shape, whose tables and rows may come in any order. */
  readonly plain: boolean;
  private readonly events: Generator<ArchiveEvent, void, undefined>;
  private inTable = false;
  private footerSeen: ArchiveFooter | undefined;

  /** `lazyRows`: rows are parsed only when their `values` are read (see {@link ReadArchiveOptions.lazyRows}). */
  constructor(
    readonly path: string,
    options: { readonly lazyRows?: boolean } = {},
  ) {
    this.events = readArchive(path, options);
    const first = this.events.next();
    if (first.done === true || first.value.kind !== 'header')
      throw new ArchiveFormatError('the archive has no header', { file: path });
    this.header = first.value.header;
    this.plain = first.value.plain;
  }

  /** The next table (skipping what is left of the current one), or `undefined` once the tables are done. */
  nextTable(): ArchiveTableMeta | undefined {
    while (this.inTable) this.nextRow();
    if (this.footerSeen !== undefined) return undefined;
    const r = this.events.next();
    if (r.done === true)
      throw new ArchiveFormatError('the archive ends without its footer', { file: this.path });
    if (r.value.kind === 'table') {
      this.inTable = true;
      return r.value.table;
    }
    if (r.value.kind === 'footer') {
      this.footerSeen = r.value.footer;
      return undefined;
    }
    throw new ArchiveFormatError(`unexpected ${r.value.kind} between tables`, { file: this.path });
  }

  /** The next row of the current table, or `undefined` at its end. */
  nextRow(): CursorRow | undefined {
    if (!this.inTable) return undefined;
    const r = this.events.next();
    if (r.done === true) throw new ArchiveFormatError('the archive ends inside a table', { file: this.path });
    if (r.value.kind === 'row') {
      const event = r.value;
      // A lazily parsed row is a cursor row already (its `values` parse on first read).
      if ('values' in event) return event as unknown as CursorRow;
      return { values: event.row, line: event.line, text: event.text ?? JSON.stringify(event.row) };
    }
    this.inTable = false;
    return undefined;
  }

  /** The footer: sequences, objects, schema order. Reads past any tables not yet read. */
  footer(): ArchiveFooter {
    while (this.nextTable() !== undefined);
    if (this.footerSeen === undefined)
      throw new ArchiveFormatError('the archive ends without its footer', { file: this.path });
    return this.footerSeen;
  }

  /** Stops reading (closes the file). */
  close(): void {
    this.events.return(undefined);
  }
}

/**
 * Loading an archive into a new, empty database, event by event: file settings from the header, then each table's
 * schema and rows, then (at the footer) the counters, indexes, views and triggers, so triggers never fire during the
 * load. The caller owns the connection and the file.
 */
import type Database from 'better-sqlite3';
import { ArchiveFormatError } from '../errors.js';
import type {
  ArchiveFooter,
  ArchiveHeader,
  ArchiveSchemaEntry,
  ArchiveTableMeta,
} from '../archive/format.js';
import type { ProgressListener } from '../progress.js';
import { quoteIdent } from '../sqlite/identifiers.js';
import { readArchive, type ArchiveEvent } from '../archive/read-archive.js';
import { ArchiveHasher } from '../archive/content-comparison.js';
import { applyCreate } from './apply-schema.js';
import { RowImporter, type RejectedRow } from './import-rows.js';
import { maxPagesFor } from './build-limits.js';
import {
  applySequences,
  createStatTable,
  finishDatabase,
  isStatTable,
  setSequenceRows,
} from './finish-database.js';

/** What {@link loadArchive} needs to know. */
export interface LoadArchiveOptions {
  readonly archivePath: string;
  /** Called with the archive header before anything is built; may throw to refuse the archive. */
  readonly checkHeader?: ((header: ArchiveHeader) => void) | undefined;
  readonly onProgress?: ProgressListener | undefined;
  /** The smallest growth bound in bytes (see build-limits.ts); tests lower it. */
  readonly growthFloorBytes?: number | undefined;
}

/** What was loaded. */
export interface LoadOutcome {
  readonly header: ArchiveHeader;
  readonly tablesImported: number;
  readonly totalRows: number;
  readonly rowsPerTable: Readonly<Record<string, number>>;
  readonly rejectedRows: readonly RejectedRow[];
  /** The archive's SHA-256 and content hash, computed from the bytes as they were read (the sync state records them). */
  readonly archiveHashes: { readonly sha256: string; readonly contentHash: string };
}

const PROGRESS_EVERY = 8192;

/** Loads the archive into `db`, a new, empty database, and commits. */
export function loadArchive(db: Database.Database, options: LoadArchiveOptions): LoadOutcome {
  return new ArchiveLoader(db, options).load();
}

class ArchiveLoader {
  private readonly file: string;
  private header: ArchiveHeader | undefined;
  private plain = false;
  private current: { meta: ArchiveTableMeta; importer: RowImporter | undefined } | undefined;
  private readonly rowsPerTable: Record<string, number> = {};
  private readonly rejectedRows: RejectedRow[] = [];
  private totalRows = 0;
  private tables = 0;
  private readonly statTables = new Set<string>();
  /** Rows of a table named sqlite_sequence (a plain archive from a naive exporter lists it among the tables). */
  private readonly sequenceRows: Readonly<Record<string, unknown>>[] = [];
  private inSequenceTable = false;
  private schemaOrder: readonly ArchiveSchemaEntry[] | undefined;

  constructor(
    private readonly db: Database.Database,
    private readonly options: LoadArchiveOptions,
  ) {
    this.file = options.archivePath;
  }

  load(): LoadOutcome {
    const hasher = new ArchiveHasher();
    for (const event of readArchive(this.file, {
      onBytes: (bytes) => {
        hasher.update(bytes);
      },
    }))
      this.apply(event);
    const { header, file } = this;
    if (header === undefined) throw new ArchiveFormatError('the archive has no header', { file });
    finishDatabase(this.db, header, this.statTables, this.schemaOrder, file);
    const { tables, totalRows, rowsPerTable, rejectedRows } = this;
    return {
      header,
      tablesImported: tables,
      totalRows,
      rowsPerTable,
      rejectedRows,
      archiveHashes: hasher.digest(),
    };
  }

  private apply(event: ArchiveEvent): void {
    switch (event.kind) {
      case 'header':
        this.onHeader(event.header, event.plain);
        break;
      case 'table':
        this.onTable(event.table);
        break;
      case 'row':
        this.onRow(event.row, event.line);
        break;
      case 'tableEnd':
        this.onTableEnd(event.table, event.rows);
        break;
      case 'footer':
        this.onFooter(event.footer);
        break;
    }
  }

  private progress(table: string, rowsDone: number, rowsTotal: number): void {
    this.options.onProgress?.({
      phase: 'hydrate',
      database: this.header?.database ?? '',
      table,
      rowsDone,
      rowsTotal,
    });
  }

  private onHeader(header: ArchiveHeader, plain: boolean): void {
    const db = this.db;
    this.header = header;
    this.plain = plain;
    this.options.checkHeader?.(header);
    const p = header.pragmas;
    // File settings that can only be chosen before the first table exists.
    if (p !== undefined) {
      db.pragma(`encoding = '${p.encoding}'`);
      db.pragma(`page_size = ${p.page_size}`);
      db.pragma(`auto_vacuum = ${p.auto_vacuum}`);
    }
    // A bulk load into a private temp file: an in-memory journal (cheap for a new file, and a failed statement can still roll back), no syncs (the file is synced once at the end), no
    // foreign-key enforcement (violations present in the source are reproduced, not repaired).
    db.pragma('journal_mode = MEMORY');
    db.pragma('synchronous = OFF');
    db.pragma('foreign_keys = OFF');
    db.pragma('ignore_check_constraints = ON');
    // A 4 MiB page cache: rows arrive in key order, so inserts touch few pages, and CREATE INDEX sorts in memory
    // up to this size, then in temp files. Measured at 1M rows: 8 MiB +8 MiB peak RSS, 2 MiB -5 MiB, no clear
    // difference in time; 16 MiB +12 MiB at 1M and +17 MiB at 5M. (Sorter helper threads, PRAGMA threads, were
    // measured too: a few % faster, but each keeps its own sort buffer, +32 MiB peak at 5M rows.)
    db.pragma('cache_size = -4096');
    // An archive's schema can make values larger than the archive holds (a STORED generated column or a DEFAULT
    // of zeroblob(1e9)): the file may not grow past a bound, so a hostile archive cannot fill the disk.
    const pageSize = Number(db.pragma('page_size', { simple: true }));
    db.pragma(`max_page_count = ${maxPagesFor(this.file, pageSize, this.options.growthFloorBytes)}`);
    // Shadow tables of FTS and R*Tree are read-only to ordinary SQL in defensive mode.
    db.unsafeMode(true);
    db.exec('BEGIN');
  }

  private onTable(meta: ArchiveTableMeta): void {
    const { db, file } = this;
    this.inSequenceTable = meta.name === 'sqlite_sequence' && meta.type === 'table';
    if (this.inSequenceTable) {
      // SQLite creates sqlite_sequence itself with the first AUTOINCREMENT table; its rows are the counters, set
      // once every table is loaded (see the footer).
      this.current = { meta, importer: undefined };
      return;
    }
    if (meta.type === 'shadow') {
      this.emptyShadowTable(meta);
    } else if (isStatTable(meta.name)) {
      createStatTable(db, meta, file);
      this.statTables.add(meta.name);
    } else {
      applyCreate(db, meta.type === 'virtual' ? 'virtual' : 'table', meta.name, meta.schema, file);
    }
    this.tables++;
    const importer =
      meta.type === 'virtual' ? undefined : new RowImporter(db, meta.name, meta.rowid_key, file, this.plain);
    this.current = { meta, importer };
    this.progress(meta.name, 0, meta.row_count);
  }

  /** A shadow table exists once its virtual table does: it must be created as the archive says, and is emptied. */
  private emptyShadowTable(meta: ArchiveTableMeta): void {
    const { db, file } = this;
    const exists = db
      .prepare("SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND name = ?")
      .pluck()
      .get(meta.name) as string | undefined;
    if (exists === undefined) {
      throw new ArchiveFormatError(`shadow table "${meta.name}" has no virtual table that created it`, {
        file,
        table: meta.name,
      });
    }
    if (exists !== meta.schema) {
      throw new ArchiveFormatError(
        `shadow table "${meta.name}" is created differently by this SQLite (${exists}); the archive was written by another version of its module`,
        { file, table: meta.name },
      );
    }
    db.exec(`DELETE FROM main.${quoteIdent(meta.name)}`);
  }

  private onRow(row: Readonly<Record<string, unknown>>, line: number): void {
    if (this.inSequenceTable) {
      this.sequenceRows.push(row);
      return;
    }
    const current = this.current;
    const importer = current?.importer;
    if (importer === undefined) {
      throw new ArchiveFormatError(
        `virtual table "${current?.meta.name ?? ''}" cannot hold rows in an archive (they live in its shadow tables)`,
        {
          file: this.file,
        },
      );
    }
    importer.insert(row, line);
    const done = importer.inserted + importer.rejected.length;
    if (done % PROGRESS_EVERY === 0 && current !== undefined) {
      this.progress(current.meta.name, done, current.meta.row_count);
    }
  }

  private onTableEnd(table: ArchiveTableMeta, rows: number): void {
    const importer = this.current?.importer;
    importer?.finish();
    const inserted = importer?.inserted ?? 0;
    this.rowsPerTable[table.name] = inserted;
    this.totalRows += inserted;
    this.rejectedRows.push(...(importer?.rejected ?? []));
    this.progress(table.name, rows, table.row_count);
    this.current = undefined;
  }

  private onFooter(footer: ArchiveFooter): void {
    const { db, file } = this;
    applySequences(db, footer.sequences, this.plain, file);
    if (this.sequenceRows.length > 0) setSequenceRows(db, this.sequenceRows, this.plain, file);
    for (const o of footer.objects) applyCreate(db, o.type, o.name, o.sql, file);
    this.schemaOrder = footer.schema_order;
  }
}

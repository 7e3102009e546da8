/**
 * The archive format: the basic `{"database", "exported_at", "tables": {...}}` structure, extended (never renamed)
 * with what an exact copy needs. See docs/archive-format.md for the full description and an example.
 */

/** Value of the `format` field that marks a db-hydration archive in streaming layout. */
export const ARCHIVE_FORMAT = 'db-hydration-archive';
/** The version of the layout this code writes. Readers accept this version and the plain basic shape. */
export const ARCHIVE_FORMAT_VERSION = 1;
/**
 * The revision of the writer's output: bump it whenever the same database would be written as different bytes (a
 * new member, another encoding of a value). An export skipped because the database file did not change since the
 * last one (src/sync/sync-state.ts, `exportIsCurrent`) is only skipped when that one was made by this revision.
 */
export const ARCHIVE_WRITER_REVISION = 1;

/** File settings recorded in an archive and restored on hydration. */
export interface ArchivePragmas {
  readonly application_id: number;
  readonly auto_vacuum: number;
  readonly encoding: 'UTF-8' | 'UTF-16le' | 'UTF-16be';
  readonly journal_mode: string;
  readonly page_size: number;
  readonly user_version: number;
}

/**
 * How the `exported_at` member starts its line. It is the one line that changes on every export, so it is left out
 * of an archive's content (src/archive/content-comparison.ts).
 */
export const EXPORTED_AT_PREFIX = '"exported_at": ';

/** The members of an archive that come before `tables`. */
export interface ArchiveHeader {
  readonly database: string;
  readonly exported_at: string;
  /** Absent in a plain (basic-shaped) archive. */
  readonly format?: string;
  readonly format_version?: number;
  /** The database's file name, e.g. `trading_journal.db`. Absent in a plain archive. */
  readonly file_name?: string;
  readonly pragmas?: ArchivePragmas;
}

/** What kind of table an archive entry describes. Plain tables omit the field. */
export type TableKind = 'table' | 'virtual' | 'shadow';

/** One entry of `tables`, without its rows. */
export interface ArchiveTableMeta {
  readonly name: string;
  readonly schema: string;
  /** `virtual` for a virtual table (its rows live in its shadow tables), `shadow` for a shadow table. */
  readonly type: TableKind;
  /** The key under which each row carries its rowid, for rowid tables without an INTEGER PRIMARY KEY. */
  readonly rowid_key?: string;
  readonly row_count: number;
}

/** An index, view or trigger: a row of sqlite_schema other than a table. */
export interface ArchiveObject {
  readonly type: 'index' | 'view' | 'trigger';
  readonly name: string;
  readonly tbl_name: string;
  readonly sql: string;
}

/** One entry of `schema_order`: a row of sqlite_schema, by type and name. */
export interface ArchiveSchemaEntry {
  readonly type: 'table' | 'index' | 'view' | 'trigger';
  readonly name: string;
}

/** The members of an archive that come after `tables`. */
export interface ArchiveFooter {
  /** sqlite_sequence: table name → encoded value (JSON). */
  readonly sequences: Readonly<Record<string, unknown>>;
  readonly objects: readonly ArchiveObject[];
  /**
   * The order of the source's sqlite_schema (its creation order, which `.schema` and `.dump` show): every entry with
   * SQL text that the archive creates. Absent in archives written before it was added; their objects are then left
   * in the order they are created.
   */
  readonly schema_order?: readonly ArchiveSchemaEntry[];
}

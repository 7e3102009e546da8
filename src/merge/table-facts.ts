/**
 * What the merge and the diff need to know about a table that they only have as archive text: its stored columns
 * (in row order) and its key. SQLite itself is asked: the table's CREATE statement is run in a private in-memory
 * database and its catalog read, so the key is exactly the one the archive writer ordered rows by.
 */
import Database from 'better-sqlite3';
import type { ArchiveTableMeta } from '../archive/format.js';
import { applyCreate } from '../hydrate/apply-schema.js';
import { readColumns, readTableList } from '../sqlite/catalog.js';
import { readTableKey, type KeyColumn } from '../sqlite/table-key.js';
import { quoteIdent } from '../sqlite/identifiers.js';

/** A table's key in archive rows: the row members that hold it. */
export interface RowKey {
  /** Whether the key is the rowid (one integer member: the INTEGER PRIMARY KEY column or the `rowid_key`). */
  readonly rowid: boolean;
  readonly columns: readonly KeyColumn[];
}

/** A table as the merge sees it. */
export interface TableFacts {
  /** The members of each row, in order: the `rowid_key` (if any), then the stored columns. */
  readonly members: readonly string[];
  /** The key, or `undefined` when rows have none usable (virtual, shadow and statistics tables, hidden rowids). */
  readonly key: RowKey | undefined;
  /**
   * For a rowid table that also declares a PRIMARY KEY of other columns (`email TEXT PRIMARY KEY`): those columns.
   * Rows are matched by rowid (the archive's order), but a row whose declared key differs between two versions is
   * a different row (one was deleted and another inserted at the same rowid), never a change of the same row.
   */
  readonly identity?: readonly string[] | undefined;
}

const NO_KEY: TableFacts = { members: [], key: undefined };

/**
 * Learns tables from their archive metadata. The result is cached by schema text, so call it once per archive and
 * table; a schema SQLite cannot create here (an application's collation or module) yields a table with no key.
 */
export class TableFactsCache {
  private readonly cache = new Map<string, TableFacts>();
  private db: Database.Database | undefined;

  constructor(private readonly file: string) {}

  /** The facts of one table. */
  of(meta: ArchiveTableMeta): TableFacts {
    if (meta.type !== 'table' || meta.name.startsWith('sqlite_')) return NO_KEY;
    const id = `${meta.rowid_key ?? ''}\u0000${meta.schema}`;
    let facts = this.cache.get(id);
    if (facts === undefined) {
      facts = this.learn(meta);
      this.cache.set(id, facts);
    }
    return facts;
  }

  private learn(meta: ArchiveTableMeta): TableFacts {
    const db = (this.db ??= new Database(':memory:'));
    try {
      for (const t of readTableList(db)) {
        if (t.type === 'table' && !t.name.startsWith('sqlite_'))
          db.exec(`DROP TABLE main.${quoteIdent(t.name)}`);
      }
      applyCreate(db, 'table', meta.name, meta.schema, this.file);
      const listed = readTableList(db).find((t) => t.name === meta.name);
      const columns = readColumns(db, meta.name);
      const stored = columns.filter((c) => c.hidden === 0).map((c) => c.name);
      const key = readTableKey(db, meta.name, listed?.wr === 1);
      const members = meta.rowid_key === undefined ? stored : [meta.rowid_key, ...stored];
      if (key.kind === 'primaryKey') {
        return {
          members,
          key: key.columns.length === 0 ? undefined : { rowid: false, columns: key.columns },
        };
      }
      const column = key.alias ?? meta.rowid_key;
      if (column === undefined) return { members, key: undefined };
      const declared = columns
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name);
      return {
        members,
        key: { rowid: true, columns: [{ name: column, collation: 'BINARY', descending: false }] },
        ...(key.alias === undefined && declared.length > 0 ? { identity: declared } : {}),
      };
    } catch {
      // A schema this SQLite cannot create (an application's collation, function or module): no known key.
      return NO_KEY;
    }
  }

  /** Closes the private database. */
  close(): void {
    this.db?.close();
    this.db = undefined;
  }
}

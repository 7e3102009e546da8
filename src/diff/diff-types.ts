/** What a row-level diff reports: one change at a time, keyed by table and primary key. */

/** A cell as the archive writes it (its JSON text, e.g. `2.5`, `"BTC"`, `{"$blob":"AP8="}`, `null`). */
export type CellText = string;

/** One column of a changed row: its value before and after (absent where the column does not exist on that side). */
export interface CellChange {
  readonly column: string;
  readonly old?: CellText;
  readonly new?: CellText;
}

/** One difference between two versions of a database. */
export type DiffChange =
  /** A file setting (`user_version`, `page_size`, …) differs. */
  | { readonly kind: 'pragma'; readonly name: string; readonly old?: CellText; readonly new?: CellText }
  /** A table exists on one side only; its rows follow as `row-added` / `row-removed`. */
  | { readonly kind: 'table-added' | 'table-removed'; readonly table: string; readonly schema: string }
  /** A table's `CREATE` statement differs. */
  | { readonly kind: 'schema'; readonly table: string; readonly old: string; readonly new: string }
  /** A row exists on one side only: its key and every cell. */
  | {
      readonly kind: 'row-added' | 'row-removed';
      readonly table: string;
      readonly key: string;
      readonly cells: Readonly<Record<string, CellText>>;
    }
  /** A row exists on both sides with different cells: only the columns that differ. */
  | {
      readonly kind: 'row-changed';
      readonly table: string;
      readonly key: string;
      readonly cells: readonly CellChange[];
    }
  /** An index, view or trigger was added, removed or changed. */
  | {
      readonly kind: 'object';
      readonly type: 'index' | 'view' | 'trigger';
      readonly name: string;
      readonly old?: string;
      readonly new?: string;
    }
  /** An AUTOINCREMENT counter (sqlite_sequence) differs. */
  | { readonly kind: 'sequence'; readonly table: string; readonly old?: CellText; readonly new?: CellText };

/** Counts of a diff, per kind of row change. */
export interface DiffSummary {
  readonly rowsAdded: number;
  readonly rowsRemoved: number;
  readonly rowsChanged: number;
  /** Tables whose rows or schema differ, in name order. */
  readonly tables: readonly string[];
  /** Changes that are not rows: settings, schema, objects, counters. */
  readonly otherChanges: number;
}

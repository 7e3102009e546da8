/**
 * The three-way merge's contract: what it takes (three archive files and where to write), and what it reports (the
 * conflicts it marked). Used by the git merge driver (`db-hydration git merge`) and by `db-hydration sync`.
 */
import type { ArchiveCodec } from '../archive/codec.js';

/** What kind of disagreement a conflict is. */
export type MergeConflictKind =
  /** Both sides changed the same cell to different values. */
  | 'cell'
  /** One side deleted a row the other changed. */
  | 'delete-change'
  /** Both sides inserted the same key with different content. */
  | 'insert-insert'
  /** The merged rows break a UNIQUE, NOT NULL, CHECK or foreign key constraint that neither side broke alone. */
  | 'constraint'
  /** Both sides changed a table's schema, or an object (index, view, trigger), differently; or a row cannot follow. */
  | 'schema'
  /** Both sides changed a file setting (pragma) or an AUTOINCREMENT counter differently. */
  | 'setting'
  /** A table without a usable key (rowids hidden by columns, shadow tables) changed on both sides. */
  | 'table';

/** One conflict, with enough to resolve it by hand: where, and the three values. */
export interface MergeConflict {
  readonly kind: MergeConflictKind;
  readonly database: string;
  readonly table?: string | undefined;
  /** The row's primary key as `column=value` pairs, e.g. `id=3` or `(a=1, b='x')`. */
  readonly key?: string | undefined;
  readonly column?: string | undefined;
  /** The value (JSON text of the encoded value, or a row's JSON text) in each version; absent where it does not exist. */
  readonly base?: string | undefined;
  readonly ours?: string | undefined;
  readonly theirs?: string | undefined;
  /** One sentence for a person. */
  readonly message: string;
  /**
   * For a `constraint` conflict: the rows involved, each as its JSON text or as `key:<key>`, so that the merge can
   * mark them in the output.
   */
  readonly rows?: readonly string[] | undefined;
}

/** Options of {@link mergeArchives}. */
export interface MergeArchivesOptions {
  /** The common ancestor's archive (git's `%O`). A missing file is an empty base (both sides added the archive). */
  readonly base: string;
  /** Our archive (git's `%A`). */
  readonly ours: string;
  /** Their archive (git's `%B`). */
  readonly theirs: string;
  /** Where to write the merged archive; may be `ours`. It is replaced atomically. */
  readonly output: string;
  /** Labels for the conflict markers (git's `%S`, `%X`, `%Y`); default `ours`, `base`, `theirs`. */
  readonly labels?: { readonly ours?: string; readonly base?: string; readonly theirs?: string };
  /** Write the base row between `|||||||` and `=======` in conflict blocks (git's `merge.conflictStyle=diff3`). */
  readonly diff3?: boolean;
  /** Skip checking the merged rows against the schema's constraints (faster; for tests and benchmarks). */
  readonly skipConstraintCheck?: boolean;
  /**
   * The codec of the output (`GZIP_CODEC` for a `.json.gz` archive). Default: the output's name's codec, else (git's
   * temp file, which is OURS) the codec OURS is in. Inputs are read in whatever codec each is in.
   */
  readonly codec?: ArchiveCodec;
}

/** The outcome of {@link mergeArchives}. */
export interface MergeResult {
  /** Whether the merge is clean: no conflicts; the output is then a valid archive. */
  readonly clean: boolean;
  /** Every conflict, in archive order. With conflicts, the output holds conflict markers around each marked row. */
  readonly conflicts: readonly MergeConflict[];
  /** The database name of the merged archive. */
  readonly database: string;
  /** Rows in the merged archive, by table. */
  readonly rowCounts: Readonly<Record<string, number>>;
}

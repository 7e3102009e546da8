/**
 * The export's side of table copies (table-pages.ts): which table b-trees are hashed, and what an export records of
 * its tables for the next one (each table's page hash, rows and section in the archive) and, when it copied tables,
 * the manifest's table hashes without reading the archive again.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import { objectLine, type ArchiveWriter } from '../archive/write-archive.js';
import { sectionTableHash, type TableContentHash } from '../archive/table-hashes.js';
import { ARCHIVE_WRITER_REVISION } from '../archive/format.js';
import type { PageTree } from './page-hash-protocol.js';
import type { DatabasePlan } from './read-schema.js';
import type { TablePageEntry, TablePageHashes, TablePagesRecord } from './table-pages.js';

/** The table b-trees whose pages are hashed: every table read from a b-tree of its own, with its `CREATE` text. */
export function tableTrees(db: Database.Database, plan: DatabasePlan): (PageTree & { sql: string })[] {
  const roots = new Map(
    (
      db
        .prepare("SELECT name, rootpage FROM main.sqlite_schema WHERE type = 'table'")
        .safeIntegers(false)
        .all() as { name: string; rootpage: number | null }[]
    ).map((r) => [r.name, r.rootpage ?? 0]),
  );
  return plan.tables
    .filter((t) => t.selectSql !== undefined && (roots.get(t.name) ?? 0) > 1)
    .map((t) => ({ name: t.name, root: roots.get(t.name) ?? 0, sql: t.sql }));
}

/**
 * What this export records of its tables for the next one (page hashes and sections), and, when it copied tables, the
 * manifest's table hashes (so the manifest need not read the archive).
 */
export function tableRecords(
  hashes: TablePageHashes | undefined,
  run: {
    trees: readonly (PageTree & { sql: string })[];
    plan: DatabasePlan;
    writer: ArchiveWriter;
    copied: ReadonlyMap<string, TablePageEntry>;
    written: { readonly rowsPerTable: Readonly<Record<string, number>> };
    /** The archive written, and the manifest's table hashes of the one copied from, when it lists them. */
    options: {
      readonly archivePath: string;
      readonly previousTableHashes?: Readonly<Record<string, TableContentHash>> | undefined;
    };
  },
): { tablePages?: TablePagesRecord; tableHashes?: Record<string, TableContentHash> } {
  if (hashes === undefined) return {};
  const { plan, writer, copied, options } = run;
  const tablePages = pagesRecord(hashes, run.trees, run.written.rowsPerTable, objectsDigests(plan), writer);
  if (copied.size === 0) return { tablePages };
  const tableHashes = hashesOfTables({
    archivePath: options.archivePath,
    plan,
    recorded: tablePages,
    writer,
    copied,
    previous: options.previousTableHashes,
  });
  return { tablePages, tableHashes };
}

/** The record of this export's tables for the next one: each hashed table's pages, rows and section. */
function pagesRecord(
  hashes: TablePageHashes,
  trees: readonly (PageTree & { sql: string })[],
  rows: Readonly<Record<string, number>>,
  objects: Readonly<Record<string, string>>,
  writer: ArchiveWriter,
): TablePagesRecord {
  const sections = new Map(writer.sections.map((s) => [s.name, s]));
  const tables: TablePageEntry[] = [];
  for (const tree of trees) {
    const pages = hashes.tables.get(tree.name);
    const section = sections.get(tree.name);
    if (pages === undefined || section === undefined) continue;
    tables.push({
      name: tree.name,
      root: tree.root,
      sql: tree.sql,
      pages,
      rows: rows[tree.name] ?? 0,
      start: section.start,
      end: section.end,
      objects: objects[tree.name] ?? '',
    });
  }
  return {
    writerRevision: ARCHIVE_WRITER_REVISION,
    pageSize: hashes.pageSize,
    usableSize: hashes.usableSize,
    textEncoding: hashes.textEncoding,
    tables,
  };
}

/**
 * The manifest's table hashes of an archive with copied tables: a copied table whose `objects` lines are unchanged
 * keeps the hash the manifest lists; every other table is hashed from its section (table-hashes.ts).
 */
function hashesOfTables(run: {
  archivePath: string;
  plan: DatabasePlan;
  recorded: TablePagesRecord;
  writer: ArchiveWriter;
  copied: ReadonlyMap<string, TablePageEntry>;
  previous: Readonly<Record<string, TableContentHash>> | undefined;
}): Record<string, TableContentHash> {
  const { archivePath, plan, recorded, writer, copied } = run;
  // Each table's `objects` digest now, as this export records it for the next one.
  const objects = new Map(recorded.tables.map((t) => [t.name, t.objects]));
  const out: Record<string, TableContentHash> = Object.create(null) as Record<string, TableContentHash>;
  for (const section of writer.sections) {
    const kept = run.previous?.[section.name];
    const entry = copied.get(section.name);
    if (kept !== undefined && entry !== undefined && entry.objects === objects.get(section.name)) {
      out[section.name] = kept;
      continue;
    }
    const lines = plan.objects
      .filter((o) => o.type !== 'view' && o.tbl_name === section.name)
      .map((o) => objectLine(o));
    out[section.name] = sectionTableHash(archivePath, section, lines);
  }
  return out;
}

/** Per table, the SHA-256 of its `objects` lines as the manifest's table hash covers them (table-hashes.ts). */
function objectsDigests(plan: DatabasePlan): Record<string, string> {
  const out: Record<string, string> = {};
  for (const table of plan.tables) {
    const hash = createHash('sha256');
    for (const o of plan.objects)
      if (o.type !== 'view' && o.tbl_name === table.name) hash.update(`${objectLine(o)}\n`);
    out[table.name] = hash.digest('hex');
  }
  return out;
}

/**
 * Round-trip harness for exactness tests: build a database in `<tmp>/data`, dehydrate it with the library, hydrate the
 * archive into `<tmp>/other`, and hand back both paths and snapshots so a test can compare them by content.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type Database from 'better-sqlite3';
import { DBHydrationManager } from '../../src/index.js';
import { makeDatabase, tempDir } from './fixtures.js';
import { snapshot, type DatabaseSnapshot } from './snapshot.js';

/** What {@link roundTrip} produced. */
export interface RoundTrip {
  readonly dir: string;
  readonly dataDir: string;
  readonly otherDir: string;
  readonly archiveDir: string;
  readonly sourcePath: string;
  readonly hydratedPath: string;
  readonly archivePath: string;
  /** The archive's text. */
  readonly archive: string;
  readonly before: DatabaseSnapshot;
  readonly after: DatabaseSnapshot;
  readonly cleanup: () => void;
}

/** Options of {@link roundTrip}. */
export interface RoundTripOptions {
  /** The database file name. Default `db.db`. */
  readonly fileName?: string;
  /** Runs on the freshly created file before `setup` (pragmas that need an empty file go here). */
  readonly open?: (db: Database.Database) => void;
  /**
   * Compare sqlite_sequence by its (name, seq) rows, not by their rowids. The archive's `sequences` carries no
   * rowids, so after hydration sqlite_sequence's rows are numbered in table-name order, not in the source's order.
   */
  readonly ignoreSequenceRowids?: boolean;
}

/** The snapshot with sqlite_sequence's rowids dropped (see {@link RoundTripOptions.ignoreSequenceRowids}). */
export function withoutSequenceRowids(s: DatabaseSnapshot): DatabaseSnapshot {
  const rows = s.tables.sqlite_sequence;
  if (rows === undefined) return s;
  return {
    ...s,
    tables: { ...s.tables, sqlite_sequence: rows.map((r) => r.slice(r.indexOf('|') + 1)).sort() },
  };
}

/** Dehydrates `dataDir` and hydrates into `otherDir`, asserting that neither step reported an error. */
export async function dehydrateAndHydrate(
  dataDir: string,
  otherDir: string,
  archiveDir: string,
): Promise<void> {
  const out = await new DBHydrationManager({ dataDir, archiveDir }).dehydrateAll();
  assert.deepEqual(out.errors, [], 'dehydrateAll reported errors');
  const back = await new DBHydrationManager({ dataDir: otherDir, archiveDir }).hydrateAll();
  assert.deepEqual(back.errors, [], 'hydrateAll reported errors');
}

/**
 * Creates one database with `setup`, round-trips it, and returns both snapshots. The caller compares them and must
 * call `cleanup`.
 */
export async function roundTrip(
  setup: (db: Database.Database) => void,
  options: RoundTripOptions = {},
): Promise<RoundTrip> {
  const { dir, cleanup } = tempDir();
  try {
    const fileName = options.fileName ?? 'db.db';
    const dataDir = join(dir, 'data');
    const otherDir = join(dir, 'other');
    const archiveDir = join(dir, 'archives');
    mkdirSync(dataDir);
    const sourcePath = join(dataDir, fileName);
    makeDatabase(sourcePath, (db) => {
      options.open?.(db);
      setup(db);
    });
    const before = snapshot(sourcePath);
    await dehydrateAndHydrate(dataDir, otherDir, archiveDir);
    const hydratedPath = join(otherDir, fileName);
    const archivePath = join(archiveDir, `${fileName.replace(/\.(db|sqlite3?)$/i, '')}.json`);
    return {
      dir,
      dataDir,
      otherDir,
      archiveDir,
      sourcePath,
      hydratedPath,
      archivePath,
      archive: readFileSync(archivePath, 'utf8'),
      before,
      after: snapshot(hydratedPath),
      cleanup,
    };
  } catch (error) {
    cleanup();
    throw error;
  }
}

/** Round-trips, asserts the two databases are the same by content, then runs `check` on the hydrated copy. */
export async function assertRoundTrip(
  setup: (db: Database.Database) => void,
  check?: (r: RoundTrip) => void,
  options: RoundTripOptions = {},
): Promise<void> {
  const r = await roundTrip(setup, options);
  try {
    if (options.ignoreSequenceRowids === true) {
      assert.deepEqual(withoutSequenceRowids(r.after), withoutSequenceRowids(r.before));
    } else {
      assert.deepEqual(r.after, r.before);
    }
    check?.(r);
  } finally {
    r.cleanup();
  }
}

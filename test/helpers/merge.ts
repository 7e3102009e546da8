/** Helpers of the merge tests: databases edited on two sides, dehydrated, merged, hydrated back. */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { dehydrateDatabase } from '../../src/dehydrate/dehydrate-database.js';
import { buildDatabase } from '../../src/hydrate/hydrate-database.js';

/** Dehydrates `dbPath` into `archivePath`. */
export function dehydrate(dbPath: string, archivePath: string): void {
  dehydrateDatabase({ dbPath, archivePath, database: 'db', fileName: 'db.db', busyTimeoutMs: 5000 });
}

/** Content without the `exported_at` line. */
export function content(path: string): string {
  return readFileSync(path, 'utf8').replace(/^"exported_at": .*\n/m, '');
}

/** A base database, two edited copies, their archives. */
export function threeWay(
  dir: string,
  setup: string,
  ours: string,
  theirs: string,
): { base: string; ours: string; theirs: string; oursDb: string; theirsDb: string; baseDb: string } {
  const baseDb = join(dir, 'base.db');
  const db = new Database(baseDb);
  db.exec(setup);
  db.close();
  const paths = { baseDb, oursDb: join(dir, 'ours.db'), theirsDb: join(dir, 'theirs.db') };
  copyFileSync(baseDb, paths.oursDb);
  copyFileSync(baseDb, paths.theirsDb);
  for (const [path, sql] of [
    [paths.oursDb, ours],
    [paths.theirsDb, theirs],
  ] as const) {
    const d = new Database(path);
    d.exec(sql);
    d.close();
  }
  const out = {
    ...paths,
    base: join(dir, 'base.json'),
    ours: join(dir, 'ours.json'),
    theirs: join(dir, 'theirs.json'),
  };
  dehydrate(baseDb, out.base);
  dehydrate(paths.oursDb, out.ours);
  dehydrate(paths.theirsDb, out.theirs);
  return out;
}

/** Hydrates `archive`, dehydrates the result again, and returns the new database's path and archive path. */
export async function rehydrate(
  dir: string,
  archive: string,
  name = 'merged',
): Promise<{ db: string; archive: string }> {
  const db = join(dir, `${name}.db`);
  await buildDatabase({ archivePath: archive, dbPath: db });
  const again = join(dir, `${name}.again.json`);
  dehydrate(db, again);
  return { db, archive: again };
}

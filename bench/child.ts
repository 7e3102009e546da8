/**
 * One measured run of db-hydration, in its own process so that its peak RSS is its own. The runner compiles this file
 * to plain JavaScript (`.bench/child.mjs`) and passes the path of the BUILT library (`dist/index.js`), so what is
 * measured is the shipped JavaScript, not TypeScript run through a loader.
 *
 * Usage: node child.mjs <dehydrate|hydrate|replace> <dist/index.js> <dataDir> <archiveDir> <database file name>
 * (`replace`: hydrate over an existing database, `hydrateAll({ force: true })`, which backs it up first).
 * Prints one JSON line: `{ ms, rows, errors, maxRssKiB }` (`ms` is the library call alone, without Node's start-up).
 */
import type * as Library from '../src/index.js';

const [op, entry, dataDir, archiveDir, fileName] = process.argv.slice(2);
if (entry === undefined || dataDir === undefined || archiveDir === undefined || fileName === undefined) {
  throw new Error(
    'usage: child <dehydrate|hydrate|replace> <dist/index.js> <dataDir> <archiveDir> <database file name>',
  );
}
const lib = (await import(entry)) as typeof Library;
const manager = new lib.DBHydrationManager({ dataDir, archiveDir, databases: [fileName] });
const start = performance.now();
let result: { readonly totalRows: number; readonly errors: readonly string[] };
let backedUp = false;
if (op === 'dehydrate') {
  result = await manager.dehydrateAll();
} else {
  const hydrated = await manager.hydrateAll({ force: op === 'replace' });
  backedUp = Object.values(hydrated.databases).some((d) => d.backupPath !== undefined);
  result = hydrated;
}
const ms = performance.now() - start;
if (op === 'replace' && !backedUp) throw new Error('replace: no database was backed up');
process.stdout.write(
  `${JSON.stringify({ ms, rows: result.totalRows, errors: result.errors, maxRssKiB: process.resourceUsage().maxRSS })}\n`,
);

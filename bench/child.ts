/**
 * One measured run of db-hydration, in its own process so that its peak RSS is its own. The runner compiles this file
 * to plain JavaScript (`.bench/child.mjs`) and passes the path of the BUILT library (`dist/index.js`), so what is
 * measured is the shipped JavaScript, not TypeScript run through a loader.
 *
 * Usage:
 *   node child.mjs <dehydrate|hydrate|replace> <dist/index.js> <dataDir> <archiveDir> <database file name>
 *   node child.mjs <merge|merge-unchecked> <dist/index.js> <base> <ours> <theirs> <output>
 * (`replace`: hydrate over an existing database, `hydrateAll({ force: true })`, which backs it up first; `merge`:
 * `mergeArchives()` as the git merge driver runs it, `merge-unchecked` with `skipConstraintCheck`).
 * Prints one JSON line: `{ ms, rows, errors, maxRssKiB }` (`ms` is the library call alone, without Node's start-up),
 * for a merge also `clean`, `conflicts` (how many) and `rowCounts`.
 */
import type * as Library from '../src/index.js';

const [op, entry, ...rest] = process.argv.slice(2);
const usage =
  'usage: child <dehydrate|hydrate|replace> <dist/index.js> <dataDir> <archiveDir> <database file name>\n' +
  '       child <merge|merge-unchecked> <dist/index.js> <base> <ours> <theirs> <output>';
if (op === undefined || entry === undefined || rest.length !== (op.startsWith('merge') ? 4 : 3)) {
  throw new Error(usage);
}
const lib = (await import(entry)) as typeof Library;

if (op === 'merge' || op === 'merge-unchecked') {
  const [base, ours, theirs, output] = rest as [string, string, string, string];
  const start = performance.now();
  const merged = lib.mergeArchives({
    base,
    ours,
    theirs,
    output,
    skipConstraintCheck: op === 'merge-unchecked',
  });
  const ms = performance.now() - start;
  const rows = Object.values(merged.rowCounts).reduce((a, b) => a + b, 0);
  process.stdout.write(
    `${JSON.stringify({
      ms,
      rows,
      errors: [],
      clean: merged.clean,
      conflicts: merged.conflicts.length,
      rowCounts: merged.rowCounts,
      maxRssKiB: process.resourceUsage().maxRSS,
    })}\n`,
  );
} else if (op === 'dehydrate' || op === 'hydrate' || op === 'replace') {
  const [dataDir, archiveDir, fileName] = rest as [string, string, string];
  const manager = new lib.DBHydrationManager({ dataDir, archiveDir, databases: [fileName] });
  const start = performance.now();
  let result: {
    readonly totalRows: number;
    readonly errors: readonly string[];
    readonly databases: Readonly<Record<string, object>>;
  };
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
    `${JSON.stringify({
      ms,
      rows: result.totalRows,
      errors: result.errors,
      tablesCopied: Object.values(result.databases).reduce(
        (n, d) => n + ('tablesCopied' in d && typeof d.tablesCopied === 'number' ? d.tablesCopied : 0),
        0,
      ),
      maxRssKiB: process.resourceUsage().maxRSS,
    })}\n`,
  );
} else {
  throw new Error(usage);
}

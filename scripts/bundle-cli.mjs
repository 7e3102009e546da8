/**
 * Bundles the CLI into one file, dist/cli.js, after `tsc` has built dist/. Hooks run the CLI on every commit and
 * checkout, and Node 20 loading ~120 small ES modules one by one costs about 50 ms per start; one bundled module
 * loads in a fraction of that. The library (dist/index.js and the rest of dist/) stays as tsc wrote it. The export
 * worker and the page-hashing child are bundled beside the CLI (dist/export-worker.js, dist/page-hash-child.js),
 * where the bundled CLI looks for them.
 *
 * The library's entry, dist/index.js, is bundled the same way (over tsc's file of that name; the type declarations
 * stay tsc's): an application that imports it at start-up loads one module instead of ~120, about 40 ms less on
 * Node 20, and it finds the export worker beside it as the CLI does.
 * Dependencies (better-sqlite3, commander, cli-progress, …) stay external: they are loaded from node_modules.
 */
import { chmodSync } from 'node:fs';
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  logLevel: 'warning',
};

await build({ ...common, entryPoints: ['src/cli.ts'], outfile: 'dist/cli.js' });
await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.js', allowOverwrite: true });
await build({ ...common, entryPoints: ['src/dehydrate/export-worker.ts'], outfile: 'dist/export-worker.js' });
await build({
  ...common,
  entryPoints: ['src/dehydrate/page-hash-child.ts'],
  outfile: 'dist/page-hash-child.js',
});
chmodSync('dist/cli.js', 0o755);

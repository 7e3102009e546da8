/**
 * Child process for the kill and concurrency tests: runs one manager operation on the directories it is given.
 * Prints `ready` once loaded, waits for a line on stdin (so the parent can time its SIGKILL from the real start), runs
 * the operation, and prints the result as one JSON line.
 *
 * Usage: node --import tsx test/children/run-operation.ts <dehydrate|hydrate|hydrate-force|fix> <dataDir> <archiveDir>
 */
import { createInterface } from 'node:readline';
import { DBHydrationManager } from '../../src/index.js';

const [op, dataDir, archiveDir] = process.argv.slice(2);
if (op === undefined || dataDir === undefined || archiveDir === undefined) {
  process.stderr.write('usage: run-operation <op> <dataDir> <archiveDir>\n');
  process.exit(2);
}
// Under a file-size limit (the disk-full test's fallback), a write past it fails with EFBIG instead of killing us.
process.on('SIGXFSZ', () => undefined);
const manager = new DBHydrationManager({ dataDir, archiveDir, busyTimeoutMs: 2000 });
process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
lines.once('line', () => {
  lines.close();
  void run();
});

async function run(): Promise<void> {
  const result =
    op === 'dehydrate'
      ? await manager.dehydrateAll()
      : op === 'hydrate'
        ? await manager.hydrateAll()
        : op === 'hydrate-force'
          ? await manager.hydrateAll({ force: true })
          : await manager.fixCorruptedDbs();
  process.stdout.write(`${JSON.stringify({ errors: result.errors })}\n`, () => process.exit(0));
}

/**
 * Child process for the concurrency tests: reads a database over and over, with a new connection each time, until
 * stdin closes; then prints one JSON line: every distinct (count, sum) state seen and every error met.
 *
 * Usage: node --import tsx test/children/reader.ts <dbPath>
 */
import Database from 'better-sqlite3';

const [dbPath] = process.argv.slice(2);
if (dbPath === undefined) process.exit(2);
const states = new Set<string>();
const errors: string[] = [];
let reads = 0;
let stop = false;
process.stdin.on('end', () => {
  stop = true;
});
process.stdin.resume();
process.stdout.write('ready\n');

function step(): void {
  if (stop) {
    process.stdout.write(`${JSON.stringify({ reads, states: [...states], errors })}\n`, () =>
      process.exit(0),
    );
    return;
  }
  try {
    const db = new Database(dbPath, { readonly: true, fileMustExist: true, timeout: 5000 });
    try {
      const row = db.prepare('SELECT count(*) AS c, total(price) AS s FROM items').get() as {
        c: number;
        s: number;
      };
      states.add(`${row.c}:${row.s}`);
      reads++;
    } finally {
      db.close();
    }
  } catch (error) {
    errors.push(`${(error as { code?: string }).code ?? ''} ${(error as Error).message}`);
  }
  setImmediate(step);
}
step();

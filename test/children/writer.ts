/**
 * Child process for the concurrency tests: writes to a database in a loop until stdin closes. Each committed
 * transaction adds BATCH rows tagged with the next batch number and sets `counter.n` to that number; every other
 * transaction inserts rows tagged -1 and rolls back. A consistent snapshot therefore has exactly BATCH * n rows, all
 * tagged 1..n, and never a row tagged -1.
 *
 * Usage: node --import tsx test/children/writer.ts <dbPath> <wal|delete> [pause ms between commits]
 */
import Database from 'better-sqlite3';

export const BATCH = 40;
const [dbPath, mode, pauseArg] = process.argv.slice(2);
const pauseMs = Number(pauseArg ?? 0);
if (dbPath === undefined || (mode !== 'wal' && mode !== 'delete')) {
  process.stderr.write('usage: writer <dbPath> <wal|delete>\n');
  process.exit(2);
}
const db = new Database(dbPath, { timeout: 10_000 });
db.pragma(`journal_mode = ${mode}`);
db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, batch INTEGER NOT NULL, v TEXT)');
db.exec('CREATE TABLE IF NOT EXISTS counter (n INTEGER NOT NULL)');
if (db.prepare('SELECT count(*) FROM counter').pluck().get() === 0) db.exec('INSERT INTO counter VALUES (0)');
const insert = db.prepare('INSERT INTO t (batch, v) VALUES (?, ?)');
const bump = db.prepare('UPDATE counter SET n = ?');
let n = db.prepare('SELECT n FROM counter').pluck().get() as number;
let stop = false;
process.stdin.on('end', () => {
  stop = true;
});
process.stdin.resume();
let commits = 0;

function step(): void {
  if (stop) {
    db.close();
    process.stdout.write(`commits ${commits}\n`, () => process.exit(0));
    return;
  }
  db.exec('BEGIN IMMEDIATE');
  for (let i = 0; i < BATCH; i++) insert.run(-1, 'uncommitted');
  db.exec('ROLLBACK');
  db.exec('BEGIN IMMEDIATE');
  n++;
  for (let i = 0; i < BATCH; i++) insert.run(n, `batch ${n} row ${i} ${'x'.repeat(i)}`);
  bump.run(n);
  db.exec('COMMIT');
  commits++;
  if (commits === 1) process.stdout.write('ready\n');
  if (pauseMs > 0) setTimeout(step, pauseMs);
  else setImmediate(step);
}
step();

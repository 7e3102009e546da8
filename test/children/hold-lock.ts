/**
 * Child process for the concurrency tests: holds a lock on a database until stdin closes.
 * - `exclusive`: rollback-journal mode, inside BEGIN EXCLUSIVE with a pending write (readers are blocked);
 * - `wal-exclusive`: WAL mode with locking_mode=EXCLUSIVE and a pending write (other connections are blocked);
 * - `open`: just keeps a connection open after one read, outside any transaction.
 * Prints `locked` once the lock is held.
 *
 * Usage: node --import tsx test/children/hold-lock.ts <dbPath> <exclusive|wal-exclusive|open>
 */
import Database from 'better-sqlite3';

const [dbPath, how] = process.argv.slice(2);
if (dbPath === undefined || how === undefined) {
  process.stderr.write('usage: hold-lock <dbPath> <exclusive|wal-exclusive|open>\n');
  process.exit(2);
}
const db = new Database(dbPath, { fileMustExist: true });
if (how === 'exclusive') {
  db.exec('BEGIN EXCLUSIVE');
  db.exec('CREATE TABLE IF NOT EXISTS pending_write (x)');
} else if (how === 'wal-exclusive') {
  db.pragma('locking_mode = EXCLUSIVE');
  db.exec('BEGIN EXCLUSIVE');
  db.exec('CREATE TABLE IF NOT EXISTS pending_write (x)');
} else {
  db.prepare('SELECT count(*) FROM sqlite_schema').get();
}
process.stdout.write('locked\n');
process.stdin.on('end', () => {
  if (db.inTransaction) db.exec('ROLLBACK');
  db.close();
  process.exit(0);
});
process.stdin.resume();

/**
 * The helper thread of a parallel export (see parallel-export.ts and parallel-protocol.ts): takes a read snapshot equal to the main
 * connection's, runs quick_check on it if asked, then claims units from the back and writes each to a part file.
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { BufferedWriter } from '../archive/buffered-writer.js';
import { checkProblems } from '../sqlite/check.js';
import { exportRows } from './export-rows.js';
import {
  GO,
  Go,
  HEARTBEAT,
  readFingerprint,
  SIGNAL,
  Status,
  STATUS,
  WORKER_ROWS,
  type HelperData,
  type HelperMessage,
  type HelperPlan,
} from './parallel-protocol.js';

const data = workerData as HelperData;
const state = new Int32Array(data.state);
const expected = new BigInt64Array(data.fingerprint);
const port = data.port;

function signal(): void {
  Atomics.add(state, SIGNAL, 1);
  Atomics.notify(state, SIGNAL);
}

function send(message: HelperMessage): void {
  port.postMessage(message);
  signal();
}

function stopped(): boolean {
  return Atomics.load(state, GO) === Go.stop;
}

/** Opens the helper's connection, takes a snapshot equal to the main connection's, then exports its units. */
function run(): number {
  let db: Database.Database | undefined;
  try {
    db = new Database(data.dbPath, { readonly: true, fileMustExist: true, timeout: 0 });
    db.defaultSafeIntegers(true);
    db.pragma('cache_size = -2048');
    Atomics.store(state, STATUS, Status.opened);
    signal();
    if (!joinSnapshot(db)) return Status.declined;
    Atomics.store(state, STATUS, Status.ready);
    signal();
    const received = awaitPlan();
    if (received === undefined) return Status.finished;
    exportUnits(db, received.plan, new Int32Array(received.claims));
    db.exec('COMMIT');
    return Status.finished;
  } catch (error) {
    send({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
    return Status.failed;
  } finally {
    if (db?.open === true) db.close();
  }
}

/** Waits for the go, then starts a read transaction and checks that it sees what the main connection sees. */
function joinSnapshot(db: Database.Database): boolean {
  while (Atomics.load(state, GO) === Go.wait) Atomics.wait(state, GO, Go.wait, 1000);
  if (stopped()) return false;
  try {
    db.exec('BEGIN');
    const seen = readFingerprint(db);
    return !seen.some((v, i) => v !== expected[i]);
  } catch {
    // A writer waiting to commit (rollback journal: a PENDING lock) keeps new readers out: one thread it is.
    return false;
  }
}

/** Waits for the plan of units; `undefined` when the main thread stops the helper first. */
function awaitPlan(): { plan: HelperPlan; claims: SharedArrayBuffer } | undefined {
  for (;;) {
    if (stopped()) return undefined;
    const seenSignal = Atomics.load(state, SIGNAL);
    const message = receiveMessageOnPort(port)?.message as
      { plan: HelperPlan; claims: SharedArrayBuffer } | undefined;
    if (message !== undefined) return message;
    Atomics.wait(state, SIGNAL, seenSignal, 200);
  }
}

/** Runs quick_check if asked, then claims units from the back and writes each into its part file. */
function exportUnits(db: Database.Database, plan: HelperPlan, claims: Int32Array): void {
  const buffer = Buffer.allocUnsafe(1 << 20);
  // Tests make the helper fail after some units (see ExportFaults).
  const failAfter = data.faults?.helperFailAfter ?? -1;
  let unitsDone = 0;
  if (plan.quickCheck) {
    Atomics.store(state, STATUS, Status.checking);
    const problems = checkProblems(db, 'quick_check', 5);
    Atomics.store(state, STATUS, Status.ready);
    send({ kind: 'check', problems });
  }
  for (let index = plan.units.length - 1; index >= 0; index--) {
    if (stopped() || Atomics.compareExchange(claims, index, 0, 2) !== 0) break;
    if (unitsDone++ === failAfter) injectFailure();
    const unit = plan.units[index];
    const table = unit === undefined ? undefined : plan.tables[unit.table];
    if (unit === undefined || table === undefined) break;
    const path = `${plan.partPrefix}.part-${index}`;
    const rows = exportUnit(db, plan, table, unit.range, path, buffer);
    send({ kind: 'unit', index, rows, path });
  }
}

/** Writes one unit's rows into its part file; the part is removed if anything fails. */
function exportUnit(
  db: Database.Database,
  plan: HelperPlan,
  table: HelperPlan['tables'][number],
  range: HelperPlan['units'][number]['range'],
  path: string,
  buffer: Buffer,
): number {
  const out = new BufferedWriter(path, { hashed: false, buffer });
  try {
    let first = true;
    Atomics.store(state, WORKER_ROWS, 0);
    const rows = exportRows(
      db,
      table,
      plan.encoding,
      (line) => {
        out.write(first ? line : `,\n${line}`);
        first = false;
        Atomics.add(state, HEARTBEAT, 1);
      },
      (done) => Atomics.store(state, WORKER_ROWS, done),
      range,
    );
    out.finish(false);
    return rows;
  } catch (error) {
    out.abort();
    throw error;
  }
}

/** The failure a test asked for (see ExportFaults): thrown, or escaping the thread as an uncaught error. */
function injectFailure(): never {
  if (data.faults?.helperFailMode === 'uncaught') {
    setImmediate(() => {
      throw new Error('injected uncaught error (ExportFaults)');
    });
  }
  throw new Error('injected failure (ExportFaults)');
}

const status = run();
Atomics.store(state, STATUS, status);
signal();

/**
 * The edits of the benchmark's three-way merge: two branches of a fixture, each changing about 0.5% of its rows
 * (4,800 and 4,200 rows at 1M: updates, inserts and deletes) in different rows, and both in `trades` (different rows
 * and columns). Applying both edit sets to one copy gives the database the merge must produce, since no statement of
 * one side touches a row the other side writes: every statement is bounded by the fixture's own key ranges.
 *
 * - ours: updates `price` and `note` of 0.16% of the rows (trades), `volume` of 0.16% (candles), inserts 0.04% into
 *   trades (whose trigger inserts as many events, moving the AUTOINCREMENT counter) and deletes 0.08% (candles);
 * - theirs: updates `qty` of 0.16% (trades) and `created_at` of 0.08% (events), inserts 0.16% into candles (new
 *   timestamps after the last) and deletes 0.02% (events).
 */
import Database from 'better-sqlite3';

/** The fixture's key ranges, read before editing; every statement is bounded by them. */
interface Bounds {
  readonly maxTrade: bigint;
  readonly maxEvent: bigint;
  readonly minTs: bigint;
  readonly maxTs: bigint;
}

const OURS = [
  "UPDATE trades SET price = price + 0.5, note = 'edited on ours' WHERE id % 500 = 0 AND id <= :maxTrade",
  "UPDATE candles SET volume = volume * 1.5 WHERE (ts / 60) % 25 = 0 AND symbol IN ('BTC', 'ETH') AND ts <= :maxTs",
  `INSERT INTO trades (id, symbol, side, price, qty, fee, note, ts)
     SELECT id + :maxTrade, symbol, side, price, qty, fee, 'inserted on ours', ts + 100000000
     FROM trades WHERE id % 2000 = 1 AND id <= :maxTrade`,
  "DELETE FROM candles WHERE (ts / 60) % 25 = 3 AND symbol = 'SOL' AND ts <= :maxTs",
];

const THEIRS = [
  'UPDATE trades SET qty = qty * 2 WHERE id % 500 = 250 AND id <= :maxTrade',
  'UPDATE events SET created_at = coalesce(created_at, 0) + 1 WHERE id % 250 = 0 AND id <= :maxEvent',
  `INSERT INTO candles (symbol, ts, open, high, low, close, volume)
     SELECT symbol, ts + (:maxTs - :minTs) + 60, open, high, low, close, volume
     FROM candles WHERE (ts / 60) % 250 = 7 AND ts <= :maxTs`,
  'DELETE FROM events WHERE id % 1000 = 7 AND id <= :maxEvent',
];

/** The key ranges of a fixture. */
export function readBounds(path: string): Bounds {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    db.defaultSafeIntegers(true);
    const one = (sql: string): bigint => (db.prepare(sql).pluck().get() as bigint | null) ?? 0n;
    return {
      maxTrade: one('SELECT max(id) FROM trades'),
      maxEvent: one('SELECT max(id) FROM events'),
      minTs: one('SELECT min(ts) FROM candles'),
      maxTs: one('SELECT max(ts) FROM candles'),
    };
  } finally {
    db.close();
  }
}

/**
 * Applies one side's edits (or both, ours first) to the database at `path`, in one transaction. Returns how many
 * rows changed, rows written by the trigger included.
 */
export function applyEdits(path: string, sides: readonly ('ours' | 'theirs')[], bounds: Bounds): number {
  const db = new Database(path, { fileMustExist: true });
  try {
    db.defaultSafeIntegers(true);
    const total = (): bigint => db.prepare('SELECT total_changes()').pluck().get() as bigint;
    const before = total();
    db.transaction(() => {
      for (const side of sides) {
        for (const sql of side === 'ours' ? OURS : THEIRS) {
          const statement = db.prepare(sql);
          const names = [...sql.matchAll(/:(\w+)/g)].map((m) => m[1] as keyof Bounds);
          statement.run(Object.fromEntries(names.map((n) => [n, bounds[n]])));
        }
      }
    })();
    return Number(total() - before);
  } finally {
    db.close();
  }
}

/**
 * Benchmark fixtures: a deterministic (fixed-seed) trading database with three tables, indexes, a view and a trigger.
 *
 * - `trades`: INTEGER PRIMARY KEY, TEXT, REAL and nullable columns (40% of the rows);
 * - `candles`: WITHOUT ROWID keyed by (symbol, ts), REAL columns (40%);
 * - `events`: AUTOINCREMENT, 16-256 byte BLOBs and integers near 2^62 (20%).
 *
 * The same `totalRows` always yields the same content, so results of different runs and machines compare.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

/** The schema, created before the data (the trigger is created after it, so it does not fire while loading). */
const SCHEMA = `
CREATE TABLE trades (
  id INTEGER PRIMARY KEY,
  symbol TEXT NOT NULL,
  side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
  price REAL NOT NULL,
  qty REAL NOT NULL,
  fee REAL,
  note TEXT,
  ts INTEGER NOT NULL
);
CREATE TABLE candles (
  symbol TEXT NOT NULL,
  ts INTEGER NOT NULL,
  open REAL NOT NULL,
  high REAL NOT NULL,
  low REAL NOT NULL,
  close REAL NOT NULL,
  volume REAL NOT NULL,
  PRIMARY KEY (symbol, ts)
) WITHOUT ROWID;
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  kind TEXT NOT NULL,
  payload BLOB NOT NULL,
  seq INTEGER NOT NULL,
  created_at INTEGER
);
`;

const AFTER_DATA = `
CREATE INDEX trades_symbol_ts ON trades (symbol, ts);
CREATE INDEX trades_ts ON trades (ts);
CREATE INDEX candles_ts ON candles (ts);
CREATE INDEX events_kind ON events (kind, seq);
CREATE VIEW daily_volume AS
  SELECT symbol, ts / 86400 AS day, sum(volume) AS volume, max(high) AS high, min(low) AS low
  FROM candles GROUP BY symbol, ts / 86400;
CREATE TRIGGER trades_audit AFTER INSERT ON trades BEGIN
  INSERT INTO events (kind, payload, seq, created_at) VALUES ('trade', x'00', new.id, new.ts);
END;
`;

const SYMBOLS = [
  'BTC',
  'ETH',
  'SOL',
  'ADA',
  'DOT',
  'AVAX',
  'MATIC',
  'LINK',
  'ATOM',
  'XRP',
  'DOGE',
  'LTC',
  'BCH',
  'UNI',
  'AAVE',
  'ALGO',
  'NEAR',
  'FTM',
  'ICP',
  'FIL',
];
const NOTES = [
  'limit',
  'market',
  'stop-loss 5%',
  'take-profit',
  'rebalance',
  "o'clock close",
  'manual — review',
  '🚀 breakout',
];
const KINDS = ['fill', 'cancel', 'deposit', 'withdrawal', 'funding', 'liquidation'];
const T0 = 1_700_000_000;

/** How many rows each table gets for a total. */
export function tableRows(totalRows: number): { trades: number; candles: number; events: number } {
  const trades = Math.round(totalRows * 0.4);
  const candles = Math.round(totalRows * 0.4);
  return { trades, candles, events: totalRows - trades - candles };
}

/** A small, fast, seeded PRNG (mulberry32): the same seed gives the same sequence everywhere. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const round = (x: number, digits: number): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/**
 * Creates the fixture at `path` unless it exists. It is built in `<path>.tmp` and renamed, so an interrupted run never
 * leaves a half-built fixture behind.
 */
export function ensureFixture(path: string, totalRows: number, seed = 20261124): void {
  buildOnce(path, (db) => {
    db.exec(SCHEMA);
    const rand = prng(seed);
    const n = tableRows(totalRows);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
    const load = db.transaction(() => {
      const trade = db.prepare(
        'INSERT INTO trades (id, symbol, side, price, qty, fee, note, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      );
      let id = 0n;
      for (let i = 0; i < n.trades; i++) {
        id += BigInt(1 + Math.floor(rand() * 3)); // gaps, as deletes leave them
        const price = round(10 + rand() * 60_000, 2);
        const qty = round(rand() * 20, 4) + 0.0001;
        trade.run(
          id,
          pick(SYMBOLS),
          rand() < 0.5 ? 'buy' : 'sell',
          price,
          round(qty, 4),
          rand() < 0.3 ? null : round(price * qty * 0.001, 6),
          rand() < 0.8 ? null : pick(NOTES),
          BigInt(T0 + i * 3 + Math.floor(rand() * 3)),
        );
      }
      const candle = db.prepare(
        'INSERT INTO candles (symbol, ts, open, high, low, close, volume) VALUES (?, ?, ?, ?, ?, ?, ?)',
      );
      const last = SYMBOLS.map(() => 100 + rand() * 1000);
      for (let i = 0; i < n.candles; i++) {
        const s = i % SYMBOLS.length;
        const open = last[s] as number;
        const close = Math.max(0.01, open * (1 + (rand() - 0.5) * 0.02));
        last[s] = close;
        candle.run(
          SYMBOLS[s],
          BigInt(T0 + Math.floor(i / SYMBOLS.length) * 60),
          round(open, 4),
          round(Math.max(open, close) * (1 + rand() * 0.005), 4),
          round(Math.min(open, close) * (1 - rand() * 0.005), 4),
          round(close, 4),
          rand() * 1e6, // full-precision doubles
        );
      }
      const event = db.prepare('INSERT INTO events (kind, payload, seq, created_at) VALUES (?, ?, ?, ?)');
      const near62 = 2n ** 62n;
      for (let i = 0; i < n.events; i++) {
        const payload = Buffer.allocUnsafe(16 + Math.floor(rand() * 241));
        for (let b = 0; b < payload.length; b++) payload[b] = Math.floor(rand() * 256);
        const offset = BigInt(Math.floor(rand() * 2 ** 40)) - 2n ** 39n;
        event.run(pick(KINDS), payload, near62 + offset, rand() < 0.1 ? null : BigInt(T0 + i));
      }
    });
    load();
    db.exec(AFTER_DATA);
  });
}

/**
 * Builds a fixture at `path` with `fill` unless it exists: in `<path>.tmp` (no journal, no syncs), renamed into place
 * once complete, so an interrupted run never leaves a half-built fixture behind.
 */
function buildOnce(path: string, fill: (db: Database.Database) => void): void {
  if (existsSync(path)) return;
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.tmp`;
  rmSync(temp, { force: true });
  const db = new Database(temp);
  try {
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    fill(db);
    db.close();
    renameSync(temp, path);
  } catch (error) {
    if (db.open) db.close();
    rmSync(temp, { force: true });
    throw error;
  }
}

/** How many tables the many-tables fixture has (issue 14: "100 tables of which one changed"). */
export const MANY_TABLES = 100;

/**
 * Creates the many-tables fixture at `path` unless it exists: {@link MANY_TABLES} tables of the same shape (an
 * INTEGER PRIMARY KEY, text, REALs, an integer, a sometimes-NULL note), `totalRows` rows over all of them, each table
 * with an index. Built like {@link ensureFixture}.
 */
export function ensureManyTablesFixture(path: string, totalRows: number, seed = 20261206): void {
  buildOnce(path, (db) => {
    const rand = prng(seed);
    const perTable = Math.max(1, Math.round(totalRows / MANY_TABLES));
    db.transaction(() => {
      for (let t = 0; t < MANY_TABLES; t++) {
        const name = `t${String(t).padStart(3, '0')}`;
        db.exec(
          `CREATE TABLE ${name} (id INTEGER PRIMARY KEY, symbol TEXT NOT NULL, price REAL, qty REAL, n INTEGER, note TEXT)`,
        );
        db.exec(`CREATE INDEX ${name}_symbol ON ${name}(symbol)`);
        const insert = db.prepare(`INSERT INTO ${name} VALUES (?, ?, ?, ?, ?, ?)`);
        for (let i = 1; i <= perTable; i++) {
          insert.run(
            i,
            SYMBOLS[Math.floor(rand() * SYMBOLS.length)] ?? 'X',
            round(10 + rand() * 60_000, 2),
            rand() * 20,
            BigInt(Math.floor(rand() * 2 ** 40)),
            rand() < 0.8 ? null : (NOTES[Math.floor(rand() * NOTES.length)] ?? null),
          );
        }
      }
    })();
  });
}

/**
 * Regenerates the example's sample data: builds the three databases from a fixed seed (so the data is the same on
 * every run) in a temp directory and dehydrates them into ./data/json_archives. Only the archives are committed.
 *
 *   node --import tsx examples/trading-journal/seed.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { DBHydrationManager } from 'db-hydration';

const here = dirname(fileURLToPath(import.meta.url));

/** mulberry32: a tiny deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYMBOLS = [
  ['BTC-USD', 'Bitcoin', 64000],
  ['ETH-USD', 'Ether', 3100],
  ['SOL-USD', 'Solana', 145],
] as const;
const VENUES = [
  ['binance', 10],
  ['coinbase', 40],
  ['kraken', 26],
] as const;
const DAY = 86_400;
const START = 1_767_225_600; // 2026-01-01T00:00:00Z

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;
const iso = (t: number): string => new Date(t * 1000).toISOString().replace('.000Z', 'Z');

/** Creates market_data.db: symbols and 400 daily candles per symbol. */
export function createMarketData(path: string, rand: () => number): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE symbols (symbol TEXT PRIMARY KEY, name TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE candles (
      symbol TEXT NOT NULL REFERENCES symbols(symbol),
      ts INTEGER NOT NULL,
      open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL, close REAL NOT NULL,
      volume INTEGER NOT NULL,
      PRIMARY KEY (symbol, ts)
    ) WITHOUT ROWID;
  `);
  const insSymbol = db.prepare('INSERT INTO symbols VALUES (?, ?)');
  const insCandle = db.prepare('INSERT INTO candles VALUES (?, ?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (const [symbol, name, price] of SYMBOLS) {
      insSymbol.run(symbol, name);
      let close: number = price;
      for (let d = 0; d < 400; d++) {
        const open = close;
        close = round(open * (1 + (rand() - 0.5) * 0.06), 2);
        const high = round(Math.max(open, close) * (1 + rand() * 0.02), 2);
        const low = round(Math.min(open, close) * (1 - rand() * 0.02), 2);
        insCandle.run(
          symbol,
          BigInt(START + d * DAY),
          open,
          high,
          low,
          close,
          BigInt(Math.floor(rand() * 1e9)),
        );
      }
    }
  })();
  db.close();
}

/** Creates trading_journal.db: 60 trades with notes and tags. */
export function createTradingJournal(path: string, rand: () => number): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('user_version = 3');
  db.exec(`
    CREATE TABLE trades (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      opened_at TEXT NOT NULL,
      symbol TEXT NOT NULL,
      side TEXT NOT NULL CHECK (side IN ('long', 'short')),
      qty REAL NOT NULL,
      entry_price REAL NOT NULL,
      exit_price REAL,
      pnl REAL GENERATED ALWAYS AS (
        CASE side WHEN 'long' THEN (exit_price - entry_price) * qty ELSE (entry_price - exit_price) * qty END
      ) VIRTUAL,
      note TEXT
    );
    CREATE INDEX trades_symbol ON trades (symbol, opened_at);
    CREATE TABLE journal_entries (
      id INTEGER PRIMARY KEY,
      trade_id INTEGER REFERENCES trades(id),
      written_at TEXT NOT NULL,
      body TEXT NOT NULL
    );
    CREATE VIEW trade_summary AS
      SELECT symbol, count(*) AS trades, round(sum(pnl), 2) AS pnl FROM trades GROUP BY symbol;
  `);
  const ins = db.prepare(
    'INSERT INTO trades (opened_at, symbol, side, qty, entry_price, exit_price, note) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const note = db.prepare('INSERT INTO journal_entries (trade_id, written_at, body) VALUES (?, ?, ?)');
  const moods = [
    'followed the plan',
    'chased the move',
    'took profit early',
    'stopped out cleanly',
    'sized too big',
  ];
  db.transaction(() => {
    for (let i = 0; i < 60; i++) {
      const [symbol, , price] = SYMBOLS[Math.floor(rand() * SYMBOLS.length)] ?? SYMBOLS[0];
      const entry = round(price * (0.8 + rand() * 0.4), 2);
      const exit = i >= 57 ? null : round(entry * (1 + (rand() - 0.48) * 0.1), 2);
      const t = START + Math.floor(i * 6.5 * DAY + rand() * DAY);
      const id = ins.run(
        iso(t),
        symbol,
        rand() < 0.6 ? 'long' : 'short',
        round(rand() * (price > 1000 ? 0.5 : 20), 4),
        entry,
        exit,
        rand() < 0.3 ? null : `setup #${1 + Math.floor(rand() * 5)}`,
      ).lastInsertRowid;
      if (rand() < 0.6) note.run(id, iso(t + 3600), moods[Math.floor(rand() * moods.length)] ?? '');
    }
  })();
  db.close();
}

/** Creates arbiter.db: venues and 300 cross-venue spread opportunities. */
export function createArbiter(path: string, rand: () => number): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(`
    CREATE TABLE venues (name TEXT PRIMARY KEY, fee_bps INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE opportunities (
      id INTEGER PRIMARY KEY,
      seen_at TEXT NOT NULL,
      symbol TEXT NOT NULL,
      buy_venue TEXT NOT NULL REFERENCES venues(name),
      sell_venue TEXT NOT NULL REFERENCES venues(name),
      spread_bps REAL NOT NULL,
      executed INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX opportunities_seen ON opportunities (seen_at);
  `);
  const insVenue = db.prepare('INSERT INTO venues VALUES (?, ?)');
  const ins = db.prepare(
    'INSERT INTO opportunities (seen_at, symbol, buy_venue, sell_venue, spread_bps, executed) VALUES (?, ?, ?, ?, ?, ?)',
  );
  db.transaction(() => {
    for (const [name, fee] of VENUES) insVenue.run(name, BigInt(fee));
    for (let i = 0; i < 300; i++) {
      const buy = Math.floor(rand() * VENUES.length);
      const sell = (buy + 1 + Math.floor(rand() * (VENUES.length - 1))) % VENUES.length;
      const spread = round(rand() * 120, 1);
      ins.run(
        iso(START + i * 4 * 3600 + Math.floor(rand() * 3600)),
        SYMBOLS[Math.floor(rand() * SYMBOLS.length)]?.[0] ?? 'BTC-USD',
        VENUES[buy]?.[0] ?? 'binance',
        VENUES[sell]?.[0] ?? 'kraken',
        spread,
        spread > 80 ? 1n : 0n,
      );
    }
  })();
  db.close();
}

/** Builds the three databases into `dataDir`. */
export function createSampleDatabases(dataDir: string, seed = 20260101): void {
  const rand = prng(seed);
  createTradingJournal(join(dataDir, 'trading_journal.db'), rand);
  createArbiter(join(dataDir, 'arbiter.db'), rand);
  createMarketData(join(dataDir, 'market_data.db'), rand);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const work = mkdtempSync(join(tmpdir(), 'trading-journal-seed-'));
  try {
    createSampleDatabases(work);
    const manager = new DBHydrationManager({
      dataDir: work,
      archiveDir: join(here, 'data', 'json_archives'),
    });
    const result = await manager.dehydrateAll();
    for (const [name, d] of Object.entries(result.databases))
      console.log(`${name}: ${d.totalRows} rows -> ${d.archivePath}${d.changed ? '' : ' (unchanged)'}`);
    if (result.errors.length > 0) {
      console.error(result.errors.join('\n'));
      process.exitCode = 1;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The trading-journal dashboard: a small real web application over the seed's three databases, showing how an
 * application uses db-hydration.
 *
 * - At start-up each database is opened through `openDatabase`, which hydrates it from its archive when it is missing
 *   or damaged (a damaged file is kept aside under a quarantine name).
 * - It serves a page with recent trades, arbitrage opportunities, market prices and a status panel (archive time, row
 *   counts, in sync or not), and a JSON API; `POST /api/trades` adds a trade.
 * - On SIGTERM and SIGINT (and a normal exit) it stops serving, closes its connections and dehydrates, once.
 *
 *   node --import tsx examples/trading-journal/server.ts [--data-dir DIR] [--port N]
 *
 * Port 0 picks a free port. It listens on 127.0.0.1 only and prints `listening on http://127.0.0.1:<port>`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { DBHydrationManager, dehydrateOnExit, getStatus, openDatabase } from 'db-hydration';

/** The seed's DB_FILES. */
export const DB_FILES = ['trading_journal.db', 'arbiter.db', 'market_data.db'] as const;
type DbFile = (typeof DB_FILES)[number];

const here = dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: { 'data-dir': { type: 'string' }, port: { type: 'string' } },
});
const dataDir = resolve(args['data-dir'] ?? process.env.DATA_DIR ?? join(here, 'data'));
const port = Number(args.port ?? process.env.PORT ?? 3000);
const log = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const manager = new DBHydrationManager({ dataDir, databases: [...DB_FILES] });

/**
 * The app's connections, opened once at start-up. While they are open, `db-hydration hydrate --force` refuses to
 * replace these databases ("in use"): replacing a WAL database under an open connection is unsafe, because that
 * connection would later delete the new file's -wal by name. Stop the app, then hydrate.
 */
const connections = new Map<DbFile, Database.Database>();
for (const file of DB_FILES) {
  const db = await openDatabase(join(dataDir, file), {
    onCheck: (r) => {
      const kept = r.detail?.quarantined[0];
      log(
        `startup: ${file}: ${r.action === 'none' ? 'ok' : r.action}${kept === undefined ? '' : ` (damaged file kept as ${kept})`}`,
      );
    },
  });
  db.pragma('journal_mode = WAL');
  connections.set(file, db);
}
const conn = (file: DbFile): Database.Database => {
  const db = connections.get(file);
  if (db === undefined) throw new Error(`${file} is not open`);
  return db;
};

const escapeHtml = (s: unknown): string =>
  (typeof s === 'string' ? s : s === null || s === undefined ? '' : JSON.stringify(s)).replace(
    /[&<>"']/g,
    (c) => `&#${c.charCodeAt(0)};`,
  );

function table(rows: readonly Record<string, unknown>[]): string {
  const first = rows[0];
  if (first === undefined) return '<p><em>no rows</em></p>';
  const cols = Object.keys(first);
  return `<table><tr>${cols.map((c) => `<th>${escapeHtml(c)}</th>`).join('')}</tr>${rows
    .map((r) => `<tr>${cols.map((c) => `<td>${escapeHtml(r[c])}</td>`).join('')}</tr>`)
    .join('')}</table>`;
}

function rowCounts(): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const file of DB_FILES) {
    const db = conn(file);
    const names = db
      .prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .pluck()
      .all() as string[];
    out[file] = Object.fromEntries(
      names.map((n) => [
        n,
        Number(
          db
            .prepare(`SELECT count(*) FROM "${n.replaceAll('"', '""')}"`)
            .pluck()
            .get(),
        ),
      ]),
    );
  }
  return out;
}

async function page(): Promise<string> {
  const trades = conn('trading_journal.db')
    .prepare(
      'SELECT id, opened_at, symbol, side, qty, entry_price, exit_price, round(pnl, 2) AS pnl, note FROM trades ORDER BY id DESC LIMIT 15',
    )
    .all() as Record<string, unknown>[];
  const summary = conn('trading_journal.db').prepare('SELECT * FROM trade_summary').all() as Record<
    string,
    unknown
  >[];
  const opportunities = conn('arbiter.db')
    .prepare(
      'SELECT seen_at, symbol, buy_venue, sell_venue, spread_bps, executed FROM opportunities ORDER BY spread_bps DESC LIMIT 10',
    )
    .all() as Record<string, unknown>[];
  const prices = conn('market_data.db')
    .prepare(
      "SELECT c.symbol, s.name, datetime(max(c.ts), 'unixepoch') AS day, c.close FROM candles c JOIN symbols s USING (symbol) GROUP BY c.symbol",
    )
    .all() as Record<string, unknown>[];
  const status = await getStatus(manager);
  const counts = rowCounts();
  const statusRows = status.databases.map((d) => ({
    database: d.fileName,
    state: d.state,
    'archive exported': d.exportedAt ?? '-',
    rows: Object.values(counts[d.fileName] ?? {}).reduce((s, n) => s + n, 0),
  }));
  return `<!doctype html><html><head><meta charset="utf-8"><title>Trading journal</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}th{background:#f3f3f3}.ok{color:green}.warn{color:#b60}</style></head>
<body><h1>Trading journal</h1>
<h2>Status</h2>
<p class="${status.clean ? 'ok' : 'warn'}">${status.clean ? 'All databases are in sync with their archives.' : 'Some databases differ from their archives: they are dehydrated when the server stops.'}</p>
${table(statusRows)}
<h2>Add a trade</h2>
<form method="post" action="/api/trades">
<input name="symbol" placeholder="BTC-USD" required> <select name="side"><option>long</option><option>short</option></select>
<input name="qty" placeholder="qty" required> <input name="entry_price" placeholder="entry" required>
<input name="exit_price" placeholder="exit"> <input name="note" placeholder="note"> <button>Add</button></form>
<h2>Recent trades</h2>${table(trades)}
<h2>P&amp;L by symbol</h2>${table(summary)}
<h2>Best arbitrage spreads</h2>${table(opportunities)}
<h2>Latest prices</h2>${table(prices)}
</body></html>`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 64 * 1024) throw new HttpError(413, 'request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function parseTrade(fields: Record<string, unknown>): unknown[] {
  const text = (k: string): string | null => {
    const v = fields[k];
    return v === undefined || v === null || v === '' ? null : typeof v === 'string' ? v : JSON.stringify(v);
  };
  const num = (k: string, required: boolean): number | null => {
    const v = text(k);
    if (v === null) {
      if (required) throw new HttpError(400, `"${k}" is required`);
      return null;
    }
    const n = Number(v);
    if (!Number.isFinite(n)) throw new HttpError(400, `"${k}" must be a number`);
    return n;
  };
  const symbol = text('symbol');
  if (symbol === null || !/^[A-Z0-9-]{1,20}$/.test(symbol))
    throw new HttpError(400, '"symbol" must look like BTC-USD');
  const side = text('side') ?? 'long';
  if (side !== 'long' && side !== 'short') throw new HttpError(400, '"side" must be long or short');
  return [
    new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    symbol,
    side,
    num('qty', true),
    num('entry_price', true),
    num('exit_price', false),
    text('note'),
  ];
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const json = (status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
  };
  if (req.method === 'GET' && url.pathname === '/') {
    const html = await page();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
  } else if (req.method === 'GET' && url.pathname === '/api/trades') {
    const limit = Math.min(Number(url.searchParams.get('limit') ?? 50) || 50, 1000);
    json(200, conn('trading_journal.db').prepare('SELECT * FROM trades ORDER BY id DESC LIMIT ?').all(limit));
  } else if (req.method === 'POST' && url.pathname === '/api/trades') {
    const body = await readBody(req);
    const isJson = (req.headers['content-type'] ?? '').includes('application/json');
    let fields: Record<string, unknown>;
    try {
      fields = isJson
        ? (JSON.parse(body) as Record<string, unknown>)
        : Object.fromEntries(new URLSearchParams(body));
    } catch {
      throw new HttpError(400, 'the body is not valid JSON');
    }
    const info = conn('trading_journal.db')
      .prepare(
        'INSERT INTO trades (opened_at, symbol, side, qty, entry_price, exit_price, note) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      .run(...parseTrade(fields));
    if (isJson) json(201, { id: Number(info.lastInsertRowid) });
    else {
      res.writeHead(303, { location: '/' });
      res.end();
    }
  } else if (req.method === 'GET' && url.pathname === '/api/status') {
    json(200, { status: await getStatus(manager), rows: rowCounts() });
  } else if (req.method === 'GET' && url.pathname === '/api/counts') {
    json(200, rowCounts());
  } else {
    throw new HttpError(404, `no route for ${req.method ?? ''} ${url.pathname}`);
  }
}

const server = createServer((req, res) => {
  handle(req, res).catch((error: unknown) => {
    const status = error instanceof HttpError ? error.status : 500;
    if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: error instanceof Error ? error.message : String(error) }));
  });
});

dehydrateOnExit(manager, {
  beforeDehydrate: async () => {
    log('shutdown: closing connections and dehydrating');
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
    for (const db of connections.values()) db.close();
  },
  onResult: (result, error) => {
    if (result === undefined) log(`shutdown: dehydration failed: ${String(error)}`);
    else {
      const changed = Object.entries(result.databases)
        .filter(([, d]) => d.changed)
        .map(([n]) => n);
      log(`shutdown: dehydrated ${result.totalRows} rows; archives changed: ${changed.join(', ') || 'none'}`);
      for (const e of result.errors) log(`shutdown: error: ${e}`);
    }
  },
});

server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  log(
    `listening on http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : port}`,
  );
});

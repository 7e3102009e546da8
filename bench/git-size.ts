/**
 * `npm run bench:git-size`: how large a Git repository of archives grows, plain archives against gzip archives.
 *
 * For each codec: a new repository holding the fixture's archive (bench/fixtures.ts), then `--commits` commits that
 * each change `--change` of the fixture's rows (updates spread over all three tables, different rows each commit),
 * dehydrate, and commit. Then `git gc` and `git count-objects -v`: the packed size is what a clone downloads and
 * what the host stores. Also printed: the archive's size and the sum of every version's size (what storing each
 * version whole would take).
 *
 * Options (or environment variables):
 *   --rows 1m        GIT_SIZE_ROWS     fixture size (k/m suffixes)
 *   --commits 50     GIT_SIZE_COMMITS  commits after the first
 *   --change 0.001   GIT_SIZE_CHANGE   share of the rows each commit changes
 *   --dir .bench     BENCH_DIR         fixtures and work files (the fixture is shared with `npm run bench`)
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { DBHydrationManager } from '../src/index.js';
import { ensureFixture } from './fixtures.js';

function option(name: string, env: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1] as string;
  return process.env[env] ?? fallback;
}

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim());
  if (m === null) throw new Error(`bad size "${text}": use e.g. 200k, 1m`);
  const scale = { '': 1, k: 1e3, m: 1e6 }[(m[2] ?? '').toLowerCase()] ?? 1;
  return Math.round(Number(m[1]) * scale);
}

const rows = parseSize(option('rows', 'GIT_SIZE_ROWS', '1m'));
const commits = Number(option('commits', 'GIT_SIZE_COMMITS', '50'));
const change = Number(option('change', 'GIT_SIZE_CHANGE', '0.001'));
const dir = resolve(option('dir', 'BENCH_DIR', '.bench'));
const label = rows >= 1e6 ? `${rows / 1e6}M` : `${rows / 1e3}k`;
const fixture = join(dir, 'fixtures', `bench-${label.toLowerCase()}.db`);
ensureFixture(fixture, rows);

/** Every `1/change`-th row of each table, a different residue each commit: `change` of the rows in all. */
function editRows(dbPath: string, commit: number): number {
  const modulus = Math.round(1 / change);
  const r = (commit * 7919) % modulus;
  const db = new Database(dbPath);
  try {
    let changed = 0;
    db.transaction(() => {
      changed += db.prepare('UPDATE trades SET qty = qty + 1 WHERE id % ? = ?').run(modulus, r).changes;
      changed += db
        .prepare('UPDATE candles SET volume = volume + 1 WHERE (ts / 60) % ? = ?')
        .run(modulus, r).changes;
      changed += db
        .prepare('UPDATE events SET created_at = coalesce(created_at, 0) + 1 WHERE id % ? = ?')
        .run(modulus, r).changes;
    })();
    return changed;
  } finally {
    db.close();
  }
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', maxBuffer: 1 << 26 });
}

interface CodecResult {
  readonly codec: 'none' | 'gzip';
  readonly archiveBytes: number;
  readonly versionsBytes: number;
  readonly packBytes: number;
  readonly rowsChanged: number;
  readonly seconds: number;
}

async function measure(codec: 'none' | 'gzip'): Promise<CodecResult> {
  const started = Date.now();
  const repo = join(dir, 'work', `git-size-${label.toLowerCase()}-${codec}`);
  rmSync(repo, { recursive: true, force: true });
  const data = join(repo, 'data');
  mkdirSync(data, { recursive: true });
  git(repo, 'init', '-q');
  git(repo, 'config', 'user.email', 'bench@example.invalid');
  git(repo, 'config', 'user.name', 'bench');
  git(repo, 'config', 'gc.auto', '0');
  // The database is not committed: only its archive, as db-hydration's ignore rules have it.
  execFileSync('sh', ['-c', 'printf "data/*.db\\ndata/.db-hydration/\\n" > .gitignore'], { cwd: repo });
  copyFileSync(fixture, join(data, 'shop.db'));
  const manager = new DBHydrationManager({ dataDir: data, compress: codec });
  const archive = join(data, 'json_archives', codec === 'gzip' ? 'shop.json.gz' : 'shop.json');
  let versionsBytes = 0;
  let rowsChanged = 0;
  for (let i = 0; i <= commits; i++) {
    if (i > 0) rowsChanged += editRows(join(data, 'shop.db'), i);
    const result = await manager.dehydrateAll();
    if (result.errors.length > 0) throw new Error(result.errors.join('\n'));
    versionsBytes += statSync(archive).size;
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', `commit ${i}`);
    if (i % 10 === 0) console.error(`[${label} ${codec}] commit ${i}/${commits}`);
  }
  git(repo, 'gc', '-q');
  const counts = git(repo, 'count-objects', '-v');
  const sizePack = Number(/^size-pack: (\d+)$/m.exec(counts)?.[1] ?? NaN) * 1024;
  const loose = Number(/^size: (\d+)$/m.exec(counts)?.[1] ?? NaN) * 1024;
  const human = git(repo, 'count-objects', '-vH').trim().replaceAll('\n', ', ');
  console.error(`[${label} ${codec}] git count-objects -vH: ${human}`);
  return {
    codec,
    archiveBytes: statSync(archive).size,
    versionsBytes,
    packBytes: sizePack + loose,
    rowsChanged,
    seconds: (Date.now() - started) / 1000,
  };
}

const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
const results = [await measure('none'), await measure('gzip')];
const [plain, gz] = results as [CodecResult, CodecResult];
console.log(
  `\nGit repository after ${commits} commits that each change ${(change * 100).toFixed(2)} % of the ${label}-row fixture's rows (git gc, git count-objects -v):\n`,
);
console.log('| archives | archive file | all versions, whole | repository after `git gc` | run |');
console.log('|---|--:|--:|--:|--:|');
for (const r of results)
  console.log(
    `| ${r.codec === 'gzip' ? 'gzip (`.json.gz`)' : 'plain (`.json`)'} | ${mb(r.archiveBytes)} | ${mb(r.versionsBytes)} | ${mb(r.packBytes)} | ${r.seconds.toFixed(0)} s |`,
  );
console.log(
  `\nRows changed per commit: ${Math.round(plain.rowsChanged / commits)}. Repository gzip / plain: ${(gz.packBytes / plain.packBytes).toFixed(2)}×.`,
);

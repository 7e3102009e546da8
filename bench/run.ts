/**
 * `npm run bench`: db-hydration against the sqlite3 shell on the fixtures of bench/fixtures.ts.
 *
 * For each size, several runs of: `sqlite3 db .dump > dump.sql`, db-hydration dehydrate, `sqlite3 new.db < dump.sql`,
 * db-hydration hydrate, each in its own process under `/usr/bin/time` (peak RSS). db-hydration runs as built
 * JavaScript (dist/). Medians are reported with the ratios db-hydration / sqlite3, and every hydrated database is
 * checked against its source by content.
 *
 * Options (or environment variables):
 *   --sizes 10k,200k,1m,5m   BENCH_SIZES   sizes in rows (k/m suffixes)
 *   --runs 5                 BENCH_RUNS    runs per size (median reported)
 *   --runs-large 1           BENCH_RUNS_LARGE  runs for sizes of 5M rows and more
 *   --dir .bench             BENCH_DIR     fixtures, work files and results
 *   --write-doc              also write the table into docs/benchmark.md (--readme: the same)
 *   --keep                   keep the work files (dumps, archives, hydrated databases)
 *   --from-results           measure nothing: print (and with --write-doc, write) the last results again
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import ts from 'typescript';
import { ensureFixture, tableRows } from './fixtures.js';
import { contentHashes, differingParts } from './content-hash.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SQLITE3 = '/usr/bin/sqlite3';
const TIME = '/usr/bin/time';

/** One measured process. */
interface Sample {
  /** Wall time of the whole process, ms. */
  readonly wallMs: number;
  /** Time of the operation itself (db-hydration: the library call, without Node's start-up), ms. */
  readonly opMs: number;
  readonly maxRssKiB: number;
}

/** Medians for one tool and one operation. */
interface Measure {
  readonly wallMs: number;
  readonly opMs: number;
  readonly maxRssKiB: number;
  readonly runs: number;
}

/** Everything measured for one size. */
export interface SizeResult {
  readonly label: string;
  readonly rows: number;
  readonly dump: Measure;
  readonly replay: Measure;
  readonly dehydrate: Measure;
  readonly hydrate: Measure;
  /** Hydrating over an existing database (`force`, which backs it up first); absent in results of older runs. */
  readonly replace?: Measure;
  /**
   * Median over the runs of each run's own ratio db-hydration / sqlite3 (the two are measured back to back, so a slow
   * spell of the machine affects both); absent in results of older runs, which used the ratio of the medians.
   */
  readonly ratios?: { readonly dehydrate: number; readonly hydrate: number };
  readonly dumpBytes: number;
  readonly archiveBytes: number;
  readonly dbBytes: number;
  /** Whether every hydrated database had the source's content. */
  readonly exact: boolean;
  readonly mismatches: readonly string[];
}

/** The JSON written to `<dir>/results/latest.json`. */
export interface BenchReport {
  readonly machine: string;
  readonly date: string;
  readonly sizes: readonly SizeResult[];
}

function option(name: string, env: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1] as string;
  return process.env[env] ?? fallback;
}

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim());
  if (m === null) throw new Error(`bad size "${text}": use e.g. 10k, 200k, 1m`);
  const scale = { '': 1, k: 1e3, m: 1e6 }[(m[2] ?? '').toLowerCase()] ?? 1;
  return Math.round(Number(m[1]) * scale);
}

function label(rows: number): string {
  if (rows >= 1e6 && rows % 1e5 === 0) return `${rows / 1e6}M`;
  if (rows >= 1e3 && rows % 100 === 0) return `${rows / 1e3}k`;
  return String(rows);
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

function summarize(samples: readonly Sample[]): Measure {
  return {
    wallMs: median(samples.map((s) => s.wallMs)),
    opMs: median(samples.map((s) => s.opMs)),
    maxRssKiB: median(samples.map((s) => s.maxRssKiB)),
    runs: samples.length,
  };
}

/** Installs Debian's sqlite3 (and GNU time) when missing. */
function setup(): void {
  const missing = [...(existsSync(SQLITE3) ? [] : ['sqlite3']), ...(existsSync(TIME) ? [] : ['time'])];
  if (missing.length === 0) return;
  console.error(`installing ${missing.join(' ')} (apt-get)...`);
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const run = (args: string[]): void => {
    const [cmd, ...rest] = [...sudo, ...args] as [string, ...string[]];
    execFileSync(cmd, rest, { stdio: 'inherit' });
  };
  run(['apt-get', 'update']);
  run(['apt-get', 'install', '-y', ...missing]);
}

/** Runs a command under /usr/bin/time; stdin/stdout may be files. Returns its wall time, RSS and stdout. */
function measure(
  command: string,
  args: readonly string[],
  io: { stdin?: string; stdout?: string } = {},
): { sample: Sample; stdout: string } {
  const timeFile = join(workRoot, 'time.txt');
  const stdin = io.stdin === undefined ? 'ignore' : openSync(io.stdin, 'r');
  const stdout = io.stdout === undefined ? 'pipe' : openSync(io.stdout, 'w');
  const start = process.hrtime.bigint();
  const r = spawnSync(TIME, ['-f', '%M', '-o', timeFile, command, ...args], {
    stdio: [stdin, stdout, 'pipe'],
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  if (typeof stdin === 'number') closeSync(stdin);
  if (typeof stdout === 'number') closeSync(stdout);
  if (r.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${String(r.status)}): ${r.stderr}`);
  }
  const rss = Number(readFileSync(timeFile, 'utf8').trim().split('\n').pop());
  return {
    sample: { wallMs, opMs: wallMs, maxRssKiB: rss },
    stdout: typeof r.stdout === 'string' ? r.stdout : '',
  };
}

/** Compiles bench/child.ts to plain JavaScript next to the work files. */
function buildChild(): string {
  const source = readFileSync(join(ROOT, 'bench', 'child.ts'), 'utf8');
  const out = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  const path = join(workRoot, 'child.mjs');
  writeFileSync(path, out.outputText);
  return path;
}

function runLibrary(
  op: 'dehydrate' | 'hydrate' | 'replace',
  dataDir: string,
  archiveDir: string,
  fileName: string,
): Sample {
  const { sample, stdout } = measure(process.execPath, [
    childPath,
    op,
    distEntry,
    dataDir,
    archiveDir,
    fileName,
  ]);
  const report = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { ms: number; errors: string[] };
  if (report.errors.length > 0) throw new Error(`${op} reported errors: ${report.errors.join('; ')}`);
  return { ...sample, opMs: report.ms };
}

function benchSize(rows: number, runs: number): SizeResult {
  const name = `bench-${label(rows).toLowerCase()}`;
  const fixtureDir = join(dir, 'fixtures');
  const fileName = `${name}.db`;
  const fixture = join(fixtureDir, fileName);
  if (!existsSync(fixture)) {
    const n = tableRows(rows);
    console.error(
      `[${label(rows)}] generating ${fixture} (trades ${n.trades}, candles ${n.candles}, events ${n.events})...`,
    );
    ensureFixture(fixture, rows);
  }
  const work = join(workRoot, name);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const dumpFile = join(work, 'dump.sql');
  const samples = {
    dump: [] as Sample[],
    replay: [] as Sample[],
    dehydrate: [] as Sample[],
    hydrate: [] as Sample[],
    replace: [] as Sample[],
  };
  let archiveBytes = 0;
  let hydratedPath = '';
  for (let run = 1; run <= runs; run++) {
    console.error(`[${label(rows)}] run ${run}/${runs}`);
    samples.dump.push(measure(SQLITE3, [fixture, '.dump'], { stdout: dumpFile }).sample);
    const archiveDir = join(work, `archives-${run}`);
    samples.dehydrate.push(runLibrary('dehydrate', fixtureDir, archiveDir, fileName));
    archiveBytes = statSync(join(archiveDir, `${name}.json`)).size;
    const replayed = join(work, `replayed-${run}.db`);
    samples.replay.push(measure(SQLITE3, [replayed], { stdin: dumpFile }).sample);
    const outDir = join(work, `hydrated-${run}`);
    mkdirSync(outDir);
    samples.hydrate.push(runLibrary('hydrate', outDir, archiveDir, fileName));
    // Once more over the database just hydrated: what `hydrate --force` costs, backup included.
    samples.replace.push(runLibrary('replace', outDir, archiveDir, fileName));
    hydratedPath = join(outDir, fileName);
    if (run < runs) {
      rmSync(replayed, { force: true });
      rmSync(outDir, { recursive: true, force: true });
      rmSync(archiveDir, { recursive: true, force: true });
    }
  }
  console.error(`[${label(rows)}] checking the hydrated database against its source...`);
  const mismatches = differingParts(contentHashes(fixture), contentHashes(hydratedPath));
  const result: SizeResult = {
    label: label(rows),
    rows,
    dump: summarize(samples.dump),
    replay: summarize(samples.replay),
    dehydrate: summarize(samples.dehydrate),
    hydrate: summarize(samples.hydrate),
    replace: summarize(samples.replace),
    ratios: {
      dehydrate: median(samples.dehydrate.map((d, i) => d.wallMs / (samples.dump[i] as Sample).wallMs)),
      hydrate: median(samples.hydrate.map((h, i) => h.wallMs / (samples.replay[i] as Sample).wallMs)),
    },
    dumpBytes: statSync(dumpFile).size,
    archiveBytes,
    dbBytes: statSync(fixture).size,
    exact: mismatches.length === 0,
    mismatches,
  };
  if (!keep) rmSync(work, { recursive: true, force: true });
  return result;
}

const fmtS = (ms: number): string => (ms < 10_000 ? (ms / 1000).toFixed(2) : (ms / 1000).toFixed(1));
const fmtX = (x: number): string => `${x.toFixed(2)}x`;
const mib = (kib: number): string => (kib / 1024).toFixed(0);
const mb = (bytes: number): string =>
  bytes / 1e6 < 10 ? (bytes / 1e6).toFixed(2) : (bytes / 1e6).toFixed(0);

const dehydrateRatio = (r: SizeResult): number => r.ratios?.dehydrate ?? r.dehydrate.wallMs / r.dump.wallMs;
const hydrateRatio = (r: SizeResult): number => r.ratios?.hydrate ?? r.hydrate.wallMs / r.replay.wallMs;

/** The results as a Markdown table (ratios are db-hydration / sqlite3, process wall times). */
export function renderTable(results: readonly SizeResult[]): string {
  const lines = [
    '| rows | dehydrate s | `.dump` s | ratio | hydrate s | replay s | ratio | archive MB | dump MB | ratio | peak RSS MiB dehydrate / hydrate (sqlite3 dump / replay) | µs/row dehydrate / hydrate | hydrate over an existing db: s / peak RSS MiB | exact |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |',
  ];
  for (const r of results) {
    lines.push(
      [
        r.label,
        fmtS(r.dehydrate.wallMs),
        fmtS(r.dump.wallMs),
        fmtX(dehydrateRatio(r)),
        fmtS(r.hydrate.wallMs),
        fmtS(r.replay.wallMs),
        fmtX(hydrateRatio(r)),
        mb(r.archiveBytes),
        mb(r.dumpBytes),
        fmtX(r.archiveBytes / r.dumpBytes),
        `${mib(r.dehydrate.maxRssKiB)} / ${mib(r.hydrate.maxRssKiB)} (${mib(r.dump.maxRssKiB)} / ${mib(r.replay.maxRssKiB)})`,
        `${((r.dehydrate.opMs * 1000) / r.rows).toFixed(2)} / ${((r.hydrate.opMs * 1000) / r.rows).toFixed(2)}`,
        r.replace === undefined ? '-' : `${fmtS(r.replace.wallMs)} / ${mib(r.replace.maxRssKiB)}`,
        r.exact ? 'yes' : `NO: ${r.mismatches.join(', ')}`,
      ]
        .join(' | ')
        .replace(/^/, '| ')
        .concat(' |'),
    );
  }
  return lines.join('\n');
}

/** The targets, checked against the results (at 1M rows, and across sizes). */
export function renderTargets(results: readonly SizeResult[]): string {
  const at = (rows: number): SizeResult | undefined => results.find((r) => r.rows === rows);
  const lines: string[] = [];
  const mark = (ok: boolean): string => (ok ? 'met' : '**not met**');
  const m1 = at(1e6);
  if (m1 !== undefined) {
    const deh = dehydrateRatio(m1);
    const hyd = hydrateRatio(m1);
    const size = m1.archiveBytes / m1.dumpBytes;
    const rss = Math.max(m1.dehydrate.maxRssKiB, m1.hydrate.maxRssKiB, m1.replace?.maxRssKiB ?? 0) / 1024;
    lines.push(
      `- 1M rows: dehydrate ${fmtX(deh)} \`.dump\` (target <= 1.0x): ${mark(deh <= 1)}`,
      `- 1M rows: hydrate ${fmtX(hyd)} dump replay (target <= 0.5x): ${mark(hyd <= 0.5)}`,
      `- 1M rows: archive ${fmtX(size)} dump size (target <= 0.75x): ${mark(size <= 0.75)}`,
      `- 1M rows: peak RSS ${rss.toFixed(0)} MiB, the most of dehydrate, hydrate and hydrate over an existing db (target <= 100 MiB): ${mark(rss <= 100)}`,
    );
  }
  const m5 = at(5e6);
  if (m1 !== undefined && m5 !== undefined) {
    for (const op of ['dehydrate', 'hydrate'] as const) {
      const change = m5[op].maxRssKiB / m1[op].maxRssKiB - 1;
      lines.push(
        `- peak RSS of ${op}, 5M vs 1M rows: ${(change * 100).toFixed(0)}% (target within ±10%): ${mark(Math.abs(change) <= 0.1)}`,
      );
    }
  }
  if (results.length > 1) {
    for (const op of ['dehydrate', 'hydrate'] as const) {
      const perRow = results.map((r) => r[op].opMs / r.rows);
      const mid = median(perRow);
      const spread = Math.max(...perRow.map((x) => Math.abs(x / mid - 1)));
      lines.push(
        `- time per row of ${op}, ${results[0]?.label ?? ''} to ${results[results.length - 1]?.label ?? ''}: within ±${(spread * 100).toFixed(0)}% of the median (target ±20%): ${mark(spread <= 0.2)}`,
      );
      // Below ~100k rows the fixed cost per database (schema, quick_check, fsyncs, manifest) dominates.
      const large = results.filter((r) => r.rows >= 1e5);
      if (large.length > 1 && large.length < results.length) {
        const perRowLarge = large.map((r) => r[op].opMs / r.rows);
        const midLarge = median(perRowLarge);
        const spreadLarge = Math.max(...perRowLarge.map((x) => Math.abs(x / midLarge - 1)));
        lines.push(
          `  - from ${large[0]?.label ?? ''} (where the fixed cost per database no longer dominates): within ±${(spreadLarge * 100).toFixed(0)}%`,
        );
      }
    }
  }
  return lines.join('\n');
}

function machine(): string {
  const sqlite = execFileSync(SQLITE3, ['--version'], { encoding: 'utf8' }).split(' ')[0] ?? '?';
  const db = new Database(':memory:');
  const bundled = String(db.prepare('SELECT sqlite_version()').pluck().get());
  db.close();
  const cpu = cpus();
  return `${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Node ${process.version}, sqlite3 shell ${sqlite}, better-sqlite3's SQLite ${bundled}`;
}

async function updateDoc(report: BenchReport, table: string): Promise<void> {
  const path = join(ROOT, 'docs', 'benchmark.md');
  const text = readFileSync(path, 'utf8');
  const open = '<!-- section:bench -->';
  const close = '<!-- /section:bench -->';
  const a = text.indexOf(open);
  const b = text.indexOf(close);
  if (a < 0 || b < a) throw new Error('docs/benchmark.md has no <!-- section:bench --> markers');
  const body = readFileSync(join(ROOT, 'bench', 'benchmark-doc.md'), 'utf8')
    .replace('{{TABLE}}', table)
    .replace('{{MACHINE}}', report.machine)
    .replace('{{DATE}}', report.date);
  const updated = `${text.slice(0, a + open.length)}\n${body.trim()}\n${text.slice(b)}`;
  // Formatted as `npm run lint` expects (prettier aligns the table).
  const prettier = await import('prettier');
  const config = (await prettier.resolveConfig(path)) ?? {};
  writeFileSync(path, await prettier.format(updated, { ...config, filepath: path }));
}

// ---------------------------------------------------------------------------------------------------------------

const dir = resolve(option('dir', 'BENCH_DIR', join(ROOT, '.bench')));
const workRoot = join(dir, 'work');
const sizes = option('sizes', 'BENCH_SIZES', '10k,200k,1m,5m').split(',').map(parseSize);
const runs = Number(option('runs', 'BENCH_RUNS', '5'));
const runsLarge = Number(option('runs-large', 'BENCH_RUNS_LARGE', '1'));
const keep = process.argv.includes('--keep');
let childPath = '';
const distEntry = resolve(option('entry', 'BENCH_ENTRY', join(ROOT, 'dist', 'index.js')));

let report: BenchReport;
if (process.argv.includes('--from-results')) {
  report = JSON.parse(readFileSync(join(dir, 'results', 'latest.json'), 'utf8')) as BenchReport;
} else {
  setup();
  if (!existsSync(distEntry)) throw new Error(`${distEntry} is missing: run \`npm run build\` first`);
  mkdirSync(workRoot, { recursive: true });
  childPath = buildChild();
  const results: SizeResult[] = [];
  for (const rows of sizes) results.push(benchSize(rows, rows >= 5e6 ? Math.min(runs, runsLarge) : runs));
  report = { machine: machine(), date: new Date().toISOString(), sizes: results };
  mkdirSync(join(dir, 'results'), { recursive: true });
  writeFileSync(join(dir, 'results', 'latest.json'), `${JSON.stringify(report, null, 2)}\n`);
}
const table = `${renderTable(report.sizes)}\n\n${renderTargets(report.sizes)}`;
writeFileSync(join(dir, 'results', 'latest.md'), `${table}\n\n${report.machine}, ${report.date}\n`);
console.log(table);
console.log(`\n${report.machine}, ${report.date}`);
if (process.argv.includes('--write-doc') || process.argv.includes('--readme')) await updateDoc(report, table);
if (report.sizes.some((r) => !r.exact)) {
  console.error('a hydrated database differs from its source');
  process.exitCode = 1;
}

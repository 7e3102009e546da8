/**
 * Summarizes a V8 CPU profile (`node --cpu-prof`): the functions with the most self time, and with the most total
 * time (self plus callees, each function counted once per sample however deep it recurses).
 *
 * Usage: node --import tsx bench/profile-summary.ts <file.cpuprofile> [--top 10]
 */
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..');

/** `name (file:line)`, with paths relative to the repository. */
function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName === '' ? '(anonymous)' : functionName;
  if (url === '') return name;
  const file = url.startsWith('file://') ? relative(ROOT, fileURLToPath(url)) : url;
  return `${name} (${file}:${lineNumber + 1})`;
}

export interface ProfileRow {
  readonly name: string;
  readonly ms: number;
  readonly share: number;
}

/** Self and total time per function, most first. */
export function summarizeProfile(profile: CpuProfile): {
  totalMs: number;
  self: ProfileRow[];
  total: ProfileRow[];
} {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let all = 0;
  for (const [id, us] of selfUs) {
    all += us;
    const node = byId.get(id) as ProfileNode;
    const name = frameName(node);
    self.set(name, (self.get(name) ?? 0) + us);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = frameName(byId.get(at) as ProfileNode);
      if (seen.has(n)) continue;
      seen.add(n);
      total.set(n, (total.get(n) ?? 0) + us);
    }
  }
  const rows = (m: Map<string, number>): ProfileRow[] =>
    [...m].map(([name, us]) => ({ name, ms: us / 1000, share: us / all })).sort((a, b) => b.ms - a.ms);
  return { totalMs: all / 1000, self: rows(self), total: rows(total) };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (file === undefined) throw new Error('usage: profile-summary <file.cpuprofile> [--top 10]');
  const i = process.argv.indexOf('--top');
  const top = i > 0 ? Number(process.argv[i + 1]) : 10;
  const summary = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  const print = (title: string, rows: readonly ProfileRow[]): void => {
    console.log(`\n${title}`);
    console.log('| # | function | ms | % |');
    console.log('| ---: | --- | ---: | ---: |');
    rows.slice(0, top).forEach((r, k) => {
      console.log(`| ${k + 1} | \`${r.name}\` | ${r.ms.toFixed(0)} | ${(r.share * 100).toFixed(1)}% |`);
    });
  };
  console.log(`${file}: ${summary.totalMs.toFixed(0)} ms sampled`);
  print('Self time', summary.self);
  print('Total time (self + callees)', summary.total);
}

/**
 * `npm run demo`: a guided tour of db-hydration on the example app's sample data, in a temporary directory.
 * It runs the built CLI (dist/cli.js) and real git, and stops with a non-zero exit code if any step does not do
 * what the tour says. `npm run demo -- --keep` keeps the temporary directory.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = join(root, 'dist', 'cli.js');
const samples = join(root, 'examples', 'trading-journal', 'data', 'json_archives');
const keep = process.argv.includes('--keep');

if (!existsSync(cliPath)) {
  console.error(`${cliPath} does not exist: run \`npm run build\` (npm ci does it for you) and try again.`);
  process.exit(1);
}

const color = process.stdout.isTTY;
const bold = (s: string): string => (color ? `\u001b[1m${s}\u001b[0m` : s);
const cyan = (s: string): string => (color ? `\u001b[36m${s}\u001b[0m` : s);

const work = mkdtempSync(join(tmpdir(), 'db-hydration-demo-'));
let step = 0;

function title(text: string): void {
  console.log(`\n${bold(`── ${++step}. ${text}`)}`);
}
function say(text: string): void {
  console.log(text.replace(/^/gm, '   '));
}
function fail(message: string): never {
  console.error(`\ndemo failed: ${message}\n(the temporary directory is kept: ${work})`);
  process.exit(1);
}

/** Runs a command in the demo directory, showing it and its output; checks the exit code. */
function run(display: string, command: string, args: readonly string[], expectCode = 0): string {
  console.log(`\n   ${cyan(`$ ${display}`)}`);
  const r = spawnSync(command, args, { cwd: work, encoding: 'utf8' });
  const out = `${r.stdout}${r.stderr}`.trimEnd();
  if (out !== '') say(out);
  if (r.status !== expectCode) fail(`\`${display}\` exited with ${String(r.status)}, expected ${expectCode}`);
  return r.stdout;
}
const dh = (args: string, expectCode = 0): string =>
  run(`db-hydration ${args}`, process.execPath, [cliPath, ...args.split(' ')], expectCode);
const git = (args: string): string => run(`git ${args}`, 'git', ['-c', 'core.pager=cat', ...args.split(' ')]);

try {
  console.log(`db-hydration demo: keep SQLite databases out of Git, and get them back exactly.
Working in ${work}`);

  title('A fresh clone: the repository holds JSON archives, not databases');
  cpSync(samples, join(work, 'data', 'json_archives'), { recursive: true });
  writeFileSync(join(work, '.gitignore'), '*.db\n*.db-wal\n*.db-shm\n*.bak\n*.corrupt-*\n');
  spawnSync('git', ['init', '-q', '-b', 'main'], { cwd: work });
  spawnSync('git', ['add', '.'], { cwd: work });
  spawnSync(
    'git',
    ['-c', 'user.name=demo', '-c', 'user.email=demo@example.com', 'commit', '-qm', 'sample data'],
    {
      cwd: work,
    },
  );
  git('ls-files');

  title('Hydrate: build the databases from the archives');
  dh('hydrate');
  dh('status');

  title('Use the app: change one row');
  const journal = join(work, 'data', 'trading_journal.db');
  const db = new Database(journal);
  const sql = "UPDATE trades SET note = 'revenge trade: should have waited' WHERE id = 7";
  say(`sqlite> ${sql};`);
  db.prepare(sql).run();
  db.close();
  const status = dh('status');
  if (!/changed since archive \(table "trades"\)/.test(status))
    fail('status did not see the change in trades');

  title('Dehydrate: export the databases; only the changed archive is rewritten');
  dh('dehydrate');

  title('The archive diff is one row (plus its export time): easy to review, easy to merge');
  git('diff --stat');
  const diff = git('diff -U0 -- data/json_archives/trading_journal.json');
  const changed = diff.split('\n').filter((l) => /^[+-]\{/.test(l));
  if (changed.length !== 2)
    fail(`expected the diff to change exactly one row line, got ${changed.length / 2}`);

  title('Damage a database: overwrite two of its pages, as a crash or a bad copy might');
  const market = join(work, 'data', 'market_data.db');
  const bytes = readFileSync(market);
  bytes.fill(0xee, 4096, 3 * 4096);
  writeFileSync(market, bytes);
  say('pages 2-3 of data/market_data.db overwritten with 0xEE');
  dh('status');

  title('Fix: the damaged file is kept aside and the database is restored from its archive');
  dh('fix');
  const verify = dh('verify');
  if (!verify.includes('OK: 3 of 3 databases match')) fail('verify did not confirm all three databases');

  title('Stats: what the archives hold');
  dh('stats');

  console.log(`
Done. What you saw:
  - archives in Git, databases hydrated on demand (\`db-hydration hydrate\` after a pull);
  - \`status\` and \`verify\` compare databases with archives by content;
  - a one-row change is a one-line diff;
  - a damaged database is repaired from its archive, and the damaged file is kept.
Next: README.md (quick start), docs/api.md (the library), docs/cli.md (every command), examples/trading-journal (an app using the API).`);
} finally {
  if (keep) console.log(`\n(kept ${work})`);
  else rmSync(work, { recursive: true, force: true });
}

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { tempDir } from './helpers/fixtures.js';
import { ensureFixture } from '../bench/fixtures.js';
import { contentHashes, differingParts } from '../bench/content-hash.js';
import type { BenchReport } from '../bench/run.js';

const ROOT = resolve(import.meta.dirname, '..');

describe('benchmark (tiny run)', () => {
  it('measures db-hydration and sqlite3 on a 3k-row fixture and finds the hydrated database equal to its source, and the merge clean and exact', () => {
    if (!existsSync(join(ROOT, 'dist', 'index.js'))) {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
    }
    const { dir, cleanup } = tempDir();
    try {
      const run = spawnSync(
        process.execPath,
        ['--import', 'tsx', 'bench/run.ts', '--sizes', '3k', '--runs', '1', '--dir', dir, '--keep'],
        { cwd: ROOT, encoding: 'utf8' },
      );
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /^\| 3k \| .* \| yes \|$/m);
      // The second table: gzip'd sizes, merge, verify, the CLI in fresh processes, peak RSS; merge clean and exact.
      assert.match(
        run.stdout,
        /^\| rows \| archive gzip MB \| dump gzip MB \| gzip ratio \| unchanged re-dehydrate ms \/ of a dehydrate \| 100 tables, one changed: ms \/ of a full dehydrate \(tables copied, exact\) \| merge s \| merge \/ dehydrate \|/m,
      );
      assert.match(
        run.stdout,
        /^\| 3k( \| [\d.]+){3}x \| \d+ \/ [\d.]+ % \| \d+ \/ [\d.]+ % \(\d+ of 100, exact\) \| [\d.]+ \| [\d.]+x \| \d+ \| [\d.]+ \/ [\d.]+x \/ \d+ \| \d+ \/ \d+ \| [\d.]+ \/ \d+ \| \d+ \/ \d+ \| \d+ \([\w -]+\) \| yes \|$/m,
      );
      // The targets, at the largest size measured when neither 1M nor 5M was.
      for (const target of [
        /^- 3k rows: dehydrate [\d.]+x `\.dump` \(target <= 0\.8x\): /m,
        /^- 3k rows: hydrate [\d.]+x dump replay \(target <= 0\.45x\): /m,
        /^- 3k rows: gzip'd archive [\d.]+x the gzip'd dump \(target <= 0\.9x\): /m,
        /^- 3k rows: raw archive [\d.]+x the dump \(target <= 1\.0x\): /m,
        /^- 3k rows: 100 tables of which one changed [\d.]+ % of a full dehydrate \(\d+ tables copied, \d+ ms wall, Node start-up included; the archive is exactly a full export; target <= 25 %\): /m,
        /^- 3k rows: merge \(\d+ \/ \d+ rows changed\) [\d.]+x one dehydrate \(target <= 1\.0x\): /m,
        /^- 3k rows: merge peak RSS \d+ MiB \(target <= 100 MiB\): /m,
        /^- peak RSS of every command at every size, MiB: 3k \d+ \(.+\) \(target <= 100 MiB\): /m,
        /^- peak RSS of `verify`: 3k \d+ MiB \(target <= 100 MiB\): /m,
        /^- 3k rows: `dehydrate` in a fresh process \d+ ms, median of 5 \(target <= 150 ms\): /m,
        /^- 3k rows: `hydrate` in a fresh process \d+ ms, median of 5 \(target <= 150 ms\): /m,
      ]) {
        assert.match(run.stdout, target);
      }

      const report = JSON.parse(readFileSync(join(dir, 'results', 'latest.json'), 'utf8')) as BenchReport;
      assert.equal(report.sizes.length, 1);
      const size = report.sizes[0];
      assert.ok(size !== undefined);
      assert.equal(size.rows, 3000);
      assert.equal(size.exact, true);
      // The many-tables fixture is below the size that copies tables (4 MiB): measured, every table read, exact.
      assert.equal(size.manyTables?.exact, true);
      assert.equal(size.manyTables.tablesCopied, 0);
      assert.equal(size.manyTables.tables, 100);
      assert.deepEqual(size.mismatches, []);
      assert.ok(size.replace !== undefined, 'hydrate over an existing database is measured');
      // With one run, each ratio is that run's own.
      assert.equal(size.ratios?.dehydrate, size.dehydrate.wallMs / size.dump.wallMs);
      assert.equal(size.ratios.hydrate, size.hydrate.wallMs / size.replay.wallMs);
      for (const m of [size.dump, size.replay, size.dehydrate, size.hydrate, size.replace]) {
        assert.equal(m.runs, 1);
        assert.ok(m.wallMs > 0 && m.opMs > 0 && m.opMs <= m.wallMs, JSON.stringify(m));
        assert.ok(m.maxRssKiB > 1000, `peak RSS ${m.maxRssKiB} KiB`);
      }
      assert.ok(size.archiveBytes > 100_000 && size.dumpBytes > 100_000, JSON.stringify(size));

      // gzip -6: smaller than the raw files.
      assert.ok(size.gzip !== undefined);
      assert.ok(
        size.gzip.archiveBytes > 10_000 && size.gzip.archiveBytes < size.archiveBytes,
        JSON.stringify(size),
      );
      assert.ok(size.gzip.dumpBytes > 10_000 && size.gzip.dumpBytes < size.dumpBytes, JSON.stringify(size));
      // The merge: both branches changed rows, the merge was clean and hydrates into both branches' edits.
      const merge = size.merge;
      assert.ok(merge !== undefined);
      assert.ok(merge.changedOurs > 0 && merge.changedTheirs > 0, JSON.stringify(merge));
      assert.equal(merge.clean, true);
      assert.equal(merge.conflicts, 0);
      assert.equal(merge.exact, true);
      assert.deepEqual(merge.mismatches, []);
      assert.equal(merge.ratio, merge.merge.wallMs / size.dehydrate.wallMs);
      assert.equal(merge.uncheckedRatio, merge.unchecked.wallMs / size.dehydrate.wallMs);
      // verify and the CLI in fresh processes (at least 5 runs each, at small sizes).
      assert.ok(size.verify !== undefined && size.cli !== undefined);
      for (const m of [merge.merge, merge.unchecked, size.verify, size.cli.dehydrate, size.cli.hydrate]) {
        assert.ok(m.wallMs > 0 && m.maxRssKiB > 1000, JSON.stringify(m));
      }
      assert.equal(size.cli.dehydrate.runs, 5);
      assert.equal(size.cli.hydrate.runs, 5);
      const merged = join(dir, 'work', 'bench-3k', 'merged-hydrated', 'bench-3k.db');
      const m = new Database(merged, { readonly: true });
      assert.ok(
        Number(m.prepare("SELECT count(*) FROM trades WHERE note = 'inserted on ours'").pluck().get()) > 0,
        "ours' inserts are in the merged database",
      );
      m.close();
      assert.notDeepEqual(
        contentHashes(merged)['table candles'],
        contentHashes(join(dir, 'fixtures', 'bench-3k.db'))['table candles'],
      );

      // The fixture holds what bench/fixtures.ts promises: 3 tables split 40/40/20, a view, a trigger, indexes.
      const fixture = join(dir, 'fixtures', 'bench-3k.db');
      const db = new Database(fixture, { readonly: true });
      const count = (sql: string): number => Number(db.prepare(sql).pluck().get());
      assert.equal(count('SELECT count(*) FROM trades'), 1200);
      assert.equal(count('SELECT count(*) FROM candles'), 1200);
      assert.equal(count('SELECT count(*) FROM events'), 600);
      assert.equal(count("SELECT count(*) FROM sqlite_schema WHERE type = 'view'"), 1);
      assert.equal(count("SELECT count(*) FROM sqlite_schema WHERE type = 'trigger'"), 1);
      assert.equal(count("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL"), 4);
      assert.equal(count('SELECT min(length(payload)) >= 16 AND max(length(payload)) <= 256 FROM events'), 1);
      assert.equal(count('SELECT min(seq) > 4611686018427387904 - 1099511627776 FROM events'), 1);
      db.close();

      // The kept hydrated database equals the fixture by content, and the check does see a one-cell change.
      const hydrated = join(dir, 'work', 'bench-3k', 'hydrated-1', 'bench-3k.db');
      const source = contentHashes(fixture);
      assert.deepEqual(differingParts(source, contentHashes(hydrated)), []);
      const changed = join(dir, 'changed.db');
      copyFileSync(hydrated, changed);
      const w = new Database(changed);
      assert.equal(
        w.prepare("UPDATE candles SET volume = volume + 1 WHERE symbol = 'BTC' AND ts = 1700000000").run()
          .changes,
        1,
      );
      w.close();
      assert.deepEqual(differingParts(source, contentHashes(changed)), ['table candles']);

      // Fixed seed: generating the same size again gives the same content.
      const again = join(dir, 'again.db');
      ensureFixture(again, 3000);
      assert.deepEqual(contentHashes(again), source);
    } finally {
      cleanup();
    }
  });
});

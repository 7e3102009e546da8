/**
 * When a parallel export uses a helper thread, and how the tables are cut into units of work for the two threads.
 */
import { availableParallelism } from 'node:os';
import type Database from 'better-sqlite3';
import type { TablePlan } from './read-schema.js';
import { quoteIdent } from '../sqlite/identifiers.js';
import { rowidKeyOf } from './export-rows.js';
import type { ExportUnit } from './parallel-protocol.js';

/** When the export is split over two threads. */
export interface ParallelSettings {
  /** Smaller database files are read on one thread (starting the helper costs about 50 ms). */
  readonly minFileBytes: number;
  /** Fewer rows in all are read on one thread. */
  readonly minRows: number;
  /** Rows per unit when a table is split into rowid ranges. */
  readonly unitRows: number;
  /** Whether the main thread waits for the helper's snapshot before it starts (tests: so the helper takes part). */
  readonly waitForHelper: boolean;
}

/**
 * The settings for this process, or `undefined` for one thread. `DB_HYDRATION_PARALLEL=off` turns the helper off;
 * `force` or `force:<rows per unit>` (for tests) uses it for every database, with tiny units, and has the main thread
 * wait for it.
 */
export function parallelSettings(): ParallelSettings | undefined {
  const mode = process.env.DB_HYDRATION_PARALLEL ?? '';
  const forced = /^force(?::(\d+))?$/.exec(mode);
  if (forced !== null) {
    return {
      minFileBytes: 0,
      minRows: 0,
      unitRows: Math.max(1, Number(forced[1] ?? 16)),
      waitForHelper: true,
    };
  }
  if (mode === 'off' || availableParallelism() < 2) return undefined;
  return { minFileBytes: 8 << 20, minRows: 100_000, unitRows: 65_536, waitForHelper: false };
}

/**
 * Cuts the tables into units, in archive order. A table read in rowid order with more than `unitRows` rows is split
 * into ranges of its rowid values (`min`..`max` cut evenly: the first range is open below and the last open above,
 * so every row falls in exactly one range whatever the values).
 */
export function planUnits(
  db: Database.Database,
  tables: readonly TablePlan[],
  counts: readonly number[],
  unitRows: number,
): ExportUnit[] {
  const units: ExportUnit[] = [];
  tables.forEach((table, index) => {
    const count = counts[index] ?? 0;
    const rowid = count > unitRows ? rowidKeyOf(table) : undefined;
    if (rowid === undefined) {
      units.push({ table: index });
      return;
    }
    const [low, high] = db
      .prepare(`SELECT min(${rowid.key}), max(${rowid.key}) FROM main.${quoteIdent(table.name)}`)
      .raw(true)
      .safeIntegers(true)
      .get() as [bigint | null, bigint | null];
    if (low === null || high === null) {
      units.push({ table: index });
      return;
    }
    const pieces = BigInt(Math.min(Math.ceil(count / unitRows), MAX_UNITS_PER_TABLE));
    const span = high - low + 1n;
    let after: bigint | undefined;
    for (let k = 1n; k <= pieces; k++) {
      const upTo = k === pieces ? undefined : low - 1n + (span * k) / pieces;
      if (upTo !== undefined && after !== undefined && upTo <= after) continue;
      units.push({ table: index, range: { after, upTo } });
      after = upTo;
    }
  });
  return units;
}

/** A table is cut into at most this many ranges: every unit costs a statement and a part file. */
const MAX_UNITS_PER_TABLE = 64;

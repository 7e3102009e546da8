/**
 * The shared-memory protocol between a parallel export's main thread (export-helper.ts) and its helper thread
 * (export-worker.ts): the layout of the shared state, the status and GO values, and the messages they exchange.
 */
import type Database from 'better-sqlite3';
import type { MessagePort } from 'node:worker_threads';
import type { ArchivePragmas } from '../archive/format.js';
import type { TablePlan } from './read-schema.js';
import type { RowRange } from './export-rows.js';

/** One piece of work: a table, or a rowid range of one. */
export interface ExportUnit {
  /** Index of the table in the plan. */
  readonly table: number;
  readonly range?: RowRange | undefined;
}

/** What both connections must see alike. */
export type SnapshotFingerprint = readonly [schemaVersion: bigint, pageCount: bigint, freelistCount: bigint];

/** Reads the fingerprint; inside a read transaction this also starts the snapshot. */
export function readFingerprint(db: Database.Database): SnapshotFingerprint {
  db.prepare('SELECT count(*) FROM main.sqlite_schema').pluck().get();
  const value = (pragma: string): bigint => BigInt(db.pragma(pragma, { simple: true }) as number | bigint);
  return [value('schema_version'), value('page_count'), value('freelist_count')];
}

// Layout of the shared Int32Array.
export const STATUS = 0;
export const GO = 1;
export const SIGNAL = 2;
export const WORKER_ROWS = 3;
export const HEARTBEAT = 4;
export const CLAIMS = 8;

/** Helper status values. */
export const Status = {
  starting: 0,
  opened: 1,
  ready: 2,
  /** Running quick_check: one long SQLite call, without heartbeats. */
  checking: 3,
  declined: 4,
  failed: 5,
  finished: 6,
} as const;

/** GO values: wait, take the snapshot, stop. */
export const Go = { wait: 0, go: 1, stop: 2 } as const;

/** Data the helper starts with. */
export interface HelperData {
  readonly dbPath: string;
  readonly state: SharedArrayBuffer;
  readonly fingerprint: SharedArrayBuffer;
  readonly port: MessagePort;
  readonly faults?: ExportFaults | undefined;
}

/** The work, sent once the main connection has read the schema. */
export interface HelperPlan {
  readonly tables: readonly TablePlan[];
  readonly units: readonly ExportUnit[];
  readonly encoding: ArchivePragmas['encoding'];
  readonly partPrefix: string;
  readonly quickCheck: boolean;
}

/** Messages from the helper. */
export type HelperMessage =
  | { readonly kind: 'check'; readonly problems: readonly string[] }
  | { readonly kind: 'unit'; readonly index: number; readonly rows: number; readonly path: string }
  | { readonly kind: 'error'; readonly message: string };

/** A unit the helper finished: its rows are in a part file. */
export interface FinishedUnit {
  readonly rows: number;
  readonly path: string;
}

/**
 * Faults injected into the helper thread, for tests only (never set by the library itself): the helper fails after
 * `failAfter` units, to check that the main thread takes its work over; `uncaught` also leaves an error that escapes
 * the thread once its work is over (an 'error' event).
 */
export interface ExportFaults {
  readonly helperFailAfter?: number | undefined;
  readonly helperFailMode?: 'throw' | 'uncaught' | undefined;
}

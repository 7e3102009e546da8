/**
 * Progress bars for the CLI, drawn by cli-progress on stderr. A bar appears only for a database whose work has taken
 * more than {@link BAR_DELAY_MS} (short runs stay quiet), and only when the caller decided bars are wanted (stderr
 * is a TTY, and neither --json nor --quiet was given).
 */
import cliProgress from 'cli-progress';
import type { ProgressEvent, ProgressListener } from '../progress.js';

/**
 * How long a database must have been worked on before its bar appears: 1000 ms, or the value of the environment
 * variable `DB_HYDRATION_PROGRESS_DELAY_MS` (the tests set 0 to see bars on small databases).
 */
export const BAR_DELAY_MS = delayFromEnv(process.env.DB_HYDRATION_PROGRESS_DELAY_MS);

function delayFromEnv(value: string | undefined): number {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : 1000;
}

/** Feeds library progress events into one bar per database. */
export class ProgressBars {
  private bar: cliProgress.SingleBar | undefined;
  private current: string | undefined;
  private startedAt = 0;

  constructor(private readonly enabled: boolean) {}

  /** The listener to hand to the library; undefined when bars are off. */
  get listener(): ProgressListener | undefined {
    return this.enabled
      ? (event) => {
          this.onEvent(event);
        }
      : undefined;
  }

  private onEvent(event: ProgressEvent): void {
    const key = `${event.phase}:${event.database}`;
    if (key !== this.current) {
      this.stop();
      this.current = key;
      this.startedAt = Date.now();
    }
    const payload = { database: event.database, table: event.table, phase: event.phase };
    if (this.bar === undefined) {
      if (Date.now() - this.startedAt < BAR_DELAY_MS) return;
      this.bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format:
            '{phase} {database} [{bar}] {percentage}% | {table}: {value}/{total} rows | {eta_formatted}',
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(Math.max(event.rowsTotal, 1), event.rowsDone, payload);
      return;
    }
    if (this.bar.getTotal() !== Math.max(event.rowsTotal, 1)) this.bar.setTotal(Math.max(event.rowsTotal, 1));
    this.bar.update(event.rowsDone, payload);
  }

  /** Removes the bar of the current database, if one is drawn. */
  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
    this.current = undefined;
  }
}

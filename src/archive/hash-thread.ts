/**
 * SHA-256 computed on a worker thread, for a writer whose own thread is busy: an export that copies most of a large
 * archive spends about half its time hashing the bytes twice (the file's checksum and its content hash), and on two
 * cores one of the two can run beside the other. Chunks go through a ring of shared buffers, so memory stays at the
 * ring's size (4 MiB) whatever the file's; every wait is bounded.
 */
import { Worker } from 'node:worker_threads';

const SLOTS = 4;
const SLOT_BYTES = 1 << 20;
/** Control words: per slot its state (0 empty, 1 full, 2 finish) and its length, then "digest written". */
const DONE = 2 * SLOTS;
/** How long the writer waits for the hashing thread before it gives it up as stalled. */
const STALL_MS = 60_000;

const WORKER_CODE = `
const { workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { control, data, result, slots, slotBytes } = workerData;
const c = new Int32Array(control);
const d = Buffer.from(data);
const hash = createHash('sha256');
for (let i = 0; ; i = (i + 1) % slots) {
  while (Atomics.load(c, i) === 0) Atomics.wait(c, i, 0);
  if (Atomics.load(c, i) === 2) {
    Buffer.from(result).write(hash.digest('hex'), 0, 'latin1');
    Atomics.store(c, 2 * slots, 1);
    Atomics.notify(c, 2 * slots);
    break;
  }
  hash.update(d.subarray(i * slotBytes, i * slotBytes + c[slots + i]));
  Atomics.store(c, i, 0);
  Atomics.notify(c, i);
}
`;

/** The part of `crypto.Hash` a writer uses. */
export interface ByteHash {
  update(chunk: Buffer): void;
  digest(encoding: 'hex'): string;
}

/** A SHA-256 whose bytes are hashed by a worker thread; {@link digest} waits for it. */
export class ThreadHash implements ByteHash {
  private readonly control: Int32Array;
  private readonly data: Buffer;
  private readonly result: Buffer;
  private readonly worker: Worker;
  private next = 0;

  constructor() {
    const control = new SharedArrayBuffer(4 * (DONE + 1));
    const data = new SharedArrayBuffer(SLOTS * SLOT_BYTES);
    const result = new SharedArrayBuffer(64);
    this.control = new Int32Array(control);
    this.data = Buffer.from(data);
    this.result = Buffer.from(result);
    this.worker = new Worker(WORKER_CODE, {
      eval: true,
      workerData: { control, data, result, slots: SLOTS, slotBytes: SLOT_BYTES },
      resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 },
    });
    this.worker.unref();
    this.worker.on('error', () => undefined); // seen as a stall by the next wait
  }

  update(chunk: Buffer): void {
    for (let at = 0; at < chunk.length;) {
      const n = Math.min(SLOT_BYTES, chunk.length - at);
      const slot = this.take();
      chunk.copy(this.data, slot * SLOT_BYTES, at, at + n);
      this.control[SLOTS + slot] = n;
      this.post(slot, 1);
      at += n;
    }
  }

  digest(): string {
    this.post(this.take(), 2);
    this.waitFor(DONE, 0);
    const hex = this.result.toString('latin1', 0, 64);
    void this.worker.terminate();
    return hex;
  }

  /** Stops the thread (the hash is then never finished). */
  abort(): void {
    void this.worker.terminate();
  }

  /** The next slot, once the thread has emptied it. */
  private take(): number {
    const slot = this.next;
    this.next = (slot + 1) % SLOTS;
    while (Atomics.load(this.control, slot) !== 0) this.waitFor(slot, Atomics.load(this.control, slot));
    return slot;
  }

  private post(slot: number, state: number): void {
    Atomics.store(this.control, slot, state);
    Atomics.notify(this.control, slot);
  }

  /**
   * Waits while control word `index` holds `value`.
   * @throws {Error} when the thread makes no progress for {@link STALL_MS}
   */
  private waitFor(index: number, value: number): void {
    const deadline = Date.now() + STALL_MS;
    while (Atomics.load(this.control, index) === value) {
      if (Atomics.wait(this.control, index, value, 1000) === 'timed-out' && Date.now() > deadline) {
        void this.worker.terminate();
        throw new Error('the hashing thread stopped answering');
      }
    }
  }
}

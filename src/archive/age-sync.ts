/**
 * The age library (`age-encryption`, the reference TypeScript implementation of age-encryption.org/v1) behind a
 * synchronous call. The library's API is asynchronous (Web Crypto), while the codec seam is synchronous on purpose
 * (`dehydrateAllSync` runs in a process exit hook). So the library runs in a worker thread, started on first use and
 * kept (unreferenced) for the process: this thread posts a request, blocks in `Atomics.wait` until the worker counts
 * up a flag after each message it posts, and takes the messages with `receiveMessageOnPort`, without its own event loop.
 *
 * Besides whole-file requests there are streams ({@link ageDecryptStream}, {@link ageEncryptStream}): the worker
 * feeds the library's `ReadableStream` API and asks this thread for each next piece of input (`need`), and posts the
 * output as it comes (`data`), then `done` or `error`. Every message carries its request's id, so several streams
 * (a comparison reading one archive while another is written) share the worker.
 *
 * No cryptography is done here: the worker only calls `Encrypter.encrypt` and `Decrypter.decrypt`.
 */
import { existsSync } from 'node:fs';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';

/** Keys for decrypting: age identities (`AGE-SECRET-KEY-1…`) and passphrases, all tried. */
export interface AgeDecryptKeys {
  readonly identities: readonly string[];
  readonly passphrases: readonly string[];
}

/** Keys for encrypting: recipients (`age1…`), or one passphrase (scrypt) instead. */
export interface AgeEncryptKeys {
  readonly recipients: readonly string[];
  readonly passphrase?: string | undefined;
}

/** How long the worker thread may take to start. */
const START_TIMEOUT_MS = 30_000;

/** How long one request may take before it is given up (a 1 GiB archive takes ~10 s here). */
const REQUEST_TIMEOUT_MS = 10 * 60_000;

/**
 * The worker's code, run as an eval'd CommonJS script: it imports the library by the URL this module resolved, so the
 * same code works from the TypeScript sources, the compiled library and the bundled CLI.
 */
const WORKER_CODE = `
const { workerData } = require('node:worker_threads');
const { port, flag, library } = workerData;
const signal = new Int32Array(flag);
try {
  // This thread's id, for the caller to see the thread is gone (Linux): '<pid>/task/<tid>'.
  signal[2] = Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop()) || 0;
} catch {}
// Any end of this thread that still runs JavaScript (process.exit, an uncaught error) wakes the caller.
process.on('exit', () => {
  Atomics.store(signal, 3, 1);
  Atomics.notify(signal, 0);
});
const loaded = import(library);
Atomics.store(signal, 1, 1);
Atomics.notify(signal, 1);
function emit(message, transfer) {
  port.postMessage(message, transfer || []);
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
}
const sessions = new Map();
// The input of a stream: each pull asks the caller for the next piece ('need'), which a 'feed' message brings.
function fedStream(session) {
  return new ReadableStream(
    {
      pull(controller) {
        return new Promise((resolve) => {
          session.pending = { controller, resolve };
          emit({ id: session.id, event: 'need' });
        });
      },
    },
    { highWaterMark: 0 },
  );
}
async function runStream(request) {
  const session = { id: request.id, pending: undefined, reader: undefined };
  sessions.set(request.id, session);
  try {
    const age = await loaded;
    const input = fedStream(session);
    let output;
    if (request.op === 'encrypt-stream') {
      const e = new age.Encrypter();
      if (request.passphrase !== undefined) e.setPassphrase(request.passphrase);
      else for (const r of request.recipients) e.addRecipient(r);
      output = await e.encrypt(input);
    } else {
      const d = new age.Decrypter();
      for (const i of request.identities) d.addIdentity(i);
      for (const p of request.passphrases) d.addPassphrase(p);
      output = await d.decrypt(input);
    }
    const reader = output.getReader();
    session.reader = reader;
    for (;;) {
      const { done, value } = await reader.read();
      if (!sessions.has(request.id)) return;
      if (done) break;
      // A copy in its own buffer: the library's chunk may be a view of a buffer it still uses.
      const bytes = value.slice();
      emit({ id: request.id, event: 'data', bytes }, [bytes.buffer]);
    }
    sessions.delete(request.id);
    emit({ id: request.id, event: 'done' });
  } catch (error) {
    if (!sessions.has(request.id)) return;
    sessions.delete(request.id);
    emit({ id: request.id, event: 'error', message: error instanceof Error ? error.message : String(error) });
  }
}
function feed(request) {
  const session = sessions.get(request.id);
  const pending = session && session.pending;
  if (!pending) {
    emit({ id: request.id, event: 'error', message: 'the stream did not ask for input' });
    return;
  }
  session.pending = undefined;
  if (request.bytes === undefined) pending.controller.close();
  else pending.controller.enqueue(request.bytes);
  pending.resolve();
}
function cancel(request) {
  const session = sessions.get(request.id);
  if (!session) return;
  sessions.delete(request.id);
  if (session.pending) {
    session.pending.controller.error(new Error('cancelled'));
    session.pending.resolve();
  }
  if (session.reader) session.reader.cancel().catch(() => {});
}
port.on('message', async (request) => {
  if (request.op === 'encrypt-stream' || request.op === 'decrypt-stream') return void runStream(request);
  if (request.op === 'feed') return feed(request);
  if (request.op === 'cancel') return cancel(request);
  let reply;
  try {
    const age = await loaded;
    if (request.op === 'encrypt') {
      const e = new age.Encrypter();
      if (request.passphrase !== undefined) e.setPassphrase(request.passphrase);
      else for (const r of request.recipients) e.addRecipient(r);
      reply = { ok: true, bytes: await e.encrypt(request.bytes) };
    } else if (request.op === 'decrypt') {
      const d = new age.Decrypter();
      for (const i of request.identities) d.addIdentity(i);
      for (const p of request.passphrases) d.addPassphrase(p);
      reply = { ok: true, bytes: await d.decrypt(request.bytes) };
    } else if (request.op === 'generate') {
      const identity = await age.generateX25519Identity();
      reply = { ok: true, text: identity + ' ' + (await age.identityToRecipient(identity)) };
    } else if (request.op === 'recipient') {
      reply = { ok: true, text: await age.identityToRecipient(request.identity) };
    } else {
      reply = { ok: false, message: 'unknown request ' + String(request.op) };
    }
  } catch (error) {
    reply = { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
  emit({ id: request.id, event: 'reply', reply }, reply.bytes ? [reply.bytes.buffer] : []);
});
`;

type Reply =
  | { readonly ok: true; readonly bytes?: Uint8Array; readonly text?: string }
  | { readonly ok: false; readonly message: string };

/** A message of the worker: the reply to a whole-file request, or an event of a stream. */
type WorkerEvent =
  | { readonly id: number; readonly event: 'reply'; readonly reply: Reply }
  | { readonly id: number; readonly event: 'need' | 'done' }
  | { readonly id: number; readonly event: 'data'; readonly bytes: Uint8Array }
  | { readonly id: number; readonly event: 'error'; readonly message: string };

type Bridge = { worker: Worker; port: MessagePort; signal: Int32Array };

/** The age library failed: a wrong key, a damaged file, a bad recipient; `message` is the library's. */
export class AgeFailure extends Error {}

/** The worker thread stopped while it had a request (it crashed, or ran out of memory); nothing was answered. */
export class AgeWorkerStopped extends AgeFailure {}

/** How often a waiting caller checks that the worker thread is still there. */
const LIVENESS_CHECK_MS = 100;

let bridge: Bridge | undefined;
let nextId = 1;
/** Messages that arrived while another request was waited for, by request id. */
const queued = new Map<number, WorkerEvent[]>();
/** Cancelled streams: their late messages are dropped. */
const dropped = new Set<number>();

function start(): Bridge {
  if (bridge !== undefined) return bridge;
  const { port1, port2 } = new MessageChannel();
  // [0] an answer is ready, [1] the worker runs, [2] its thread id (Linux), [3] it stopped.
  const flag = new SharedArrayBuffer(16);
  const worker = new Worker(WORKER_CODE, {
    eval: true,
    workerData: { port: port2, flag, library: import.meta.resolve('age-encryption') },
    transferList: [port2],
  });
  worker.unref();
  port1.unref();
  worker.on('error', () => {
    bridge = undefined;
  });
  const signal = new Int32Array(flag);
  // The worker flags that its script runs; one that cannot start is reported, not waited for.
  if (Atomics.wait(signal, 1, 0, START_TIMEOUT_MS) === 'timed-out' && Atomics.load(signal, 1) === 0) {
    void worker.terminate();
    throw new AgeFailure('the age worker thread did not start');
  }
  bridge = { worker, port: port1, signal };
  return bridge;
}

/** Posts a request (with a new id, or the stream's `id`) to the worker. */
function post(b: Bridge, request: Record<string, unknown>, transfer: ArrayBuffer[] = []): void {
  b.port.postMessage(request, transfer);
}

/**
 * Waits for the next message of request `id`. The worker's events cannot be seen while this thread blocks, so a worker
 * that stops is seen by itself (its exit handler flags it: process.exit, an uncaught error) or, when no JavaScript
 * ran (out of memory), by its thread being gone from /proc/self/task (Linux); either within {@link LIVENESS_CHECK_MS}.
 */
function waitFor(b: Bridge, id: number, what: string): WorkerEvent {
  const early = queued.get(id);
  if (early !== undefined && early.length > 0) {
    const event = early.shift() as WorkerEvent;
    if (early.length === 0) queued.delete(id);
    return event;
  }
  const deadline = Date.now() + REQUEST_TIMEOUT_MS;
  const thread = Atomics.load(b.signal, 2);
  for (;;) {
    if (bridge !== b) throw new AgeWorkerStopped(stoppedWhile(what));
    const seen = Atomics.load(b.signal, 0);
    for (let m = receiveMessageOnPort(b.port); m !== undefined; m = receiveMessageOnPort(b.port)) {
      const event = m.message as WorkerEvent;
      if (event.id === id) return event;
      if (dropped.has(event.id)) continue;
      const list = queued.get(event.id) ?? [];
      list.push(event);
      queued.set(event.id, list);
    }
    if (Atomics.load(b.signal, 3) === 1 || (thread > 0 && !existsSync(`/proc/self/task/${thread}`))) {
      stop(b);
      throw new AgeWorkerStopped(stoppedWhile(what));
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      stop(b);
      throw new AgeFailure('the age worker did not answer in time');
    }
    Atomics.wait(b.signal, 0, seen, Math.min(left, LIVENESS_CHECK_MS));
  }
}

function stoppedWhile(what: string): string {
  return `the age worker thread stopped while ${what} (it crashed or ran out of memory)`;
}

/** A whole-file request and its reply. */
function call(request: Record<string, unknown>, transfer: ArrayBuffer[] = []): Reply {
  const b = start();
  const id = nextId++;
  post(b, { ...request, id }, transfer);
  const what =
    request.op === 'decrypt'
      ? 'decrypting the archive'
      : request.op === 'encrypt'
        ? 'encrypting the archive'
        : 'making a key';
  const event = waitFor(b, id, what);
  if (event.event === 'reply') return event.reply;
  return { ok: false, message: event.event === 'error' ? event.message : `unexpected ${event.event}` };
}

/** Drops a worker that failed: the next request starts a new one. */
function stop(b: Bridge): void {
  if (bridge === b) bridge = undefined;
  queued.clear();
  dropped.clear();
  b.port.close();
  void b.worker.terminate();
}

function bytesOf(reply: Reply): Buffer {
  if (!reply.ok) throw new AgeFailure(reply.message);
  if (reply.bytes === undefined) throw new AgeFailure('the age worker returned no bytes');
  return Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.byteLength);
}

/** A fresh copy of `bytes` in its own ArrayBuffer, which can be transferred to the worker. */
function transferable(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy;
}

/** Encrypts `plain` into an age file (binary, not armored). */
export function ageEncryptSync(plain: Uint8Array, keys: AgeEncryptKeys): Buffer {
  const bytes = transferable(plain);
  return bytesOf(
    call(
      {
        op: 'encrypt',
        bytes,
        recipients: [...keys.recipients],
        passphrase: keys.passphrase,
      },
      [bytes.buffer as ArrayBuffer],
    ),
  );
}

/**
 * Decrypts a whole age file: the plaintext is returned only when every chunk, the last one included, authenticated.
 * @throws AgeFailure for a wrong key, a damaged, truncated or reordered file
 */
export function ageDecryptSync(file: Uint8Array, keys: AgeDecryptKeys): Buffer {
  const bytes = transferable(file);
  return bytesOf(
    call(
      {
        op: 'decrypt',
        bytes,
        identities: [...keys.identities],
        passphrases: [...keys.passphrases],
      },
      [bytes.buffer as ArrayBuffer],
    ),
  );
}

/** The recipient (`age1…`) of an identity (`AGE-SECRET-KEY-1…`). */
export function ageRecipientOf(identity: string): string {
  const reply = call({ op: 'recipient', identity });
  if (!reply.ok) throw new AgeFailure(reply.message);
  return reply.text ?? '';
}

/** A new X25519 identity and its recipient, made by the age library. */
export function ageGenerateSync(): { identity: string; recipient: string } {
  const reply = call({ op: 'generate' });
  if (!reply.ok) throw new AgeFailure(reply.message);
  const [identity = '', recipient = ''] = (reply.text ?? '').split(' ');
  return { identity, recipient };
}

/** A decryption in progress ({@link ageDecryptStream}). */
export interface AgeDecryption {
  /**
   * The next piece of plaintext, or `undefined` at the end, which comes only once the whole file, its last chunk
   * included, authenticated.
   * @throws AgeFailure for a wrong key, a damaged, truncated or reordered file (at the first bad chunk)
   */
  next(): Buffer | undefined;
  /** Stops early (safe to call more than once, and after the end). */
  cancel(): void;
}

/**
 * Decrypts an age file as a stream: `readFile` gives the file's next bytes (0 at its end) whenever the library asks.
 * Memory stays at a few chunks, whatever the file's size.
 */
export function ageDecryptStream(keys: AgeDecryptKeys, readFile: (into: Buffer) => number): AgeDecryption {
  const b = start();
  const id = nextId++;
  post(b, {
    op: 'decrypt-stream',
    id,
    identities: [...keys.identities],
    passphrases: [...keys.passphrases],
  });
  let finished = false;
  const input = Buffer.allocUnsafe(1 << 20);
  return {
    next: () => {
      if (finished) return undefined;
      for (;;) {
        const event = waitFor(b, id, 'decrypting the archive');
        if (event.event === 'need') {
          const n = readFile(input);
          const bytes = n === 0 ? undefined : transferable(input.subarray(0, n));
          post(b, { op: 'feed', id, bytes }, bytes === undefined ? [] : [bytes.buffer as ArrayBuffer]);
        } else if (event.event === 'data') {
          return Buffer.from(event.bytes.buffer, event.bytes.byteOffset, event.bytes.byteLength);
        } else if (event.event === 'done') {
          finished = true;
          return undefined;
        } else {
          finished = true;
          throw new AgeFailure(event.event === 'error' ? event.message : `unexpected ${event.event}`);
        }
      }
    },
    cancel: () => {
      if (finished) return;
      finished = true;
      cancelStream(b, id);
    },
  };
}

/** An encryption in progress ({@link ageEncryptStream}). */
export interface AgeEncryption {
  /** Encrypts the next plain bytes (copied: the buffer may be reused once this returns). */
  write(plain: Uint8Array): void;
  /** Ends the plaintext and waits until the whole file was given to `writeFile`. */
  end(): void;
  /** Stops early (safe to call more than once). */
  cancel(): void;
}

/** Encrypts into an age file as a stream: the file's bytes go to `writeFile` as they come. */
export function ageEncryptStream(keys: AgeEncryptKeys, writeFile: (bytes: Buffer) => void): AgeEncryption {
  const b = start();
  const id = nextId++;
  post(b, { op: 'encrypt-stream', id, recipients: [...keys.recipients], passphrase: keys.passphrase });
  let finished = false;
  /** Takes the worker's messages, writing output, until it asks for input (`true`) or is done (`false`). */
  const untilNeed = (): boolean => {
    for (;;) {
      const event = waitFor(b, id, 'encrypting the archive');
      if (event.event === 'need') return true;
      if (event.event === 'data')
        writeFile(Buffer.from(event.bytes.buffer, event.bytes.byteOffset, event.bytes.byteLength));
      else if (event.event === 'done') return false;
      else {
        finished = true;
        throw new AgeFailure(event.event === 'error' ? event.message : `unexpected ${event.event}`);
      }
    }
  };
  return {
    write: (plain) => {
      if (plain.byteLength === 0) return;
      if (finished || !untilNeed()) throw new AgeFailure('the encryption already ended');
      const bytes = transferable(plain);
      post(b, { op: 'feed', id, bytes }, [bytes.buffer as ArrayBuffer]);
    },
    end: () => {
      if (finished || !untilNeed()) throw new AgeFailure('the encryption already ended');
      post(b, { op: 'feed', id, bytes: undefined });
      if (untilNeed()) throw new AgeFailure('the age library asked for input after the end');
      finished = true;
    },
    cancel: () => {
      if (finished) return;
      finished = true;
      cancelStream(b, id);
    },
  };
}

function cancelStream(b: Bridge, id: number): void {
  queued.delete(id);
  if (bridge !== b) return;
  dropped.add(id);
  post(b, { op: 'cancel', id });
}

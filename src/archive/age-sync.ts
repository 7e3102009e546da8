/**
 * The age library (`age-encryption`, the reference TypeScript implementation of age-encryption.org/v1) behind a
 * synchronous call. The library's API is asynchronous (Web Crypto), while the codec seam is synchronous on purpose
 * (`dehydrateAllSync` runs in a process exit hook). So the library runs in a worker thread, started on first use and
 * kept (unreferenced) for the process: this thread posts a request, blocks in `Atomics.wait` until the worker flags
 * its answer, and takes the answer with `receiveMessageOnPort`, without its own event loop.
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
port.on('message', async (request) => {
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
  port.postMessage(reply, reply.bytes ? [reply.bytes.buffer] : []);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
});
`;

type Reply =
  | { readonly ok: true; readonly bytes?: Uint8Array; readonly text?: string }
  | { readonly ok: false; readonly message: string };

/** The age library failed: a wrong key, a damaged file, a bad recipient; `message` is the library's. */
export class AgeFailure extends Error {}

/** The worker thread stopped while it had a request (it crashed, or ran out of memory); nothing was answered. */
export class AgeWorkerStopped extends AgeFailure {}

/** How often a waiting caller checks that the worker thread is still there. */
const LIVENESS_CHECK_MS = 100;

let bridge: { worker: Worker; port: MessagePort; signal: Int32Array } | undefined;

function start(): NonNullable<typeof bridge> {
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

/**
 * Posts a request and waits for its answer. The worker's events cannot be seen while this thread blocks, so a worker
 * that stops is seen by itself (its exit handler flags it: process.exit, an uncaught error) or, when no JavaScript
 * ran (out of memory), by its thread being gone from /proc/self/task (Linux); either within {@link LIVENESS_CHECK_MS}.
 */
function call(request: Record<string, unknown>, transfer: ArrayBuffer[] = []): Reply {
  const b = start();
  Atomics.store(b.signal, 0, 0);
  b.port.postMessage(request, transfer);
  const deadline = Date.now() + REQUEST_TIMEOUT_MS;
  const thread = Atomics.load(b.signal, 2);
  for (;;) {
    const received = receiveMessageOnPort(b.port);
    if (received !== undefined) return received.message as Reply;
    if (Atomics.load(b.signal, 3) === 1 || (thread > 0 && !existsSync(`/proc/self/task/${thread}`))) {
      stop(b);
      throw new AgeWorkerStopped(
        `the age worker thread stopped while ${request.op === 'decrypt' ? 'decrypting the archive' : request.op === 'encrypt' ? 'encrypting the archive' : 'making a key'} (it crashed or ran out of memory)`,
      );
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      stop(b);
      throw new AgeFailure('the age worker did not answer in time');
    }
    Atomics.wait(b.signal, 0, 0, Math.min(left, LIVENESS_CHECK_MS));
  }
}

/** Drops a worker that failed: the next request starts a new one. */
function stop(b: NonNullable<typeof bridge>): void {
  if (bridge === b) bridge = undefined;
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

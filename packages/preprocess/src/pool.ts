/**
 * worker_threads pool for preprocessing: decoding is CPU-bound JS (png-fast, jimp, the fit) or
 * libvips, and one Node thread cannot use the second core. Workers read the files themselves, so
 * only a path goes in and 784 bytes come out. An error thrown in a worker comes back as the same
 * ImageError (reason and message), and a worker that dies is replaced without sinking the pool.
 * A task that runs past `taskTimeoutMs` (a decoder stuck on a hostile file) fails as `too-large`
 * and its worker is terminated and replaced; the other tasks it held are queued again.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { ImageError, isImageErrorReason, type ImageErrorReason } from './errors.ts';
import type { Preprocessed, PreprocessOptions } from './preprocess.ts';

export interface PreprocessPool {
  run(path: string): Promise<Preprocessed>;
  runBuffer(buf: Buffer): Promise<Preprocessed>;
  readonly size: number;
  close(): Promise<void>;
}

export interface Request {
  id: number;
  path?: string;
  buf?: Uint8Array;
}

export type Reply =
  | { id: number; ok: true; result: Preprocessed }
  | { id: number; ok: false; reason: ImageErrorReason | undefined; message: string };

interface Task {
  req: Request;
  resolve: (r: Preprocessed) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
}

export interface PoolOptions extends PreprocessOptions {
  /** Worker threads; default one per core. */
  size?: number;
  /** Tasks a worker holds at once (default 2). 1 bounds memory to one decode per worker. */
  perWorker?: number;
  /** A task taking longer than this fails (reason too-large) and its worker is replaced. */
  taskTimeoutMs?: number;
}

interface Slot {
  worker: Worker;
  inFlight: Map<number, Task>;
}

/** Requests in flight per worker: 2 lets one read or libvips call overlap the other's JS. */
const PER_WORKER = 2;
const ENTRY = new URL('./worker-entry.mjs', import.meta.url);

export function createPreprocessPool(opts: PoolOptions = {}): PreprocessPool {
  return startPool(ENTRY, opts);
}

/** Workers dying this many times more than the pool size in a row, with no reply in between,
 *  mean they cannot run here at all. */
const MAX_EXTRA_CRASHES = 2;

/** The pool with a given worker script (tests use stand-ins to crash workers on purpose). */
export function startPool(entry: URL, opts: PoolOptions = {}): PreprocessPool {
  const size = Math.max(1, Math.floor(opts.size ?? availableParallelism()));
  const perWorker = Math.max(1, Math.floor(opts.perWorker ?? PER_WORKER));
  const workerOpts: PreprocessOptions = {
    decoder: opts.decoder,
    maxPixels: opts.maxPixels,
    maxBytes: opts.maxBytes,
    maxPixelsPerByte: opts.maxPixelsPerByte,
  };
  const queue: Task[] = [];
  const slots: Slot[] = [];
  let nextId = 1;
  let closed = false;
  let crashes = 0;
  let broken: Error | undefined;

  function spawn(): Slot {
    // No inherited loader flags: worker-entry.mjs registers tsx itself (see there).
    const worker = new Worker(entry, { workerData: workerOpts, execArgv: [] });
    const slot: Slot = { worker, inFlight: new Map() };
    // Idle workers must not keep the program alive. Unref once more when the worker is online:
    // an unref before that leaves a port referenced in the parent (seen on Node 20).
    worker.unref();
    worker.once('online', () => {
      if (slot.inFlight.size === 0) worker.unref();
    });
    worker.on('message', (reply: Reply) => {
      crashes = 0;
      const task = slot.inFlight.get(reply.id);
      if (!task) return;
      clearTimeout(task.timer);
      slot.inFlight.delete(reply.id);
      if (slot.inFlight.size === 0) worker.unref();
      if (reply.ok) task.resolve(reply.result);
      else
        task.reject(
          reply.reason && isImageErrorReason(reply.reason) ? new ImageError(reply.reason, reply.message) : new Error(reply.message),
        );
      pump();
    });
    const fail = (err: Error) => {
      const i = slots.indexOf(slot);
      if (i >= 0) slots.splice(i, 1);
      for (const t of slot.inFlight.values()) {
        clearTimeout(t.timer);
        t.reject(err);
      }
      slot.inFlight.clear();
      if (closed || broken) return;
      if (++crashes >= size + MAX_EXTRA_CRASHES) {
        // Not one bad image but a worker that cannot run at all: stop respawning, fail the queue.
        broken = new Error(`preprocess workers keep failing (${err.message})`);
        for (const t of queue.splice(0)) t.reject(broken);
        return;
      }
      slots.push(spawn());
      pump();
    };
    worker.on('error', (e) => fail(new Error(`preprocess worker failed: ${e.message}`)));
    worker.on('exit', (code) => {
      if (slots.includes(slot)) fail(new Error(`preprocess worker exited with code ${code}`));
    });
    return slot;
  }

  /** A task past its deadline: fail it, replace its worker, give the worker's other tasks another go. */
  function timedOut(slot: Slot, task: Task): void {
    if (!slot.inFlight.has(task.req.id)) return;
    slot.inFlight.delete(task.req.id);
    task.reject(new ImageError('too-large', `the image took more than ${opts.taskTimeoutMs} ms to decode`));
    const i = slots.indexOf(slot);
    if (i >= 0) slots.splice(i, 1);
    const others = [...slot.inFlight.values()];
    slot.inFlight.clear();
    for (const t of others) clearTimeout(t.timer);
    void slot.worker.terminate();
    if (closed) return;
    slots.push(spawn());
    queue.unshift(...others);
    pump();
  }

  function pump(): void {
    while (queue.length > 0) {
      let best: Slot | undefined;
      for (const s of slots) if (s.inFlight.size < perWorker && (!best || s.inFlight.size < best.inFlight.size)) best = s;
      if (!best) return;
      const slot = best;
      const task = queue.shift()!;
      if (slot.inFlight.size === 0) slot.worker.ref();
      slot.inFlight.set(task.req.id, task);
      if (opts.taskTimeoutMs) task.timer = setTimeout(() => timedOut(slot, task), opts.taskTimeoutMs);
      slot.worker.postMessage(task.req);
    }
  }

  function submit(req: Omit<Request, 'id'>): Promise<Preprocessed> {
    if (closed) return Promise.reject(new Error('preprocess pool is closed'));
    if (broken) return Promise.reject(broken);
    return new Promise((resolve, reject) => {
      queue.push({ req: { ...req, id: nextId++ }, resolve, reject });
      pump();
    });
  }

  for (let i = 0; i < size; i++) slots.push(spawn());

  return {
    size,
    run: (path) => submit({ path }),
    runBuffer: (buf) => submit({ buf }),
    async close() {
      if (closed) return;
      closed = true;
      const err = new Error('preprocess pool closed');
      for (const t of queue.splice(0)) t.reject(err);
      const all = slots.splice(0);
      for (const s of all) {
        for (const t of s.inFlight.values()) {
          clearTimeout(t.timer);
          t.reject(err);
        }
        s.inFlight.clear();
      }
      await Promise.all(all.map((s) => s.worker.terminate()));
    },
  };
}

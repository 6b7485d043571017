/**
 * Synchronous data-parallel training on worker_threads. tfjs-backend-wasm runs on ONE thread in Node
 * (KNOWLEDGE.md), so the second core is used by running N replicas of the model, each in its own
 * worker with its own wasm backend and its own Adam:
 *  - the main thread assembles each batch (exactly as single-threaded training does, so the data
 *    order is the same) into SharedArrayBuffers and sends one `step` message;
 *  - worker i takes rows [⌊i·m/N⌋, ⌊(i+1)·m/N⌋) and computes the gradient of its slice's loss scaled
 *    by (its rows / m), so the gradients of the N workers sum to the gradient of the full batch's
 *    mean loss; it writes them into its region of a shared gradient buffer;
 *  - the workers meet at a barrier (Atomics on a shared counter), then each sums the N regions in
 *    the same order and applies the sum with its own Adam: same inputs → bit-identical weights in
 *    every replica, which `copyWeightsInto` checks each time it fetches them.
 * Dropout masks differ per worker (each draws from its own seeded generator), so a 2-worker run is
 * reproducible but not bit-identical to a 1-worker run.
 * A worker that fails or exits is a clear error: the pending step rejects, the abort flag wakes the
 * others from the barrier, and every worker is terminated (no hang, no leaked thread).
 */
import type { SetLossMode } from './set-loss.ts';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { tf } from './engine.ts';
import { labelColumns } from './label-head.ts';
import { newBatch, type Batch } from './train-batch.ts';

/** Control words in the shared Int32Array. */
export const CTL_ARRIVED = 0;
export const CTL_ABORT = 1;

/** What a worker is started with (workerData). */
export interface ReplicaInit {
  index: number;
  workers: number;
  backend: string;
  /** model.toJSON(): the layers topology; weights come next, in model.weights order. */
  topology: string;
  weights: { shape: number[]; data: Float32Array }[];
  /** Layer.trainable per layer (frozen convolutions stay frozen in the replicas). */
  trainableLayers: boolean[];
  learningRate: number;
  seed: number;
  /** How a label's set counts in the loss (set-loss.ts). */
  setLoss: SetLossMode;
  batch: Batch;
  /** workers × params floats: each worker's gradient of its slice, trainable weights in order. */
  grads: Float32Array;
  ctl: Int32Array;
}

export type ToWorker = { type: 'step'; m: number; lr: number } | { type: 'weights' };
export type FromWorker =
  | { type: 'ready'; params: number }
  | { type: 'done'; loss: number; busyMs: number; waitMs: number }
  | { type: 'weights'; data: Float32Array[] }
  | { type: 'error'; message: string };

export interface Replicas {
  /** The batch the main thread fills before each step (shared with the workers). */
  readonly batch: Batch;
  readonly size: number;
  /** The worker threads (read-only: for inspection and tests). */
  readonly threads: readonly Worker[];
  /** One optimizer step on the first m rows of `batch` at learning rate lr; resolves to the batch's mean loss. */
  step(m: number, lr: number): Promise<number>;
  /** Seconds each worker spent stepping (gradient, sum, update) and waiting at the barrier for the others. */
  timing(): { busySec: number[]; waitSec: number[] };
  /** Copies the replicas' weights into `model` after checking that every replica holds the same weights. */
  copyWeightsInto(model: tf.LayersModel): Promise<void>;
  /** Stops every worker; safe to call twice and after a failure. */
  close(): Promise<void>;
}

export interface ReplicaOptions {
  workers: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  backend: string;
  setLoss?: SetLossMode;
}

/** 2 when the machine has at least 2 cores (one wasm thread each), else 1 (train in the main thread). */
export function defaultWorkers(): number {
  return availableParallelism() >= 2 ? 2 : 1;
}

const ENTRY = new URL('./replica-worker-entry.mjs', import.meta.url);

export async function startReplicas(model: tf.LayersModel, opts: ReplicaOptions): Promise<Replicas> {
  const n = opts.workers;
  if (!(Number.isInteger(n) && n >= 2)) throw new Error(`replicas need at least 2 workers, got ${n}`);
  const trainable = model.trainableWeights;
  const params = trainable.reduce((s, w) => s + w.read().size, 0);
  const batch = newBatch(opts.batchSize, true, labelColumns(model));
  const grads = new Float32Array(new SharedArrayBuffer(n * params * 4));
  const ctl = new Int32Array(new SharedArrayBuffer(4 * 4));
  const common = {
    workers: n,
    backend: opts.backend,
    topology: model.toJSON(null, true) as string,
    weights: model.weights.map((w) => ({ shape: w.shape as number[], data: w.read().dataSync() as Float32Array })),
    trainableLayers: model.layers.map((l) => l.trainable),
    learningRate: opts.learningRate,
    seed: opts.seed,
    setLoss: opts.setLoss ?? 'sum',
    batch,
    grads,
    ctl,
  };

  // Replies arrive in request order per worker: one FIFO of waiters each.
  type Waiter = { resolve: (r: FromWorker) => void; reject: (e: Error) => void };
  const waiting: Waiter[][] = [];
  const threads: Worker[] = [];
  let failure: Error | undefined;
  let closing = false;

  const fail = (err: Error) => {
    if (failure || closing) return;
    failure = err;
    Atomics.store(ctl, CTL_ABORT, 1);
    Atomics.notify(ctl, CTL_ARRIVED);
    for (const q of waiting) for (const w of q.splice(0)) w.reject(err);
    for (const t of threads) void t.terminate();
  };

  for (let i = 0; i < n; i++) {
    const init: ReplicaInit = { ...common, index: i };
    // No inherited loader flags: the entry registers tsx itself (as the preprocess pool's does).
    const worker = new Worker(ENTRY, { workerData: init, execArgv: [] });
    waiting.push([]);
    threads.push(worker);
    worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'error') return fail(new Error(`training worker ${i} failed: ${msg.message}`));
      waiting[i]!.shift()?.resolve(msg);
    });
    worker.on('error', (e) => fail(new Error(`training worker ${i} failed: ${e.message}`)));
    worker.on('exit', (code) => fail(new Error(`training worker ${i} exited unexpectedly (code ${code})`)));
  }

  const ask = (i: number, msg?: ToWorker) =>
    new Promise<FromWorker>((resolve, reject) => {
      if (failure) return reject(failure);
      waiting[i]!.push({ resolve, reject });
      if (msg) threads[i]!.postMessage(msg);
    });
  const busy = new Array<number>(n).fill(0);
  const wait = new Array<number>(n).fill(0);
  const all = (msg?: ToWorker) => Promise.all(threads.map((_, i) => ask(i, msg)));

  const close = async () => {
    closing = true;
    await Promise.all(threads.map((t) => t.terminate()));
  };

  try {
    for (const r of await all()) {
      if (r.type !== 'ready' || r.params !== params)
        throw new Error(`a training worker built ${(r as { params?: number }).params} params, expected ${params}`);
    }
  } catch (e) {
    await close();
    throw e;
  }

  return {
    batch,
    size: n,
    threads,
    async step(m, lr) {
      if (m < 1 || m > opts.batchSize) throw new Error(`step: ${m} rows, batch size ${opts.batchSize}`);
      const replies = (await all({ type: 'step', m, lr })) as Extract<FromWorker, { type: 'done' }>[];
      replies.forEach((r, i) => {
        busy[i]! += r.busyMs / 1000;
        wait[i]! += r.waitMs / 1000;
      });
      // each worker's loss is already scaled by its share of the rows: they sum to the batch mean
      return replies.reduce((s, r) => s + r.loss, 0);
    },
    timing: () => ({ busySec: [...busy], waitSec: [...wait] }),
    async copyWeightsInto(target) {
      const replies = (await all({ type: 'weights' })) as Extract<FromWorker, { type: 'weights' }>[];
      const first = replies[0]!.data;
      replies.slice(1).forEach((r, k) => {
        const same = r.data.every((a, j) => a.length === first[j]!.length && a.every((v, q) => Object.is(v, first[j]![q])));
        if (!same) throw new Error(`training worker ${k + 1} holds other weights than worker 0: the replicas diverged`);
      });
      const tensors = target.weights.map((w, j) => tf.tensor(first[j]!, w.shape as number[]));
      target.setWeights(tensors);
      tf.dispose(tensors);
    },
    close,
  };
}

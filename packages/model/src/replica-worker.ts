/**
 * One training replica (a worker thread started by replicas.ts): its own tfjs backend, a copy of the
 * model and its own Adam. Per `step` it computes the gradient of its slice of the shared batch,
 * meets the other workers at a barrier, sums every worker's gradient in the same order and applies
 * the sum, so all replicas keep identical weights.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { seededRandom } from '@refund-vision/shared';
import { initTf, tf, type TfEngine } from './engine.ts';
import { CTL_ABORT, CTL_ARRIVED, type FromWorker, type ReplicaInit, type ToWorker } from './replicas.ts';
import { batchLoss } from './train-batch.ts';

const port = parentPort;
if (!port) throw new Error('replica-worker.ts must run in a worker thread');
const init = workerData as ReplicaInit;
const { index, workers, batch, grads, ctl } = init;
// Dropout draws from Math.random: a seeded generator per worker keeps a run reproducible.
Math.random = seededRandom((init.seed ^ 0x9e3779b9 ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);

const send = (msg: FromWorker) => port.postMessage(msg);

/** Waits until every worker has arrived `passes` times (the counter only grows), or another failed. */
function barrier(passes: number): void {
  Atomics.add(ctl, CTL_ARRIVED, 1);
  Atomics.notify(ctl, CTL_ARRIVED);
  const target = passes * workers;
  for (;;) {
    const v = Atomics.load(ctl, CTL_ARRIVED);
    if (v >= target) return;
    if (Atomics.load(ctl, CTL_ABORT)) throw new Error('stopped: another training worker failed');
    // bounded waits, so the abort flag is seen even if a notify is missed
    Atomics.wait(ctl, CTL_ARRIVED, v, 250);
  }
}

async function start() {
  await initTf(init.backend as TfEngine);
  const model = await tf.models.modelFromJSON({ modelTopology: JSON.parse(init.topology) });
  if (model.weights.length !== init.weights.length) throw new Error('the replica has another number of weights than the model');
  const initial = init.weights.map((w) => tf.tensor(w.data, w.shape));
  model.setWeights(initial);
  tf.dispose(initial);
  model.layers.forEach((l, i) => (l.trainable = init.trainableLayers[i]!));
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const sizes = trainable.map((v) => v.size);
  const params = sizes.reduce((a, b) => a + b, 0);
  const optimizer = tf.train.adam(init.learningRate);
  const mine = grads.subarray(index * params, (index + 1) * params);
  const sum = new Float32Array(params);
  let passes = 0;

  function step(m: number, lr: number): Extract<FromWorker, { type: 'done' }> {
    const t0 = performance.now();
    (optimizer as unknown as { learningRate: number }).learningRate = lr;
    const lo = Math.floor((index * m) / workers);
    const hi = Math.floor(((index + 1) * m) / workers);
    let loss = 0;
    if (hi > lo) {
      tf.tidy(() => {
        // this slice's share of the full batch's mean loss
        const { value, grads: g } = tf.variableGrads(() => batchLoss(model, batch, lo, hi, init.setLoss, (hi - lo) / m), trainable);
        loss = value.dataSync()[0]!;
        let off = 0;
        trainable.forEach((v, j) => {
          mine.set(g[v.name]!.dataSync(), off);
          off += sizes[j]!;
        });
      });
    } else mine.fill(0);
    const t1 = performance.now();
    barrier(++passes);
    const waitMs = performance.now() - t1;
    // every worker sums the regions in the same order: the same float result everywhere
    sum.set(grads.subarray(0, params));
    for (let w = 1; w < workers; w++) {
      const r = grads.subarray(w * params, (w + 1) * params);
      for (let j = 0; j < params; j++) sum[j] = sum[j]! + r[j]!;
    }
    tf.tidy(() => {
      let off = 0;
      const named: tf.NamedTensorMap = {};
      trainable.forEach((v, j) => {
        named[v.name] = tf.tensor(sum.subarray(off, off + sizes[j]!), v.shape);
        off += sizes[j]!;
      });
      // typed as a map of Variables, but any tensors do (Optimizer.minimize passes gradients the same way)
      optimizer.applyGradients(named as Parameters<typeof optimizer.applyGradients>[0]);
    });
    return { type: 'done', loss, busyMs: performance.now() - t0 - waitMs, waitMs };
  }

  port!.on('message', (msg: ToWorker) => {
    try {
      if (msg.type === 'step') send(step(msg.m, msg.lr));
      else if (msg.type === 'weights') {
        // copied by postMessage: on the cpu backend dataSync returns the tensor's own storage
        send({ type: 'weights', data: model.weights.map((w) => w.read().dataSync() as Float32Array) });
      }
    } catch (e) {
      send({ type: 'error', message: (e as Error)?.message ?? String(e) });
    }
  });
  send({ type: 'ready', params });
}

start().catch((e: Error) => send({ type: 'error', message: e?.message ?? String(e) }));

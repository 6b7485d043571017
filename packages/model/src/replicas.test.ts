import { expect } from 'chai';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NUM_CLASSES, PIXELS_PER_IMAGE } from '@refund-vision/shared';
import { initTf, tf } from './engine.ts';
import { loadFashionMnist } from './fashion-mnist.ts';
import { startReplicas, type Replicas, type ToWorker } from './replicas.ts';
import { setValuedLoss } from './set-loss.ts';
import { newBatch, type Batch } from './train-batch.ts';
import { train } from './train.ts';

/** A small conv net WITHOUT dropout, so the two ways of stepping see the same function. */
const tiny = (seed: number) =>
  tf.sequential({
    layers: [
      tf.layers.conv2d({
        inputShape: [28, 28, 1],
        filters: 4,
        kernelSize: 3,
        strides: 2,
        activation: 'relu',
        kernelInitializer: tf.initializers.heNormal({ seed }),
      }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: NUM_CLASSES, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });

/** Real test images: rows 0–12 one class, 13–15 a set of classes, 16–18 out of scope (uniform target). */
async function fillBatch(b: Batch, m: number): Promise<void> {
  const test = await loadFashionMnist('test');
  for (let k = 0; k < m; k++) {
    for (let p = 0; p < PIXELS_PER_IMAGE; p++) b.x[k * PIXELS_PER_IMAGE + p] = test.images[k * PIXELS_PER_IMAGE + p]! / 255;
    b.mask.fill(0, k * NUM_CLASSES, (k + 1) * NUM_CLASSES);
    if (k < 13) b.mask[k * NUM_CLASSES + test.labels[k]!] = 1;
    else if (k < 16) for (const c of [5, 7, 9]) b.mask[k * NUM_CLASSES + c] = 1;
    b.setW[k] = k < 16 ? 1 : 0;
    b.uniW[k] = k < 16 ? 0 : 0.5;
  }
}

const flat = (model: tf.LayersModel) => model.weights.map((w) => Array.from(w.read().dataSync()));

describe('training replicas on worker threads', function () {
  this.timeout(120_000);
  let replicas: Replicas | undefined;
  before(async () => {
    await initTf('wasm');
  });
  afterEach(async () => {
    await replicas?.close();
    replicas = undefined;
  });

  it('steps with 2 workers give the weights and losses of the same steps in one thread', async () => {
    const m = 19; // odd: the workers get 9 and 10 rows
    const lr = 0.01;
    const parallel = tiny(3);
    const single = tiny(3);
    const start = flat(single);
    replicas = await startReplicas(parallel, { workers: 2, batchSize: 24, learningRate: lr, seed: 1, backend: 'wasm' });
    await fillBatch(replicas.batch, m);
    const local = newBatch(24);
    await fillBatch(local, m);
    const optimizer = tf.train.adam(lr);
    const trainable = single.trainableWeights.map((w) => w.read() as tf.Variable);
    const xs = tf.tensor4d(local.x.subarray(0, m * PIXELS_PER_IMAGE), [m, 28, 28, 1]);
    const mask = tf.tensor2d(local.mask.subarray(0, m * NUM_CLASSES), [m, NUM_CLASSES]);
    const setW = tf.tensor1d(local.setW.subarray(0, m));
    const uniW = tf.tensor1d(local.uniW.subarray(0, m));
    for (let step = 0; step < 3; step++) {
      const cost = optimizer.minimize(
        () => setValuedLoss(single.apply(xs, { training: true }) as tf.Tensor2D, mask, setW, uniW),
        true,
        trainable,
      )!;
      const expected = cost.dataSync()[0]!;
      cost.dispose();
      const got = await replicas.step(m, lr);
      expect(got, `loss of step ${step + 1}`).to.be.closeTo(expected, 1e-5 * expected);
    }
    tf.dispose([xs, mask, setW, uniW]);
    optimizer.dispose();
    // copyWeightsInto also checks that both workers hold the same weights
    await replicas.copyWeightsInto(parallel);
    const a = flat(single);
    const b = flat(parallel);
    let moved = 0;
    a.forEach((w, j) =>
      w.forEach((v, k) => {
        expect(b[j]![k], `weight ${j}[${k}]`).to.be.closeTo(v, 1e-5);
        moved = Math.max(moved, Math.abs(v - start[j]![k]!));
      }),
    );
    expect(moved, 'the steps changed the weights').to.be.above(0.01);
    single.dispose();
    parallel.dispose();
  });

  it('a worker that dies fails the step with an error naming it, and the other worker is not left waiting', async () => {
    const model = tiny(5);
    replicas = await startReplicas(model, { workers: 2, batchSize: 24, learningRate: 0.01, seed: 1, backend: 'wasm' });
    await fillBatch(replicas.batch, 19);
    const exited = replicas.threads.map((t) => new Promise<void>((resolve) => t.once('exit', () => resolve())));
    void replicas.threads[1]!.terminate();
    // worker 0 reaches the barrier and would wait for worker 1 forever without the abort flag
    const err = await replicas.step(19, 0.01).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/training worker 1 (exited|failed)/);
    await Promise.all(exited);
    await replicas.step(19, 0.01).then(
      () => expect.fail('a step after a failure must fail'),
      (e: Error) => expect(e.message).to.match(/training worker 1/),
    );
    model.dispose();
  });

  it('copyWeightsInto refuses replicas whose weights differ', async () => {
    const model = tiny(7);
    replicas = await startReplicas(model, { workers: 2, batchSize: 24, learningRate: 0.01, seed: 1, backend: 'wasm' });
    await fillBatch(replicas.batch, 19);
    // Drive the workers past the Replicas API: the same batch at two learning rates makes them differ.
    const done = replicas.threads.map((t) => once(t, 'message'));
    replicas.threads.forEach((t, i) => t.postMessage({ type: 'step', m: 19, lr: i === 0 ? 0.01 : 0.02 } satisfies ToWorker));
    await Promise.all(done);
    const err = await replicas.copyWeightsInto(model).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/training worker 1 holds other weights than worker 0/);
    model.dispose();
  });

  it('train() with 2 workers learns, records the workers and the speed, and repeats with the same seed', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'rv-replicas-'));
    try {
      const opts = (out: string) => ({
        arch: 'fast',
        epochs: 2,
        batchSize: 50,
        seed: 11,
        learningRate: 0.002,
        validation: 200,
        flip: true,
        limit: 1000,
        testLimit: 1000,
        out,
        workers: 2,
        progress: () => {},
      });
      const a = await train(opts(join(tmp, 'a')));
      a.model.dispose();
      const t = a.card.training as Record<string, any>;
      expect(t.workers).to.equal(2);
      expect(t.imagesPerSecond).to.be.above(0);
      expect(t.workerSec.busy).to.have.length(2);
      expect(t.workerSec.barrierWait.every((x: number) => x >= 0)).to.equal(true);
      expect(t.command).to.contain('--workers 2');
      const history = t.history as { loss: number }[];
      expect(history[1]!.loss).to.be.below(history[0]!.loss);
      expect(a.card.evaluation.accuracy).to.be.above(0.5); // 2 epochs on 1,000 images; chance is 0.1
      const b = await train(opts(join(tmp, 'b')));
      b.model.dispose();
      expect(b.card.version, 'same seed, same weights').to.equal(a.card.version);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

/**
 * Trains a CNN on Fashion-MNIST on the wasm engine and writes models/fashion-cnn/ (model.json,
 * weights.bin, model-card.json). Reproducible: the seed drives weight init, shuffling, augmentation
 * and dropout (Math.random is swapped for a seeded generator while training, since tfjs dropout
 * with a fixed seed would reuse one mask for every step).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLASS_NAMES, ModelCard, NUM_CLASSES, PIXELS_PER_IMAGE, seededRandom, type Logger } from '@refund-vision/shared';
import { architecture, flopsPerImage, summaryLines } from './architectures.ts';
import { initTf, tf, type TfEngine } from './engine.ts';
import { FILES, loadFashionMnist, type FashionMnist } from './fashion-mnist.ts';
import { readCard } from './classifier.ts';
import { loadModel, saveModel } from './io.ts';
import { classDistribution, evaluate, pixelStats } from './metrics.ts';
import { predictTf } from './predict-tf.ts';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  seed: number;
  arch: string;
  learningRate: number;
  /** Training images held out for per-epoch validation. */
  validation: number;
  /** Horizontal flips of half the training images (clothes are left–right symmetric). */
  flip: boolean;
  /** Use only N training images (for timing runs and tests). */
  limit?: number;
  /** Evaluate on only the first N test images (tests); default all 10,000. */
  testLimit?: number;
  out: string;
  backend?: TfEngine;
  logger?: Logger;
  /** Progress line sink; default stderr. */
  progress?: (line: string, done: boolean) => void;
  /**
   * Continue from the model saved in this folder (fine-tuning) instead of fresh weights; its
   * architecture is kept and its card's training record is carried into the new card.
   */
  init?: string;
}

export const TRAIN_DEFAULTS: Omit<TrainOptions, 'out'> = {
  epochs: 8,
  batchSize: 64,
  seed: 42,
  arch: 'deep',
  learningRate: 0.001,
  validation: 5000,
  flip: true,
};

function shuffled(n: number, rand: () => number): Int32Array {
  const idx = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx;
}

/** The images and labels at idx, packed in that order. */
function gather(data: FashionMnist, idx: Int32Array): { pixels: Uint8Array; labels: Uint8Array } {
  const pixels = new Uint8Array(idx.length * PIXELS_PER_IMAGE);
  const labels = new Uint8Array(idx.length);
  idx.forEach((i, k) => {
    pixels.set(data.images.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE), k * PIXELS_PER_IMAGE);
    labels[k] = data.labels[i]!;
  });
  return { pixels, labels };
}

/** Fills x (0–1 floats) and one-hot y for the images at idx[from..from+m). */
function fillBatch(
  data: FashionMnist,
  idx: Int32Array,
  from: number,
  m: number,
  x: Float32Array,
  y: Float32Array,
  flip: boolean,
  rand: () => number,
) {
  y.fill(0, 0, m * NUM_CLASSES);
  for (let b = 0; b < m; b++) {
    const i = idx[from + b]!;
    const src = i * PIXELS_PER_IMAGE;
    const dst = b * PIXELS_PER_IMAGE;
    if (flip && rand() < 0.5) {
      for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) x[dst + r * 28 + c] = data.images[src + r * 28 + 27 - c]! / 255;
    } else {
      for (let p = 0; p < PIXELS_PER_IMAGE; p++) x[dst + p] = data.images[src + p]! / 255;
    }
    y[b * NUM_CLASSES + data.labels[i]!] = 1;
  }
}

const defaultProgress = (line: string, done: boolean) => process.stderr.write(`\r${line}\x1b[K${done ? '\n' : ''}`);

export interface TrainResult {
  card: ModelCard;
  dir: string;
  model: tf.LayersModel;
}

export async function train(opts: TrainOptions): Promise<TrainResult> {
  const log = opts.logger;
  const progress = opts.progress ?? defaultProgress;
  const backend = await initTf(opts.backend ?? 'wasm', log);
  const arch = architecture(opts.arch);
  const full = await loadFashionMnist('train', { logger: log });
  const test = await loadFashionMnist('test', { logger: log });
  const start = Date.now();

  const rand = seededRandom(opts.seed);
  const realRandom = Math.random;
  Math.random = seededRandom(opts.seed ^ 0x9e3779b9);
  try {
    // Held-out validation images: a seeded random subset of the training set.
    const all = shuffled(opts.limit ? Math.min(opts.limit + opts.validation, full.count) : full.count, rand);
    const valIdx = all.subarray(0, opts.validation);
    const trainIdx = all.slice(opts.validation);
    const valSet = gather(full, valIdx);

    const prior = opts.init ? readCard(opts.init) : undefined;
    const model = opts.init ? await loadModel(opts.init) : arch.build(opts.seed);
    const optimizer = tf.train.adam(opts.learningRate);
    model.compile({ optimizer, loss: 'categoricalCrossentropy' });
    log?.info('training', {
      arch: arch.name,
      backend,
      epochs: opts.epochs,
      batchSize: opts.batchSize,
      train: trainIdx.length,
      validation: valIdx.length,
    });

    const bs = opts.batchSize;
    const x = new Float32Array(bs * PIXELS_PER_IMAGE);
    const y = new Float32Array(bs * NUM_CLASSES);
    const history: { epoch: number; loss: number; valAccuracy: number; valLoss: number; learningRate: number; sec: number }[] = [];
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      // cosine decay, per epoch, down to 5% of the initial rate
      const lr = opts.learningRate * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * (epoch - 1)) / Math.max(1, opts.epochs))));
      (optimizer as unknown as { learningRate: number }).learningRate = lr;
      const order = shuffled(trainIdx.length, rand).map((k) => trainIdx[k]!);
      const t0 = Date.now();
      let lossSum = 0;
      let batches = 0;
      const nb = Math.ceil(order.length / bs);
      for (let b = 0; b < nb; b++) {
        const m = Math.min(bs, order.length - b * bs);
        fillBatch(full, order, b * bs, m, x, y, opts.flip, rand);
        const xs = tf.tensor4d(x.subarray(0, m * PIXELS_PER_IMAGE), [m, 28, 28, 1]);
        const ys = tf.tensor2d(y.subarray(0, m * NUM_CLASSES), [m, NUM_CLASSES]);
        const loss = (await model.trainOnBatch(xs, ys)) as number;
        tf.dispose([xs, ys]);
        lossSum += loss;
        batches++;
        if (b % 20 === 0 || b === nb - 1) {
          const sec = (Date.now() - t0) / 1000;
          const done = (b + 1) / nb;
          const bar = '#'.repeat(Math.round(done * 30)).padEnd(30, '.');
          progress(
            `epoch ${epoch}/${opts.epochs} [${bar}] ${(done * 100).toFixed(0)}% loss ${(lossSum / batches).toFixed(4)} ${Math.round(((b + 1) * bs) / Math.max(sec, 1e-3))} img/s eta ${Math.round(sec / done - sec)}s`,
            false,
          );
        }
      }
      const valProbs = predictTf(model, valSet.pixels, valIdx.length);
      const val = evaluate(valProbs, valSet.labels);
      const sec = (Date.now() - t0) / 1000;
      history.push({ epoch, loss: lossSum / batches, valAccuracy: val.accuracy, valLoss: val.logLoss, learningRate: lr, sec });
      progress(
        `epoch ${epoch}/${opts.epochs} loss ${(lossSum / batches).toFixed(4)} val_acc ${val.accuracy.toFixed(4)} val_loss ${val.logLoss.toFixed(4)} lr ${lr.toExponential(2)} ${sec.toFixed(1)}s`,
        true,
      );
      log?.info('epoch done', { epoch, loss: lossSum / batches, valAccuracy: val.accuracy, sec });
    }
    const durationSec = (Date.now() - start) / 1000;

    const saved = await saveModel(model, opts.out);
    const nTest = Math.min(opts.testLimit ?? test.count, test.count);
    const testProbs = predictTf(model, test.images, nTest);
    const ev = evaluate(testProbs, test.labels, nTest);
    const trainSet = gather(full, trainIdx);
    const stats = pixelStats(trainSet.pixels);
    const checksums: Record<string, string> = {};
    for (const split of ['train', 'test'] as const)
      for (const f of [FILES[split].images, FILES[split].labels]) checksums[f.name] = `sha256:${f.sha256}`;

    const card = ModelCard.parse({
      name: 'fashion-cnn',
      version: saved.version,
      createdAt: new Date().toISOString(),
      classNames: CLASS_NAMES,
      input: { shape: [28, 28, 1], dtype: 'uint8', scale: '1/255', background: 'black (0)' },
      architecture: {
        summary: [`${arch.name}: ${arch.description}`, ...summaryLines(model)],
        params: model.countParams(),
        flopsPerImage: flopsPerImage(model),
        why: arch.why,
      },
      training: {
        epochs: opts.epochs,
        batchSize: opts.batchSize,
        optimizer: 'adam',
        learningRate: opts.learningRate,
        learningRateSchedule: 'cosine per epoch down to 5%',
        loss: 'categoricalCrossentropy',
        seed: opts.seed,
        backend,
        // with --init, the wall time and epochs include the run it continued
        durationSec: Math.round((durationSec + (prior?.training.durationSec ?? 0)) * 10) / 10,
        ...(prior
          ? {
              durationSecThisRun: Math.round(durationSec * 10) / 10,
              totalEpochs: opts.epochs + Number(prior.training.totalEpochs ?? prior.training.epochs),
            }
          : {}),
        trainImages: trainIdx.length,
        validationImages: valIdx.length,
        augmentation: opts.flip ? 'random horizontal flip (p=0.5)' : 'none',
        history,
        ...(prior ? { initFrom: { version: prior.version, training: prior.training, testAccuracy: prior.evaluation.accuracy } } : {}),
        command: `pnpm train${opts.init ? ` --init <dir of ${prior!.version}>` : ''} --arch ${arch.name} --epochs ${opts.epochs} --batch-size ${opts.batchSize} --seed ${opts.seed} --lr ${opts.learningRate}${opts.flip ? '' : ' --no-flip'}${opts.limit ? ` --limit ${opts.limit}` : ''}`,
      },
      data: {
        source: 'Fashion-MNIST (zalandoresearch), official IDX files',
        checksums,
        foundIn: full.source.replace(/^.*\/(?=[^/]+\/[^/]+$)/, '…/'),
      },
      evaluation: { ...ev, engine: backend },
      monitoring: {
        meanConfidence: ev.meanConfidence,
        perClassMeanConfidence: ev.perClassMeanConfidence,
        classDistribution: classDistribution(trainSet.labels),
        ...stats,
      },
    });
    writeFileSync(join(saved.dir, 'model-card.json'), `${JSON.stringify(card, null, 2)}\n`);
    log?.info('model written', { dir: saved.dir, version: saved.version, accuracy: ev.accuracy, durationSec });
    return { card, dir: saved.dir, model };
  } finally {
    Math.random = realRandom;
  }
}

/**
 * Trains a CNN on Fashion-MNIST on the wasm engine and writes models/fashion-cnn/ (model.json,
 * weights.bin or weights.bin.gz, model-card.json). Reproducible: the seed drives weight init, shuffling, augmentation
 * and dropout (Math.random is swapped for a seeded generator while training, since tfjs dropout
 * with a fixed seed would reuse one mask for every step).
 *
 * With `photos`, every batch mixes Fashion-MNIST images with real photos (set-valued labels,
 * out-of-scope photos trained towards the uniform distribution: see set-loss.ts), the photos are
 * split by sender into training and validation, and after training the model is calibrated on the
 * validation photos (temperature folded into the last layer, then the card's map of the served
 * confidence) and its review thresholds chosen there.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CLASS_NAMES,
  ModelCard,
  NUM_CLASSES,
  PIXELS_PER_IMAGE,
  seededRandom,
  type ConfidenceMap,
  type Logger,
  type ReviewPolicy,
} from '@refund-vision/shared';
import { architecture, architectureOf, flopsPerImage, summaryLines } from './architectures.ts';
import { initTf, tf, type TfEngine } from './engine.ts';
import { FILES, loadFashionMnist, type FashionMnist } from './fashion-mnist.ts';
import { readCard } from './classifier.ts';
import { loadModel, saveModel } from './io.ts';
import { argmaxRow, classDistribution, evaluate, pixelStats } from './metrics.ts';
import { predictTf } from './predict-tf.ts';
import { servingNets } from './ensemble.ts';
import { fitServedConfidenceMap, fitTemperature, foldTemperature } from './calibration.ts';
import { applyConfidenceMap } from './confidence-map.ts';
import { accuracyAim, type SenderCrossValidation } from './sender-cross-validation.ts';
import {
  HEAD_LABEL_SETS,
  HEAD_LABELS,
  loadClothingPhotos,
  splitBySender,
  splitForRun,
  type Photo,
  type ValidationSplit,
} from './clothing-photos.ts';
import { photoArrays } from './photo-arrays.ts';
import { PREPROCESS_VERSION } from '@refund-vision/preprocess';
import {
  AUTO_ACCEPT_TOLERANCE,
  chooseReviewPolicy,
  evaluatePhotos,
  REVIEW_TARGETS,
  senderIntervals,
  type LabelHeadRows,
  type PhotoEvaluation,
} from './photo-metrics.ts';
import type { SetLossMode } from './set-loss.ts';
import { labelColumns, withLabelHead } from './label-head.ts';
import { splitRows, type ServedRows } from './label-rows.ts';
import { batchLoss, newBatch, type Batch } from './train-batch.ts';
import { defaultWorkers, startReplicas, type Replicas } from './replicas.ts';

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
  /**
   * Shift each Fashion-MNIST training image by up to ±N pixels (zero fill), as photos already are:
   * Fashion-MNIST centres its items exactly, so a net that never saw them moved cannot take shifted
   * views at test time without losing accuracy on them. Default 0.
   */
  fmShift?: number;
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
  /**
   * Train only the dense layers after Flatten (the conv stages keep their weights): about a third of
   * the work per image (no gradients through the convolutions), for fine-tuning on new photos.
   */
  freezeConvs?: boolean;
  /** Train on the real clothing photos too (see PhotoTrainOptions); absent = Fashion-MNIST only. */
  photos?: PhotoTrainOptions;
  /**
   * Answer each image as the mean logits of it and its mirror image (card `inference.flipAverage`):
   * calibration, review thresholds and every evaluation use it, as serving will. Default: what the
   * --init model's card says, else off.
   */
  flipAverage?: boolean;
  /**
   * Worker threads training replicas of the model in lock-step (replicas.ts); default 2 on a machine
   * with ≥ 2 cores, else 1. 1 = every step in this thread (tfjs wasm uses one core per thread).
   */
  workers?: number;
}

export interface PhotoTrainOptions {
  /** Share of each batch that is a photo (the rest Fashion-MNIST). */
  share: number;
  /** Weight of the uniform-target loss of out-of-scope photos (in-scope photos weigh 1). */
  oosWeight: number;
  /** How a label's set of classes counts in the loss (set-loss.ts): 'max' keeps top-1 calibrated; default 'sum'. */
  setLoss?: SetLossMode;
  /** Augmented copies per training photo made from the original at cache time (crop/JPEG, tone/blur). */
  variants: number;
  /**
   * Share of drawn photos turned a quarter turn (either way) before the flip and shift: items lie on
   * beds and floors in any direction (shoes toes-up, trousers across the frame), Fashion-MNIST's stand
   * upright. Default 0.
   */
  rotate?: number;
  /**
   * Which photos (by sender) are held out for validation; default: the split of the model `init`
   * continues if it learned from photos (clothing-photos.ts splitForRun), else VALIDATION_SPLIT.
   */
  validationSplit?: ValidationSplit;
  /** Use only the first N training and N validation photos (tests). */
  limit?: number;
  /** The photos folder (default: CLOTHING_PHOTOS_DIR, ../shared/data/clothing-photos, data/clothing-photos). */
  dir?: string;
  /** Where preprocessed arrays are cached (default <root>/data/photo-cache); false = no cache. */
  cacheDir?: string | false;
  /**
   * Items people reviewed (`--with-reviews`): drawn like photos — their 28×28 as the model saw it and
   * the decided class, or null ("none of these classes") trained like an out-of-scope photo.
   */
  reviewed?: { ids: string[]; pixels: Uint8Array; classes: Array<number | null> };
  /**
   * Weight of a label head's loss (`--label-head W`, label-head.ts): the net also learns to name each
   * training photo's label (HEAD_LABELS). A net without the head gets one first (withLabelHead).
   */
  labelHead?: number;
}

/** Photo options once the run's split is settled (train resolves it before anything reads it). */
type RunPhotoOptions = PhotoTrainOptions & { validationSplit: ValidationSplit };

export const PHOTO_DEFAULTS: PhotoTrainOptions = { share: 1 / 3, oosWeight: 0.5, variants: 2 };

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

/** A whole-pixel shift drawn uniformly from −n … n. */
const randomShift = (rand: () => number, n: number) => Math.floor(rand() * (2 * n + 1)) - n;

/** Copies one 28×28 uint8 image into x (0–1 floats) at dst, optionally mirrored and shifted (zero fill). */
function putImage(src: Uint8Array, off: number, x: Float32Array, dst: number, flip: boolean, dx = 0, dy = 0) {
  if (!dx && !dy) {
    if (flip) for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) x[dst + r * 28 + c] = src[off + r * 28 + 27 - c]! / 255;
    else for (let p = 0; p < PIXELS_PER_IMAGE; p++) x[dst + p] = src[off + p]! / 255;
    return;
  }
  for (let r = 0; r < 28; r++)
    for (let c = 0; c < 28; c++) {
      const sr = r - dy;
      const sc0 = c - dx;
      const sc = flip ? 27 - sc0 : sc0;
      x[dst + r * 28 + c] = sr >= 0 && sr < 28 && sc0 >= 0 && sc0 < 28 ? src[off + sr * 28 + sc]! / 255 : 0;
    }
}

/** A 28×28 image turned a quarter turn: clockwise (k = 1) or anticlockwise (k = 3). */
export function quarterTurn(src: Uint8Array, off: number, k: 1 | 3): Uint8Array {
  const out = new Uint8Array(PIXELS_PER_IMAGE);
  for (let r = 0; r < 28; r++)
    for (let c = 0; c < 28; c++) out[r * 28 + c] = k === 1 ? src[off + (27 - c) * 28 + r]! : src[off + c * 28 + 27 - r]!;
  return out;
}

/** Training photos as the batches draw them: each photo's preprocessed variants that succeeded. */
interface PhotoPool {
  photos: Photo[];
  pixels: Uint8Array;
  /** Rows (into pixels) per photo; photos with none are dropped. */
  rows: number[][];
  order: Int32Array;
  next: number;
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
  const prior = opts.init ? readCard(opts.init) : undefined;
  // fine-tuning keeps the architecture of the model it starts from, whatever --arch says
  const arch = architecture((prior && architectureOf(prior)) ?? opts.arch);
  const flipAverage = opts.flipAverage ?? prior?.inference?.flipAverage === true;
  /**
   * The net's softmax (what the temperature is fitted to). A combined ensemble runs as its members
   * (servingNets), split again at each call because calibration changes the net's last layer.
   */
  const rowsOf = (model: tf.LayersModel, pixels: Uint8Array, n: number): ServedRows => {
    const { nets, members } = servingNets(model, prior);
    try {
      // the answers, and a label head's columns split off (label-rows.ts)
      return splitRows(predictTf(nets, pixels, n, undefined, flipAverage), n);
    } finally {
      if (members) nets.forEach((net) => net.dispose());
    }
  };
  const softmaxOf = (model: tf.LayersModel, pixels: Uint8Array, n: number) => rowsOf(model, pixels, n).probs;
  /** Fitted on the validation photos once the temperature is folded in; until then none. */
  let confidenceMap: ConfidenceMap | undefined;
  /** The model's answers as serving gives them (classifier.ts applies the same map). */
  const answers = (model: tf.LayersModel, pixels: Uint8Array, n: number) => {
    const probs = softmaxOf(model, pixels, n);
    return confidenceMap ? applyConfidenceMap(probs, confidenceMap) : probs;
  };
  const full = await loadFashionMnist('train', { logger: log });
  const test = await loadFashionMnist('test', { logger: log });
  const start = Date.now();

  const rand = seededRandom(opts.seed);
  const realRandom = Math.random;
  Math.random = seededRandom(opts.seed ^ 0x9e3779b9);
  let replicas: Replicas | undefined;
  try {
    // Held-out validation images: a seeded random subset of the training set.
    const all = shuffled(opts.limit ? Math.min(opts.limit + opts.validation, full.count) : full.count, rand);
    const valIdx = all.subarray(0, opts.validation);
    const trainIdx = all.slice(opts.validation);
    const valSet = gather(full, valIdx);

    let model = opts.init ? await loadModel(opts.init) : arch.build(opts.seed);
    const priorHead = prior?.inference?.labelHead;
    const headWeight = opts.photos?.labelHead ?? priorHead?.weight;
    if (headWeight && labelColumns(model) === 0) {
      const narrow = model;
      model = await withLabelHead(narrow, HEAD_LABELS.length, opts.seed);
      narrow.dispose();
    }
    const headLabels = labelColumns(model);
    if (headLabels && !headWeight) throw new Error('the net has a label head but its card records none (inference.labelHead)');
    if (headLabels && headLabels !== HEAD_LABELS.length)
      throw new Error(`the net names ${headLabels} labels, this build knows ${HEAD_LABELS.length} (${HEAD_LABELS.join(', ')})`);
    const optimizer = tf.train.adam(opts.learningRate);
    const ph = opts.photos && { ...opts.photos, validationSplit: splitForRun(opts.photos.validationSplit, prior) };
    if (opts.freezeConvs) {
      const flat = model.layers.findIndex((l) => l.getClassName() === 'Flatten');
      if (flat < 0) throw new Error('--freeze-convs: the model has no Flatten layer');
      model.layers.forEach((l, i) => (l.trainable = i > flat));
    }
    // only these get gradients: with frozen convolutions backpropagation stops at the dense layers
    const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const photoData = ph ? await preparePhotos(ph, opts.epochs > 0, progress, log) : undefined;
    log?.info('training', {
      arch: arch.name,
      backend,
      epochs: opts.epochs,
      batchSize: opts.batchSize,
      train: trainIdx.length,
      validation: valIdx.length,
      ...(photoData ? { trainPhotos: photoData.pool.photos.length, validationPhotos: photoData.val.length } : {}),
    });

    const bs = opts.batchSize;
    // photos per batch (at least one when photos are on), the rest Fashion-MNIST
    const perPhoto = photoData ? Math.max(1, Math.round(bs * ph!.share)) : 0;
    const perFm = bs - perPhoto;
    const fmShift = opts.fmShift ?? 0;
    const setLoss = ph?.setLoss ?? 'sum';
    const workers = opts.epochs > 0 ? Math.max(1, Math.floor(opts.workers ?? defaultWorkers())) : 1;
    if (workers > 1)
      replicas = await startReplicas(model, {
        workers,
        batchSize: bs,
        learningRate: opts.learningRate,
        seed: opts.seed,
        backend,
        setLoss,
      });
    // with replicas the batch is assembled straight into the memory the workers read
    const batch = replicas?.batch ?? newBatch(bs, false, labelColumns(model));
    let stepSec = 0;
    let imagesTrained = 0;
    /** One optimizer step on the first m rows of the batch, in this thread (--workers 1). */
    const stepInThread = async (m: number): Promise<number> => {
      const cost = optimizer.minimize(() => batchLoss(model, batch, 0, m, setLoss), true, trainable)!;
      const loss = (await cost.data())[0]!;
      cost.dispose();
      return loss;
    };
    const history: Record<string, number>[] = [];
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      // cosine decay, per epoch, down to 5% of the initial rate
      const lr = opts.learningRate * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * (epoch - 1)) / Math.max(1, opts.epochs))));
      (optimizer as unknown as { learningRate: number }).learningRate = lr;
      const order = shuffled(trainIdx.length, rand).map((k) => trainIdx[k]!);
      const t0 = Date.now();
      let lossSum = 0;
      let batches = 0;
      const nb = Math.ceil(order.length / perFm);
      for (let b = 0; b < nb; b++) {
        const mFm = Math.min(perFm, order.length - b * perFm);
        const m = mFm + perPhoto;
        batch.mask.fill(0, 0, m * NUM_CLASSES);
        batch.labelMask.fill(0, 0, m * batch.labels);
        batch.labelW.fill(0, 0, batch.labels ? m : 0);
        for (let k = 0; k < mFm; k++) {
          const i = order[b * perFm + k]!;
          const flip = opts.flip && rand() < 0.5;
          // draws only when shifting, so runs without --fm-shift keep their random sequence
          const [dx, dy] = fmShift ? [randomShift(rand, fmShift), randomShift(rand, fmShift)] : [0, 0];
          putImage(full.images, i * PIXELS_PER_IMAGE, batch.x, k * PIXELS_PER_IMAGE, flip, dx, dy);
          batch.mask[k * NUM_CLASSES + full.labels[i]!] = 1;
          batch.setW[k] = 1;
          batch.uniW[k] = 0;
        }
        if (photoData) for (let k = mFm; k < m; k++) drawPhoto(photoData.pool, batch, k, ph!, rand, headWeight ?? 0);
        const loss = replicas ? await replicas.step(m, lr) : await stepInThread(m);
        lossSum += loss;
        imagesTrained += m;
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
      stepSec += (Date.now() - t0) / 1000;
      // evaluation runs on this thread's model: bring it the replicas' weights (checked identical)
      if (replicas) await replicas.copyWeightsInto(model);
      const valProbs = answers(model, valSet.pixels, valIdx.length);
      const val = evaluate(valProbs, valSet.labels);
      const pv = photoData ? evaluatePhotos(answers(model, photoData.valPixels, photoData.val.length), photoData.val) : undefined;
      const sec = (Date.now() - t0) / 1000;
      const entry: Record<string, number> = {
        epoch,
        loss: lossSum / batches,
        valAccuracy: val.accuracy,
        valLoss: val.logLoss,
        learningRate: lr,
        sec,
      };
      if (pv) Object.assign(entry, photoHistory(pv));
      history.push(entry);
      progress(
        `epoch ${epoch}/${opts.epochs} loss ${(lossSum / batches).toFixed(4)} val_acc ${val.accuracy.toFixed(4)} val_loss ${val.logLoss.toFixed(4)}` +
          (pv
            ? ` photo_strict ${pv.strictAccuracy.toFixed(4)} photo_set ${pv.setAccuracy.toFixed(4)} oos_auroc ${pv.outOfScopeAuroc.entropy.toFixed(4)}`
            : '') +
          ` lr ${lr.toExponential(2)} ${sec.toFixed(1)}s`,
        true,
      );
      log?.info('epoch done', { ...entry });
    }
    // per worker: seconds of work and of waiting for the other (a busy machine shows here)
    const round1 = (xs: number[]) => xs.map((x) => Math.round(x * 10) / 10);
    const timing = replicas?.timing();
    const workerSec = timing ? { busy: round1(timing.busySec), barrierWait: round1(timing.waitSec) } : undefined;
    await replicas?.close();
    const durationSec = (Date.now() - start) / 1000;
    const imagesPerSecond = stepSec > 0 ? Math.round(imagesTrained / stepSec) : undefined;
    if (imagesPerSecond) log?.info('training speed', { workers, imagesPerSecond, ...workerSec });

    // Calibrate on the validation photos: fold 1/T into the last layer, fit the map of the served
    // confidence on top, then choose the review thresholds on the calibrated probabilities (what
    // serving will see).
    let photoCard: Record<string, any> = {};
    let review: ReturnType<typeof chooseReviewPolicy> | undefined;
    if (photoData) {
      const rawRows = rowsOf(model, photoData.valPixels, photoData.val.length);
      const raw = rawRows.probs;
      // the label head's probabilities (the temperature folds into the answer columns only, so
      // these stay as they are) give the review two more scores to choose from
      const head = rawRows.labels && { probs: rawRows.labels, sets: HEAD_LABEL_SETS };
      const before = evaluatePhotos(raw, photoData.val);
      const temperature = fitTemperature(raw, photoData.val);
      foldTemperature(model, temperature);
      const scaled = softmaxOf(model, photoData.valPixels, photoData.val.length);
      const afterT = evaluatePhotos(scaled, photoData.val);
      confidenceMap = fitServedConfidenceMap(scaled, photoData.val);
      // what `answers` would give, without running the net over the photos again
      const cal = applyConfidenceMap(Float32Array.from(scaled), confidenceMap);
      // thresholds that keep the accuracy target on senders they were not chosen on
      const { aim, crossValidation } = accuracyAim(raw, photoData.val, undefined, { ...(head ? { head } : {}) });
      review = chooseReviewPolicy(cal, photoData.val, REVIEW_TARGETS, AUTO_ACCEPT_TOLERANCE, aim, head);
      const pe = evaluatePhotos(cal, photoData.val, review.policy, head);
      photoCard = photoCardSections(photoData, ph!, pe, before, { temperature, afterT }, { ...review, crossValidation }, cal, head);
      // a fine-tuned or recalibrated model already carries its predecessor's 1/T in its weights
      const priorCal = (prior as Record<string, any> | undefined)?.calibration as
        | { cumulativeTemperature?: number; temperature?: number }
        | undefined;
      const priorT = priorCal?.cumulativeTemperature ?? priorCal?.temperature;
      if (priorT)
        Object.assign(photoCard.calibration, { cumulativeTemperature: Math.round(priorT * temperature * 1e4) / 1e4, previous: priorCal });
      log?.info('calibrated on validation photos', {
        temperature,
        confidenceMap,
        eceBefore: before.ece,
        eceAfterTemperature: afterT.ece,
        eceAfter: pe.ece,
        review: pe.review,
      });
    }

    const saved = await saveModel(model, opts.out);
    const nTest = Math.min(opts.testLimit ?? test.count, test.count);
    const testProbs = answers(model, test.images, nTest);
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
        seed: opts.seed,
        backend,
        workers,
        // optimizer steps only (batch assembly included, evaluation not): what --workers changes
        ...(imagesPerSecond ? { imagesPerSecond } : {}),
        ...(workerSec ? { workerSec } : {}),
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
        augmentation:
          (opts.flip ? 'Fashion-MNIST: random horizontal flip (p=0.5)' : 'Fashion-MNIST: none') +
          (opts.fmShift ? `, ±${opts.fmShift} px shifts` : '') +
          (ph
            ? `; photos: ${ph.variants} augmented copies per photo from the original (crop 80–100 % + downscale + JPEG quality 20–60; brightness/contrast ±30 %/±30 levels + blur σ 0.5–1.8), then ${ph.rotate ? `a quarter turn either way (p=${ph.rotate}), ` : ''}random flip and ±2 px shifts on the 28×28`
            : ''),
        history,
        ...(prior ? { initFrom: { version: prior.version, training: prior.training, testAccuracy: prior.evaluation.accuracy } } : {}),
        loss: ph
          ? `set-valued: −log ${ph.setLoss === 'max' ? 'max' : 'Σ'}_{c∈S} p_c (S = the label's classes; one class for Fashion-MNIST); out-of-scope photos: cross-entropy to uniform`
          : 'categoricalCrossentropy',
        ...(ph ? { photos: photoCard.training } : {}),
        ...(opts.freezeConvs ? { frozen: 'convolution stages (only the dense layers trained)' } : {}),
        command:
          `pnpm train${opts.init ? ` --init <dir of ${prior!.version}>` : ''}${opts.freezeConvs ? ' --freeze-convs' : ''} --arch ${arch.name} --epochs ${opts.epochs} --batch-size ${opts.batchSize} --seed ${opts.seed} --lr ${opts.learningRate}${opts.flip ? '' : ' --no-flip'}${opts.fmShift ? ` --fm-shift ${opts.fmShift}` : ''}${opts.limit ? ` --limit ${opts.limit}` : ''} --workers ${workers}${flipAverage && !prior?.inference?.flipAverage ? ' --flip-average' : ''}` +
          (ph
            ? ` --photo-share ${Math.round(ph.share * 1000) / 1000} --oos-weight ${ph.oosWeight} --photo-variants ${ph.variants}${ph.setLoss === 'max' ? ' --set-loss max' : ''}${ph.rotate ? ` --photo-rotate ${ph.rotate}` : ''}${ph.labelHead ? ` --label-head ${ph.labelHead}` : ''}${ph.limit ? ` --photo-limit ${ph.limit}` : ''}${ph.reviewed ? ' --with-reviews' : ''}`
            : ' --no-photos'),
      },
      data: {
        source: 'Fashion-MNIST (zalandoresearch), official IDX files',
        checksums,
        foundIn: full.source.replace(/^.*\/(?=[^/]+\/[^/]+$)/, '…/'),
        ...(ph ? { photos: photoCard.data } : {}),
        ...(ph?.reviewed
          ? {
              reviews: {
                trainItems: ph.reviewed.ids.length,
                outOfScope: ph.reviewed.classes.filter((c) => c === null).length,
                source: 'GET /v1/reviews/training-set (latest decision per item); the held-back share is in review-holdout.json',
              },
            }
          : {}),
      },
      evaluation: { ...ev, engine: backend },
      monitoring: {
        meanConfidence: ev.meanConfidence,
        perClassMeanConfidence: ev.perClassMeanConfidence,
        classDistribution: classDistribution(trainSet.labels),
        ...stats,
        // the baselines a run of mostly photos is judged against (api health.ts baselinesFor)
        ...(review ? { photos: photoCard.monitoring } : {}),
      },
      ...(flipAverage || confidenceMap || headLabels
        ? {
            inference: {
              flipAverage,
              ...(confidenceMap ? { confidenceMap } : {}),
              ...(headLabels ? { labelHead: { labels: [...HEAD_LABELS], weight: headWeight ?? 0 } } : {}),
            },
          }
        : {}),
      ...(review
        ? {
            review: review.policy,
            calibration: photoCard.calibration,
            photoEvaluation: photoCard.evaluation,
          }
        : {}),
    });
    writeFileSync(join(saved.dir, 'model-card.json'), `${JSON.stringify(card, null, 2)}\n`);
    log?.info('model written', { dir: saved.dir, version: saved.version, accuracy: ev.accuracy, durationSec });
    return { card, dir: saved.dir, model };
  } finally {
    Math.random = realRandom;
    await replicas?.close();
  }
}

interface PhotoData {
  pool: PhotoPool;
  val: Photo[];
  valPixels: Uint8Array;
  source: string;
  checksums: Record<string, string>;
  excludedByLabel: number;
  failures: number;
  cacheKeys: string[];
  trainOutOfScope: number;
}

async function preparePhotos(
  ph: RunPhotoOptions,
  /** false (--epochs 0): only the validation photos are needed */
  training: boolean,
  progress: (line: string, done: boolean) => void,
  log?: Logger,
): Promise<PhotoData> {
  const data = await loadClothingPhotos({ dir: ph.dir, logger: log });
  const split = splitBySender(data.photos, ph.validationSplit);
  const trainPhotos = ph.limit ? split.train.slice(0, ph.limit) : split.train;
  const valAll = ph.limit ? split.validation.slice(0, ph.limit) : split.validation;
  const note = (what: string) => (done: number, total: number) => progress(`preprocessing ${what} photos ${done}/${total}`, done === total);
  const tr = training
    ? await photoArrays(trainPhotos, { variants: 1 + ph.variants, cacheDir: ph.cacheDir, logger: log, progress: note('training') })
    : {
        pixels: new Uint8Array(0),
        variants: 1,
        ok: new Uint8Array(trainPhotos.length),
        failures: [],
        key: 'not built (no training)',
        cached: true,
      };
  const va = await photoArrays(valAll, { variants: 1, cacheDir: ph.cacheDir, logger: log, progress: note('validation') });
  const rows: number[][] = [];
  const photos: Photo[] = [];
  trainPhotos.forEach((p, i) => {
    const r = [];
    for (let v = 0; v < tr.variants; v++) if (tr.ok[i * tr.variants + v]) r.push(i * tr.variants + v);
    // without training the split is still reported: every training photo, none drawn
    if (r.length || !training) {
      photos.push(p);
      rows.push(r);
    }
  });
  // A validation photo that cannot be preprocessed would be an error at serving time, not a prediction.
  const keep = valAll.map((_, i) => va.ok[i] === 1);
  const val = valAll.filter((_, i) => keep[i]);
  const valPixels = new Uint8Array(val.length * PIXELS_PER_IMAGE);
  let k = 0;
  valAll.forEach((_, i) => {
    if (keep[i]) valPixels.set(va.pixels.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE), k++ * PIXELS_PER_IMAGE);
  });
  let pixels = tr.pixels;
  const rv = ph.reviewed;
  if (rv?.ids.length) {
    // Reviewed items join the pool as one-row "photos" with the person's decision as their label.
    const base = tr.pixels.length / PIXELS_PER_IMAGE;
    pixels = new Uint8Array(tr.pixels.length + rv.pixels.length);
    pixels.set(tr.pixels);
    pixels.set(rv.pixels, tr.pixels.length);
    rv.ids.forEach((id, i) => {
      const c = rv.classes[i]!;
      photos.push({
        id: `review:${id}`,
        label: 'reviewed',
        classes: c === null ? [] : [c],
        outOfScope: c === null,
        kids: false,
        senderId: 'review',
        file: '',
        sha256: '',
      });
      rows.push([base + i]);
    });
  }
  return {
    pool: { photos, pixels, rows, order: new Int32Array(0), next: 0 },
    val,
    valPixels,
    source: data.source,
    checksums: { 'labels.csv': `sha256:${data.checksums['labels.csv']}`, SHA256SUMS: `sha256:${data.checksums.SHA256SUMS}` },
    excludedByLabel: data.excluded,
    failures: tr.failures.length + va.failures.length,
    cacheKeys: [tr.key, va.key],
    trainOutOfScope: photos.filter((p) => p.outOfScope).length,
  };
}

/** Puts the next photo of the (reshuffled each pass) pool into batch row k, with its label set. */
function drawPhoto(pool: PhotoPool, batch: Batch, k: number, ph: PhotoTrainOptions, rand: () => number, headWeight: number): void {
  if (pool.next >= pool.order.length) {
    pool.order = shuffled(pool.photos.length, rand);
    pool.next = 0;
  }
  const i = pool.order[pool.next++]!;
  const p = pool.photos[i]!;
  const rows = pool.rows[i]!;
  const row = rows[Math.floor(rand() * rows.length)]!;
  // one draw decides whether to turn, so runs without --photo-rotate keep their random sequence
  const turn = ph.rotate ? rand() < ph.rotate : false;
  const [src, off] = turn
    ? [quarterTurn(pool.pixels, row * PIXELS_PER_IMAGE, rand() < 0.5 ? 1 : 3), 0]
    : [pool.pixels, row * PIXELS_PER_IMAGE];
  putImage(src, off, batch.x, k * PIXELS_PER_IMAGE, rand() < 0.5, randomShift(rand, 2), randomShift(rand, 2));
  if (p.outOfScope) {
    batch.setW[k] = 0;
    batch.uniW[k] = ph.oosWeight;
  } else {
    for (const c of p.classes) batch.mask[k * NUM_CLASSES + c] = 1;
    batch.setW[k] = 1;
    batch.uniW[k] = 0;
  }
  // the label head learns the photo's label (reviewed items have none: weight 0)
  const label = batch.labels ? HEAD_LABELS.indexOf(p.label) : -1;
  if (label >= 0) {
    batch.labelMask[k * batch.labels + label] = 1;
    batch.labelW[k] = headWeight;
  }
}

/** The per-epoch photo figures kept in the card's history. */
function photoHistory(pv: PhotoEvaluation): Record<string, number> {
  return {
    photoStrictAccuracy: pv.strictAccuracy,
    photoSetAccuracy: pv.setAccuracy,
    photoOosAuroc: pv.outOfScopeAuroc.entropy,
    photoSetNll: pv.setNll,
  };
}

function photoCardSections(
  d: PhotoData,
  ph: RunPhotoOptions,
  pe: PhotoEvaluation,
  before: PhotoEvaluation,
  calibration: { temperature: number; afterT: PhotoEvaluation },
  review: { policy: ReviewPolicy; met: boolean; crossValidation?: SenderCrossValidation },
  cal: Float32Array,
  head: LabelHeadRows | undefined,
) {
  const count = (ps: Photo[]) => ({
    photos: ps.length,
    outOfScope: ps.filter((p) => p.outOfScope).length,
    senders: new Set(ps.map((p) => p.senderId)).size,
  });
  return {
    training: {
      trainPhotos: d.pool.photos.length,
      trainOutOfScope: d.trainOutOfScope,
      validationPhotos: d.val.length,
      sharePerBatch: Math.round(ph.share * 1000) / 1000,
      outOfScopeWeight: ph.oosWeight,
      variantsPerPhoto: ph.variants,
    },
    data: {
      source:
        'clothing dataset (Alexey Grigorev and contributors, CC0), https://github.com/alexeygrigorev/clothing-dataset: a subset with labels.csv and SHA256SUMS',
      checksums: d.checksums,
      foundIn: d.source.replace(/^.*\/(?=[^/]+\/[^/]+$)/, '…/'),
      labels:
        'sets of Fashion-MNIST classes per the dataset README; Shorts, Skirt, Hat, Body, Other out of scope; Not sure and Skip left out',
      excludedByLabel: d.excludedByLabel,
      notPreprocessed: d.failures,
      split: `by sender_id: senders ordered by sha-256 of their id, taken until ${Math.round(ph.validationSplit.share * 100)} % of the photos, leaving out any sender with more than ${Math.round(ph.validationSplit.maxSenderShare * 100)} % of that`,
      train: count(d.pool.photos),
      validation: count(d.val),
      preprocessing: `@refund-vision/preprocess, PREPROCESS_VERSION ${PREPROCESS_VERSION}`,
    },
    calibration: {
      method:
        'temperature scaling fitted on the validation photos (log-loss of the served confidence: top-1 probability vs top-1 in the label set), 1/T folded into the last dense layer (kernel and bias divided by T); ' +
        'then Platt scaling of the top-1 probability, p′ = σ(a·logit p + b) with a, b per answered class (shrunk to a shared pair), the other classes rescaled to 1 − p′ (inference.confidenceMap, applied by every engine)',
      temperature: calibration.temperature,
      // the map itself is stated once, where serving reads it
      confidenceMap: 'inference.confidenceMap',
      photoEceBefore: before.ece,
      photoEceAfterTemperature: calibration.afterT.ece,
      photoEceAfter: pe.ece,
      photoEceStrictBefore: before.eceStrict,
      photoEceStrictAfter: pe.eceStrict,
      photoSetNllBefore: before.setNll,
      photoSetNllAfter: pe.setNll,
      photoAnswerNllBefore: before.answerNll,
      photoAnswerNllAfterTemperature: calibration.afterT.answerNll,
      photoAnswerNllAfter: pe.answerNll,
    },
    evaluation: {
      split: 'photo validation split (held-out senders)',
      // what evaluate and the gate hold out again for this model (clothing-photos.ts validationSplitOf)
      validationSplit: ph.validationSplit,
      ...pe,
      // how far the split's figures can be trusted: one sender's photos are right or wrong together
      bySender95: senderIntervals(cal, d.val, review.policy, head ? { head } : {}),
      // and how far the calibration and thresholds, fitted on these senders, carry to others
      senderCrossValidation: review.crossValidation,
      reviewTargetsMet: review.met,
    },
    monitoring: {
      // predicted-class mix and pixel statistics of the validation photos (what a photo run is compared with)
      classDistribution: predictedMix(cal),
      ...pixelStats(d.valPixels),
      meanConfidence: pe.meanConfidence,
      meanConfidenceInScope: pe.meanConfidenceInScope,
      meanConfidenceOutOfScope: pe.meanConfidenceOutOfScope,
      reviewShare: pe.review?.reviewShare,
      reviewShareByReason: pe.review?.byReason,
      estimatedAccuracyOfAccepted: pe.review?.autoAcceptedAccuracy,
    },
  };
}

/** Share of photos per predicted class (sums to 1). */
function predictedMix(probs: Float32Array): number[] {
  const n = probs.length / NUM_CLASSES;
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = argmaxRow(probs, i).index;
  return classDistribution(labels);
}

/**
 * The figures of a model card, computed from predicted probabilities and from the training pixels.
 * Pure functions over typed arrays, shared by `pnpm train` and `pnpm evaluate`.
 */
import { CLASS_NAMES, NEAR_ZERO_THRESHOLD, PIXELS_PER_IMAGE } from '@refund-vision/shared';

const K = CLASS_NAMES.length;

export interface Evaluation {
  testImages: number;
  accuracy: number;
  perClass: { className: string; precision: number; recall: number; meanConfidence: number }[];
  /** confusion[true][predicted]. */
  confusion: number[][];
  /** Expected calibration error over 15 equal-width confidence bins. */
  ece: number;
  meanConfidence: number;
  /** Mean top-1 probability per PREDICTED class. */
  perClassMeanConfidence: number[];
  logLoss: number;
}

const round = (v: number, d = 6) => Math.round(v * 10 ** d) / 10 ** d;

export function argmaxRow(probs: ArrayLike<number>, row: number): { index: number; value: number } {
  let index = 0;
  let value = -Infinity;
  for (let k = 0; k < K; k++) {
    const v = probs[row * K + k]!;
    if (v > value) {
      value = v;
      index = k;
    }
  }
  return { index, value };
}

/**
 * Reliability bins for the expected calibration error: top-1 confidences in `bins` equal-width bins;
 * ECE = Σ_b (n_b / n) · |accuracy_b − mean confidence_b|. One implementation for Fashion-MNIST
 * (evaluate) and the photos (photoEce).
 */
export class CalibrationBins {
  private readonly count: number[];
  private readonly conf: number[];
  private readonly hit: number[];
  private n = 0;

  constructor(private readonly bins = 15) {
    this.count = new Array<number>(bins).fill(0);
    this.conf = new Array<number>(bins).fill(0);
    this.hit = new Array<number>(bins).fill(0);
  }

  add(confidence: number, correct: boolean): void {
    const b = Math.min(this.bins - 1, Math.floor(confidence * this.bins));
    this.count[b]!++;
    this.conf[b]! += confidence;
    this.hit[b]! += correct ? 1 : 0;
    this.n++;
  }

  ece(): number {
    let e = 0;
    for (let b = 0; b < this.bins; b++) {
      const c = this.count[b]!;
      if (c) e += (c / this.n) * Math.abs(this.hit[b]! / c - this.conf[b]! / c);
    }
    return e;
  }
}

export function evaluate(probs: Float32Array, labels: Uint8Array, n = labels.length, bins = 15): Evaluation {
  if (probs.length < n * K) throw new Error(`evaluate: ${probs.length} probabilities for ${n} images`);
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  const confSum = new Array<number>(K).fill(0);
  const confCount = new Array<number>(K).fill(0);
  const calibration = new CalibrationBins(bins);
  let correct = 0;
  let total = 0;
  let logLoss = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    const { index, value } = argmaxRow(probs, i);
    confusion[y]![index]!++;
    const hit = index === y ? 1 : 0;
    correct += hit;
    total += value;
    confSum[index]! += value;
    confCount[index]!++;
    calibration.add(value, hit === 1);
    logLoss -= Math.log(Math.max(probs[i * K + y]!, 1e-12));
  }
  const perClassMeanConfidence = confSum.map((s, k) => round(confCount[k] ? s / confCount[k]! : 0));
  const perClass = CLASS_NAMES.map((className, k) => {
    const tp = confusion[k]![k]!;
    const predicted = confusion.reduce((s, row) => s + row[k]!, 0);
    const actual = confusion[k]!.reduce((s, v) => s + v, 0);
    return {
      className,
      precision: round(predicted ? tp / predicted : 0),
      recall: round(actual ? tp / actual : 0),
      meanConfidence: perClassMeanConfidence[k]!,
    };
  });
  return {
    testImages: n,
    accuracy: round(correct / n),
    perClass,
    confusion,
    ece: round(calibration.ece()),
    meanConfidence: round(total / n),
    perClassMeanConfidence,
    logLoss: round(logLoss / n),
  };
}

export interface PixelStats {
  pixelMean: number;
  pixelStd: number;
  nearZeroShare: number;
  /** Std across images of each image's mean pixel (0–1 scale). */
  imageMeanStd: number;
  /** Std across images of each image's near-zero share. */
  imageNearZeroStd: number;
}

export function pixelStats(images: Uint8Array, count = images.length / PIXELS_PER_IMAGE): PixelStats {
  let sum = 0;
  let sumSq = 0;
  let nearZero = 0;
  let mSum = 0;
  let mSq = 0;
  let zSum = 0;
  let zSq = 0;
  for (let i = 0; i < count; i++) {
    let s = 0;
    let z = 0;
    const off = i * PIXELS_PER_IMAGE;
    for (let p = 0; p < PIXELS_PER_IMAGE; p++) {
      const v = images[off + p]!;
      s += v;
      sumSq += v * v;
      if (v < NEAR_ZERO_THRESHOLD) z++;
    }
    sum += s;
    nearZero += z;
    const m = s / PIXELS_PER_IMAGE / 255;
    const zs = z / PIXELS_PER_IMAGE;
    mSum += m;
    mSq += m * m;
    zSum += zs;
    zSq += zs * zs;
  }
  const n = count * PIXELS_PER_IMAGE;
  const mean = sum / n;
  const std = Math.sqrt(Math.max(0, sumSq / n - mean * mean));
  const std1 = (s: number, sq: number) => Math.sqrt(Math.max(0, sq / count - (s / count) ** 2));
  return {
    pixelMean: round(mean / 255),
    pixelStd: round(std / 255),
    nearZeroShare: round(nearZero / n),
    imageMeanStd: round(std1(mSum, mSq)),
    imageNearZeroStd: round(std1(zSum, zSq)),
  };
}

export function classDistribution(labels: Uint8Array): number[] {
  const c = new Array<number>(K).fill(0);
  for (const y of labels) c[y]!++;
  return c.map((v) => round(v / labels.length));
}

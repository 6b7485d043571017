/**
 * Temperature scaling (Guo et al., 2017): one scalar T divides the logits, fitted on the photo
 * validation split by minimising the log-loss of the served confidence (`answerNll`: the top-1
 * probability against whether the top-1 class is in the label's set). The model's last layer is dense+softmax,
 * so dividing its kernel and bias by T gives exactly softmax(z/T): serving (tfjs, the ONNX export,
 * every engine) stays unchanged. The shape one T cannot fix is left to the map of the served
 * confidence fitted after it (confidence-map.ts, `fitServedConfidenceMap`).
 */
import { NUM_CLASSES, type ConfidenceMap } from '@refund-vision/shared';
import { fitConfidenceMap } from './confidence-map.ts';
import { tf } from './engine.ts';
import { argmaxRow } from './metrics.ts';
import { answerNll, setCorrect, type LabelledPhoto } from './photo-metrics.ts';

/** softmax(log p / T) row by row: the probabilities a model with logits z/T would give. */
export function applyTemperature(probs: Float32Array, t: number, k = NUM_CLASSES): Float32Array {
  const out = new Float32Array(probs.length);
  for (let r = 0; r < probs.length / k; r++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, Math.log(Math.max(probs[r * k + c]!, 1e-30)) / t);
    let sum = 0;
    for (let c = 0; c < k; c++) {
      const e = Math.exp(Math.log(Math.max(probs[r * k + c]!, 1e-30)) / t - max);
      out[r * k + c] = e;
      sum += e;
    }
    for (let c = 0; c < k; c++) out[r * k + c]! /= sum;
  }
  return out;
}

/**
 * The T in [0.25, 8] minimising the log-loss of the answer's confidence over the in-scope photos.
 * Why not the set-valued log-loss training uses: it is content with a Longsleeve's probability
 * spread over T-shirt / Pullover / Shirt, so the top-1 probability it leaves undersells answers
 * that are right (committed model: photo ECE 0.053 fitted that way, 0.045 this way). That loss need
 * not be unimodal in T (the top-1 class can change with T), so a grid on log T finds the basin and a
 * golden-section search refines it.
 */
export function fitTemperature(probs: Float32Array, photos: readonly LabelledPhoto[]): number {
  const f = (logT: number) => answerNll(applyTemperature(probs, Math.exp(logT)), photos);
  const lo = Math.log(0.25);
  const hi = Math.log(8);
  const steps = 40;
  const at = (i: number) => lo + ((hi - lo) * i) / steps;
  let bestI = 0;
  let bestF = Infinity;
  for (let i = 0; i <= steps; i++) {
    const v = f(at(i));
    if (v < bestF) [bestI, bestF] = [i, v];
  }
  let a = at(Math.max(bestI - 1, 0));
  let b = at(Math.min(bestI + 1, steps));
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let i = 0; i < 30; i++) {
    if (fc < fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  return Math.round(Math.exp((a + b) / 2) * 1e4) / 1e4;
}

/**
 * Divides the last dense layer's kernel and bias by T (in place): logits z become z/T. With a label
 * head (label-head.ts) only the ten answer columns: T is fitted to the answers.
 */
export function foldTemperature(model: tf.LayersModel, t: number): void {
  const last = model.layers[model.layers.length - 1]!;
  if (last.getClassName() !== 'Dense') throw new Error(`foldTemperature: the last layer is ${last.getClassName()}, not Dense`);
  const act = (last.getConfig() as { activation?: string }).activation;
  if (act !== 'softmax') throw new Error(`foldTemperature: the last layer's activation is ${act}, not softmax`);
  const width = (last.getConfig() as { units: number }).units;
  const scale = Float32Array.from({ length: width }, (_, c) => (c < NUM_CLASSES ? 1 / t : 1));
  const scaled = tf.tidy(() => last.getWeights().map((w) => w.mul(tf.tensor1d(scale))));
  last.setWeights(scaled);
  tf.dispose(scaled);
}

/** The confidence map (confidence-map.ts) fitted on in-scope photos: top-1 probability vs top-1 in the label set. */
export function fitServedConfidenceMap(probs: Float32Array, photos: readonly LabelledPhoto[]): ConfidenceMap {
  const top1: number[] = [];
  const correct: boolean[] = [];
  const classes: number[] = [];
  photos.forEach((p, i) => {
    if (p.outOfScope) return;
    const { index, value } = argmaxRow(probs, i);
    top1.push(value);
    classes.push(index);
    correct.push(setCorrect(probs, i, p));
  });
  return fitConfidenceMap(top1, correct, classes);
}

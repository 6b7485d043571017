/**
 * Platt scaling of the served confidence, on top of the temperature (calibration.ts). One
 * temperature can only make every answer more or less sure; on real photos the shape is off too:
 * after T, answers at 20–50 % are right 48–66 % of the time (labels such as Longsleeve accept
 * three classes, so the top-1 probability undersells them) while the surest answers are a little
 * overconfident. p' = σ(a·logit p + b) on the top-1 probability fixes both ends with two numbers.
 * Measured on the committed ensemble across 2-fold sender splits (5 shuffles): out-of-fold photo
 * ECE 0.066 against 0.073 for the temperature alone, better in 8 of 10 folds. With a pair per
 * answered class (fitConfidenceMap's `classes`), the review thresholds that keep 95 % out of fold
 * auto-accept 44.0 % of in-scope photos instead of 40.9 % (f63234418057, uncapped split, aim 97 %):
 * the map ranks a Coat answer below a Trouser answer of the same softmax.
 *
 * Pure arithmetic (no TensorFlow.js): the classifier applies it after every engine.
 */
import { NUM_CLASSES, type ConfidenceMap } from '@refund-vision/shared';

const LOGIT_LIMIT = 16;
const logit = (p: number) => Math.min(LOGIT_LIMIT, Math.max(-LOGIT_LIMIT, Math.log(p / (1 - p))));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** The mapped top-1 probability of an answer of class `cls` (the class's own a, b when the map has them). */
export function mapTop1(p: number, map: ConfidenceMap, cls?: number): number {
  const m = (cls !== undefined && map.perClass?.[cls]) || map;
  return sigmoid(m.a * logit(p) + m.b);
}

/**
 * Each row's top-1 probability p becomes p' = mapTop1(p); the other classes are scaled by
 * (1 − p')/(1 − p), so the row still sums to 1 and keeps its order (p' is held just above what the
 * runner-up becomes). In place; returns `probs`.
 */
export function applyConfidenceMap(probs: Float32Array, map: ConfidenceMap, k = NUM_CLASSES): Float32Array {
  for (let r = 0; r < probs.length / k; r++) {
    const o = r * k;
    let top = 0;
    let p1 = -1;
    let p2 = 0;
    for (let c = 0; c < k; c++) {
      const v = probs[o + c]!;
      if (v > p1) {
        p2 = Math.max(p1, 0);
        p1 = v;
        top = c;
      } else if (v > p2) p2 = v;
    }
    const rest = 1 - p1;
    let q = mapTop1(p1, map, top);
    if (rest > 1e-9) {
      // the runner-up becomes p2·(1 − q)/rest; it must stay below q
      const ratio = p2 / rest;
      q = Math.max(q, ratio / (1 + ratio) + 1e-6);
      const scale = (1 - q) / rest;
      for (let c = 0; c < k; c++) if (c !== top) probs[o + c]! *= scale;
    } else {
      // the model gave everything to one class: share what the map takes from it evenly
      for (let c = 0; c < k; c++) if (c !== top) probs[o + c] = (1 - q) / (k - 1);
    }
    probs[o + top] = q;
  }
  return probs;
}

type Platt = { a: number; b: number };

/**
 * The a, b maximising the likelihood of `correct` given σ(a·logit p + b) (logistic regression on one
 * feature, Newton's method), less `shrink`·|(a, b) − toward|²/2. a is kept positive, so the map never
 * reverses the order of confidences.
 */
function fitPlatt(x: Float64Array, y: Float64Array, toward: Platt, shrink: number): Platt {
  const n = x.length;
  let { a, b } = toward;
  // a whisker of ridge keeps the Hessian invertible when every answer is right (or wrong)
  const ridge = shrink + 1e-6 * n;
  for (let it = 0; it < 50; it++) {
    let ga = ridge * (a - toward.a);
    let gb = ridge * (b - toward.b);
    let haa = ridge;
    let hab = 0;
    let hbb = ridge;
    for (let i = 0; i < n; i++) {
      const p = sigmoid(a * x[i]! + b);
      const d = p - y[i]!;
      const w = p * (1 - p);
      ga += d * x[i]!;
      gb += d;
      haa += w * x[i]! * x[i]!;
      hab += w * x[i]!;
      hbb += w;
    }
    const det = haa * hbb - hab * hab;
    if (!(det > 0)) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    a = Math.max(a - da, 0.05);
    b -= db;
    if (Math.abs(da) + Math.abs(db) < 1e-9) break;
  }
  return { a: Math.round(a * 1e4) / 1e4, b: Math.round(b * 1e4) / 1e4 };
}

/**
 * Per-class pairs are pulled towards the shared one with this weight (in answers' worth): a class
 * answered a few times keeps about the shared map. Chosen by sender cross-validation on the
 * committed ensemble's validation answers (5, 20, 80 tried; 20 kept the most answers at the same
 * out-of-fold accuracy).
 */
export const PER_CLASS_SHRINK = 20;

/**
 * Fits the map. With `classes` (each answer's class), every class also gets its own a, b, shrunk to
 * the shared ones: on real photos a Coat answer at 0.9 is right less often than a Trouser answer at
 * 0.9 (hanging long sleeves look like Fashion-MNIST coats), which one pair cannot say.
 */
export function fitConfidenceMap(
  top1: ArrayLike<number>,
  correct: ArrayLike<boolean | number>,
  classes?: ArrayLike<number>,
): ConfidenceMap {
  const n = top1.length;
  if (n === 0 || n !== correct.length) throw new Error(`fitConfidenceMap: ${n} confidences for ${correct.length} outcomes`);
  if (classes && classes.length !== n) throw new Error(`fitConfidenceMap: ${n} confidences for ${classes.length} classes`);
  const x = Float64Array.from(top1, (p) => logit(p));
  const y = Float64Array.from(correct as ArrayLike<number>, (v) => (v ? 1 : 0));
  const shared = fitPlatt(x, y, { a: 1, b: 0 }, 0);
  if (!classes) return { method: 'platt-top1', ...shared };
  const perClass = Array.from({ length: NUM_CLASSES }, (_, c) => {
    const rows = Array.from({ length: n }, (_, i) => i).filter((i) => classes[i] === c);
    return rows.length
      ? fitPlatt(
          Float64Array.from(rows, (i) => x[i]!),
          Float64Array.from(rows, (i) => y[i]!),
          shared,
          PER_CLASS_SHRINK,
        )
      : shared;
  });
  return { method: 'platt-top1', ...shared, perClass };
}

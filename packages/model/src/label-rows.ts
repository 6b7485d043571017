/**
 * The served rows of a net with a label head (label-head.ts), without TensorFlow.js: the classifier
 * splits them on the ONNX path too, which must not load tfjs.
 */
import { NUM_CLASSES } from '@refund-vision/shared';

const EPS = 1e-7;

/**
 * Rows of N×(10 + L) served probabilities → the N×10 answers (each row's first part renormalised)
 * and the N×L label probabilities; N×10 rows are returned as they are, with no labels.
 */
export function splitRows(probs: Float32Array, n: number): { answers: Float32Array; labels: Float32Array | null; width: number } {
  const width = n ? probs.length / n : NUM_CLASSES;
  if (!Number.isInteger(width) || width < NUM_CLASSES) throw new Error(`${probs.length} probabilities for ${n} images`);
  if (width === NUM_CLASSES) return { answers: probs, labels: null, width };
  const L = width - NUM_CLASSES;
  const answers = new Float32Array(n * NUM_CLASSES);
  const labels = new Float32Array(n * L);
  for (let r = 0; r < n; r++) {
    const row = probs.subarray(r * width, (r + 1) * width);
    let sa = 0;
    let sl = 0;
    for (let c = 0; c < NUM_CLASSES; c++) sa += row[c]!;
    for (let c = NUM_CLASSES; c < width; c++) sl += row[c]!;
    for (let c = 0; c < NUM_CLASSES; c++) answers[r * NUM_CLASSES + c] = row[c]! / Math.max(sa, EPS);
    for (let c = 0; c < L; c++) labels[r * L + c] = row[NUM_CLASSES + c]! / Math.max(sl, EPS);
  }
  return { answers, labels, width };
}

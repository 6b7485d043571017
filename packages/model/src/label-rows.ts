/**
 * The served rows of a net with a label head (label-head.ts), without TensorFlow.js: the classifier
 * splits them on the ONNX path too, which must not load tfjs.
 */
import { NUM_CLASSES } from '@refund-vision/shared';

const EPS = 1e-7;

/**
 * Rows of N×(10 + L) served probabilities → the N×10 answers, each row's first part renormalised;
 * N×10 rows are returned as they are. (The label part is for the review score, not built yet.)
 */
export function answerRows(probs: Float32Array, n: number): Float32Array {
  const width = n ? probs.length / n : NUM_CLASSES;
  if (!Number.isInteger(width) || width < NUM_CLASSES) throw new Error(`${probs.length} probabilities for ${n} images`);
  if (width === NUM_CLASSES) return probs;
  const answers = new Float32Array(n * NUM_CLASSES);
  for (let r = 0; r < n; r++) {
    const row = probs.subarray(r * width, r * width + NUM_CLASSES);
    const sum = Math.max(
      row.reduce((s, v) => s + v, 0),
      EPS,
    );
    for (let c = 0; c < NUM_CLASSES; c++) answers[r * NUM_CLASSES + c] = row[c]! / sum;
  }
  return answers;
}

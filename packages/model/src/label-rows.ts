/**
 * The served rows of a net with a label head (label-head.ts), without TensorFlow.js: the classifier
 * splits them on the ONNX path too, which must not load tfjs.
 */
import { NUM_CLASSES } from '@refund-vision/shared';

const EPS = 1e-7;

/** A batch's answers (N×10) and, from a net with a label head, its label probabilities (N×L). */
export interface ServedRows {
  probs: Float32Array;
  labels?: Float32Array;
}

function widthOf(probs: Float32Array, n: number): number {
  const width = n ? probs.length / n : NUM_CLASSES;
  if (!Number.isInteger(width) || width < NUM_CLASSES) throw new Error(`${probs.length} probabilities for ${n} images`);
  return width;
}

/** Columns [from, to) of each row, renormalised to sum to 1 (each part of the one softmax is its own). */
function part(probs: Float32Array, n: number, width: number, from: number, to: number): Float32Array {
  const k = to - from;
  const out = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    const row = probs.subarray(r * width + from, r * width + to);
    const sum = Math.max(
      row.reduce((s, v) => s + v, 0),
      EPS,
    );
    for (let c = 0; c < k; c++) out[r * k + c] = row[c]! / sum;
  }
  return out;
}

/** Rows of N×(10 + L) → the answers and the label probabilities, each part renormalised. */
export function splitRows(probs: Float32Array, n: number): ServedRows {
  const width = widthOf(probs, n);
  if (width === NUM_CLASSES) return { probs };
  return { probs: part(probs, n, width, 0, NUM_CLASSES), labels: part(probs, n, width, NUM_CLASSES, width) };
}

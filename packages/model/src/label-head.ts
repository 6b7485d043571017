/**
 * The label head's shape (packages/model/README.md, "a head that names the photo's label"): a net
 * that also names the photo's label ends in ONE softmax over the 10 answer classes followed by its L
 * labels. Engines, the ONNX export, mirror averaging and an ensemble's logit average handle it as
 * they handle 10 columns; the answer is the first part renormalised.
 */
import { NUM_CLASSES } from '@refund-vision/shared';
import { tf } from './engine.ts';

const EPS = 1e-7;

/** How many label columns a model's output has after the 10 answer classes (0: no label head). */
export function labelColumns(model: tf.LayersModel): number {
  const width = model.outputs[0]!.shape.at(-1);
  if (typeof width !== 'number' || width < NUM_CLASSES)
    throw new Error(`the model's output has ${width} columns, fewer than ${NUM_CLASSES}`);
  return width - NUM_CLASSES;
}

/**
 * A model with a label head (the photo's label: T-Shirt, Longsleeve, Shoes, Hat ...; see
 * packages/model/README.md, "a head that names the photo's label") ends in ONE softmax over the 10
 * answer classes followed by the L labels. Each part renormalised is exactly the softmax of its own
 * logits, so engines, mirror averaging and the ensemble's logit average serve it unchanged; the two
 * parts' relative mass gets no gradient from either loss, so it does not drift in training.
 */
export function splitHeads(probs: tf.Tensor2D): { answers: tf.Tensor2D; labels: tf.Tensor2D | null } {
  const width = probs.shape[1];
  if (width === NUM_CLASSES) return { answers: probs, labels: null };
  return tf.tidy(() => {
    const renorm = (t: tf.Tensor2D) => tf.div(t, tf.sum(t, 1, true).clipByValue(EPS, Infinity)) as tf.Tensor2D;
    const [a, l] = tf.split(probs, [NUM_CLASSES, width - NUM_CLASSES], 1) as [tf.Tensor2D, tf.Tensor2D];
    return { answers: renorm(a), labels: renorm(l) };
  });
}

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

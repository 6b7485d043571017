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

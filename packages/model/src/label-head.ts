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
 * The same net with `labels` more output columns: every layer keeps its weights, the last Dense gets
 * new columns (small seeded random kernel, zero bias) that start as a near-uniform label softmax.
 */
export async function withLabelHead(model: tf.LayersModel, labels: number, seed: number): Promise<tf.LayersModel> {
  if (labelColumns(model) !== 0) throw new Error('withLabelHead: the net already has a label head');
  const topology = JSON.parse(model.toJSON(null, true) as string) as {
    config: { layers: { class_name: string; config: { units?: number } }[] };
  };
  const layers = topology.config.layers;
  const last = layers[layers.length - 1]!;
  if (last.class_name !== 'Dense') throw new Error(`withLabelHead: the last layer is ${last.class_name}, not Dense`);
  last.config.units = NUM_CLASSES + labels;
  const wide = await tf.models.modelFromJSON({ modelTopology: topology } as unknown as tf.io.ModelJSON);
  model.layers.forEach((layer, i) => {
    if (i < model.layers.length - 1) return wide.layers[i]!.setWeights(layer.getWeights());
    const [kernel, bias] = layer.getWeights() as [tf.Tensor2D, tf.Tensor1D];
    const grown = tf.tidy(() => [
      tf.concat([kernel, tf.randomNormal([kernel.shape[0], labels], 0, 0.01, 'float32', seed)], 1),
      tf.concat([bias, tf.zeros([labels])]),
    ]);
    wide.layers[i]!.setWeights(grown);
    tf.dispose(grown);
  });
  return wide;
}

/**
 * One training batch as flat arrays: pixels, the label-set mask and the weights of the two loss
 * terms (see set-loss.ts). With `shared`, the arrays live on SharedArrayBuffers, so the worker
 * replicas (replicas.ts) read the batch the main thread assembled without a copy per step.
 */
import { NUM_CLASSES, PIXELS_PER_IMAGE } from '@refund-vision/shared';
import { tf } from './engine.ts';
import { splitHeads } from './label-head.ts';
import { labelHeadLoss, setValuedLoss, type SetLossMode } from './set-loss.ts';

export interface Batch {
  x: Float32Array;
  mask: Float32Array;
  setW: Float32Array;
  uniW: Float32Array;
  /** Labels of the model's label head (0: no head); then one-hot rows of that width and their weights. */
  labels: number;
  labelMask: Float32Array;
  labelW: Float32Array;
}

export function newBatch(bs: number, shared = false, labels = 0): Batch {
  const f32 = (n: number) => (shared ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float32Array(n));
  return {
    x: f32(bs * PIXELS_PER_IMAGE),
    mask: f32(bs * NUM_CLASSES),
    setW: f32(bs),
    uniW: f32(bs),
    labels,
    labelMask: f32(bs * labels),
    labelW: f32(labels ? bs : 0),
  };
}

/**
 * The training loss of rows [lo, hi) of `batch` through `model`, times `scale` (a worker's share of
 * the whole batch): what the in-thread step and every worker replica differentiate. A model with a label
 * head (10 + L columns, label-head.ts splitHeads) adds the label head's loss on the rows that have a label. Call it inside
 * the gradient function (optimizer.minimize, tf.variableGrads), which disposes the tensors it makes.
 */
export function batchLoss(model: tf.LayersModel, batch: Batch, lo: number, hi: number, mode: SetLossMode, scale = 1): tf.Scalar {
  const k = hi - lo;
  // copies: the main thread rewrites the batch (shared memory with replicas) for the next step
  const xs = tf.tensor4d(batch.x.slice(lo * PIXELS_PER_IMAGE, hi * PIXELS_PER_IMAGE), [k, 28, 28, 1]);
  const mask = tf.tensor2d(batch.mask.slice(lo * NUM_CLASSES, hi * NUM_CLASSES), [k, NUM_CLASSES]);
  const setW = tf.tensor1d(batch.setW.slice(lo, hi));
  const uniW = tf.tensor1d(batch.uniW.slice(lo, hi));
  const out = model.apply(xs, { training: true }) as tf.Tensor2D;
  if (out.shape[1] !== NUM_CLASSES + batch.labels)
    throw new Error(`the model answers ${out.shape[1]} columns, the batch has ${NUM_CLASSES} classes + ${batch.labels} labels`);
  const { answers, labels } = splitHeads(out);
  let loss = setValuedLoss(answers, mask, setW, uniW, mode);
  if (labels) {
    const L = batch.labels;
    const labelMask = tf.tensor2d(batch.labelMask.slice(lo * L, hi * L), [k, L]);
    loss = tf.add(loss, labelHeadLoss(labels, labelMask, tf.tensor1d(batch.labelW.slice(lo, hi))));
  }
  return scale === 1 ? loss : (tf.mul(loss, scale) as tf.Scalar);
}

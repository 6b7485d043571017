/**
 * One training batch as flat arrays: pixels, the label-set mask and the weights of the two loss
 * terms (see set-loss.ts). With `shared`, the arrays live on SharedArrayBuffers, so the worker
 * replicas (replicas.ts) read the batch the main thread assembled without a copy per step.
 */
import { NUM_CLASSES, PIXELS_PER_IMAGE } from '@refund-vision/shared';
import { tf } from './engine.ts';
import { setValuedLoss, type SetLossMode } from './set-loss.ts';

export interface Batch {
  x: Float32Array;
  mask: Float32Array;
  setW: Float32Array;
  uniW: Float32Array;
}

export function newBatch(bs: number, shared = false): Batch {
  const f32 = (n: number) => (shared ? new Float32Array(new SharedArrayBuffer(n * 4)) : new Float32Array(n));
  return { x: f32(bs * PIXELS_PER_IMAGE), mask: f32(bs * NUM_CLASSES), setW: f32(bs), uniW: f32(bs) };
}

/**
 * The training loss of rows [lo, hi) of `batch` through `model`, times `scale` (a worker's share of
 * the whole batch): what the in-thread step and every worker replica differentiate. Call it inside
 * the gradient function (optimizer.minimize, tf.variableGrads), which disposes the tensors it makes.
 */
export function batchLoss(model: tf.LayersModel, batch: Batch, lo: number, hi: number, mode: SetLossMode, scale = 1): tf.Scalar {
  const k = hi - lo;
  // copies: the main thread rewrites the batch (shared memory with replicas) for the next step
  const xs = tf.tensor4d(batch.x.slice(lo * PIXELS_PER_IMAGE, hi * PIXELS_PER_IMAGE), [k, 28, 28, 1]);
  const mask = tf.tensor2d(batch.mask.slice(lo * NUM_CLASSES, hi * NUM_CLASSES), [k, NUM_CLASSES]);
  const setW = tf.tensor1d(batch.setW.slice(lo, hi));
  const uniW = tf.tensor1d(batch.uniW.slice(lo, hi));
  const loss = setValuedLoss(model.apply(xs, { training: true }) as tf.Tensor2D, mask, setW, uniW, mode);
  return scale === 1 ? loss : (tf.mul(loss, scale) as tf.Scalar);
}

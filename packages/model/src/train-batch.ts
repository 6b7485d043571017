/**
 * One training batch as flat arrays: pixels, the label-set mask and the weights of the two loss
 * terms (see set-loss.ts). With `shared`, the arrays live on SharedArrayBuffers, so the worker
 * replicas (replicas.ts) read the batch the main thread assembled without a copy per step.
 */
import { NUM_CLASSES, PIXELS_PER_IMAGE } from '@refund-vision/shared';

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

/** Batched tfjs inference on uint8 pixels, with every intermediate tensor freed. */
import { NUM_CLASSES, PIXELS_PER_IMAGE } from '@refund-vision/shared';
import { tf } from './engine.ts';
import { labelColumns } from './label-head.ts';

/**
 * N×784 uint8 (0–255) → N×10 probabilities (N×(10 + L) for a net with a label head), in chunks of `chunk` images. flipAverage: softmax of the
 * mean of the log-probabilities of each image and its mirror image, i.e. of their mean logits (the
 * model card's `inference.flipAverage`; the ONNX export builds the same into its graph). Several
 * nets (an ensemble's members, ensemble.ts servingNets): the mean over nets and views the same way,
 * which is the combined net's answer, as its last layer averages the members' logits.
 */
export function predictTf(
  nets: tf.LayersModel | readonly tf.LayersModel[],
  pixels: Uint8Array,
  n: number,
  chunk = 1000,
  flipAverage = false,
): Float32Array {
  if (pixels.length < n * PIXELS_PER_IMAGE)
    throw new Error(`predict: ${pixels.length} bytes for ${n} images of ${PIXELS_PER_IMAGE} pixels`);
  const models = Array.isArray(nets) ? (nets as readonly tf.LayersModel[]) : [nets as tf.LayersModel];
  if (!models.length) throw new Error('predict: no net to run');
  // 10 columns, or 10 + L with a label head (label-head.ts): averaging log-probabilities of the one
  // softmax over both parts averages each part's logits, so the parts stay two softmaxes
  const widths = models.map((m) => NUM_CLASSES + labelColumns(m));
  const width = widths[0]!;
  if (widths.some((w) => w !== width)) throw new Error(`predict: nets answer ${widths.join(', ')} columns`);
  const out = new Float32Array(n * width);
  for (let start = 0; start < n; start += chunk) {
    const m = Math.min(chunk, n - start);
    const part = pixels.subarray(start * PIXELS_PER_IMAGE, (start + m) * PIXELS_PER_IMAGE);
    const probs = tf.tidy(() => {
      const x = tf.tensor4d(
        Float32Array.from(part, (v) => v / 255),
        [m, 28, 28, 1],
      );
      if (!flipAverage && models.length === 1) return models[0]!.predict(x) as tf.Tensor;
      const input = flipAverage ? tf.concat([x, tf.reverse(x, 2)]) : x;
      // log-probabilities are the logits up to a constant per image, which the softmax cancels
      const logp = models.map((net) => tf.log(tf.maximum(net.predict(input) as tf.Tensor2D, 1e-30)));
      const views = flipAverage ? logp.flatMap((l) => tf.split(l, 2)) : logp;
      return tf.softmax(tf.addN(views).div(views.length));
    });
    out.set(probs.dataSync() as Float32Array, start * width);
    probs.dispose();
  }
  return out;
}

/** Batched tfjs inference on uint8 pixels, with every intermediate tensor freed. */
import { NUM_CLASSES, PIXELS_PER_IMAGE } from '@refund-vision/shared';
import { tf } from './engine.ts';

/**
 * N×784 uint8 (0–255) → N×10 probabilities, in chunks of `chunk` images. flipAverage: softmax of the
 * mean of the log-probabilities of each image and its mirror image, i.e. of their mean logits (the
 * model card's `inference.flipAverage`; the ONNX export builds the same into its graph).
 */
export function predictTf(model: tf.LayersModel, pixels: Uint8Array, n: number, chunk = 1000, flipAverage = false): Float32Array {
  if (pixels.length < n * PIXELS_PER_IMAGE)
    throw new Error(`predict: ${pixels.length} bytes for ${n} images of ${PIXELS_PER_IMAGE} pixels`);
  const out = new Float32Array(n * NUM_CLASSES);
  for (let start = 0; start < n; start += chunk) {
    const m = Math.min(chunk, n - start);
    const part = pixels.subarray(start * PIXELS_PER_IMAGE, (start + m) * PIXELS_PER_IMAGE);
    const probs = tf.tidy(() => {
      const x = tf.tensor4d(
        Float32Array.from(part, (v) => v / 255),
        [m, 28, 28, 1],
      );
      if (!flipAverage) return model.predict(x) as tf.Tensor;
      const both = model.predict(tf.concat([x, tf.reverse(x, 2)])) as tf.Tensor2D;
      const logp = tf.log(tf.maximum(both, 1e-30));
      const [a, b] = tf.split(logp, 2);
      return tf.softmax(tf.add(a!, b!).div(2));
    });
    out.set(probs.dataSync() as Float32Array, start * NUM_CLASSES);
    probs.dispose();
  }
  return out;
}

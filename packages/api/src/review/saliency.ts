/**
 * Occlusion saliency over the 28×28 the model saw: cover a 6×6 patch (stride 2) with background,
 * see how far the probability of the model's answer falls; a pixel's value is the mean fall over
 * the patches covering it, scaled so the largest is 1 (rises count 0). One batch of 145 images
 * through the engine: a few milliseconds at 28×28, computed on demand and cached with the item.
 */
import { IMAGE_SIZE, NUM_CLASSES, PIXELS_PER_IMAGE } from '@refund-vision/shared';

export const OCCLUSION_PATCH = 6;
export const OCCLUSION_STRIDE = 2;

export async function occlusionSaliency(
  predict: (pixels: Uint8Array, n: number) => Promise<Float32Array>,
  image: Uint8Array,
  classIndex: number,
): Promise<number[]> {
  const starts: number[] = [];
  for (let s = 0; s + OCCLUSION_PATCH <= IMAGE_SIZE; s += OCCLUSION_STRIDE) starts.push(s);
  const patches = starts.flatMap((y) => starts.map((x) => [x, y] as const));
  const n = patches.length + 1;
  const batch = new Uint8Array(n * PIXELS_PER_IMAGE);
  for (let k = 0; k < n; k++) batch.set(image, k * PIXELS_PER_IMAGE);
  patches.forEach(([x0, y0], k) => {
    const base = (k + 1) * PIXELS_PER_IMAGE;
    for (let y = y0; y < y0 + OCCLUSION_PATCH; y++) batch.fill(0, base + y * IMAGE_SIZE + x0, base + y * IMAGE_SIZE + x0 + OCCLUSION_PATCH);
  });
  const probs = await predict(batch, n);
  const original = probs[classIndex]!;
  const sum = new Float64Array(PIXELS_PER_IMAGE);
  const cover = new Float64Array(PIXELS_PER_IMAGE);
  patches.forEach(([x0, y0], k) => {
    const drop = Math.max(0, original - probs[(k + 1) * NUM_CLASSES + classIndex]!);
    for (let y = y0; y < y0 + OCCLUSION_PATCH; y++)
      for (let x = x0; x < x0 + OCCLUSION_PATCH; x++) {
        sum[y * IMAGE_SIZE + x]! += drop;
        cover[y * IMAGE_SIZE + x]! += 1;
      }
  });
  const mean = Array.from(sum, (s, i) => (cover[i] ? s / cover[i]! : 0));
  const top = Math.max(...mean);
  return mean.map((v) => (top > 0 ? Math.round((v / top) * 1000) / 1000 : 0));
}

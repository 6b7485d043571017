/** Input statistics of the pixels a run sent, summed so that runs can be compared with the training set. */
import { NEAR_ZERO_THRESHOLD } from '@refund-vision/shared';

export interface PixelStats {
  /** Σ pixel/255 */
  sum: number;
  /** Σ (pixel/255)² */
  sumSq: number;
  /** pixels below NEAR_ZERO_THRESHOLD */
  nearZero: number;
  count: number;
}

export function pixelStats(pixels: Uint8Array): PixelStats {
  // A histogram keeps the per-pixel work to one increment; the sums come from 256 bins.
  const hist = new Float64Array(256);
  const n = pixels.length;
  for (let i = 0; i < n; i++) hist[pixels[i]!]! += 1;
  let sum = 0;
  let sumSq = 0;
  let nearZero = 0;
  for (let v = 0; v < 256; v++) {
    const c = hist[v]!;
    if (!c) continue;
    const x = v / 255;
    sum += c * x;
    sumSq += c * x * x;
    if (v < NEAR_ZERO_THRESHOLD) nearZero += c;
  }
  return { sum, sumSq, nearZero, count: pixels.length };
}

/** Inference timing per engine: median ms per image at a few batch sizes, warm-up excluded. */
import { PIXELS_PER_IMAGE } from '@refund-vision/shared';
import type { Classifier } from './classifier.ts';

export interface SpeedRow {
  engine: string;
  batch: number;
  msPerImage: number;
  runs: number;
}

export async function measureSpeed(clf: Classifier, pixels: Uint8Array, batches = [1, 100, 1000], budgetMs = 1500): Promise<SpeedRow[]> {
  const rows: SpeedRow[] = [];
  for (const batch of batches) {
    if (pixels.length < batch * PIXELS_PER_IMAGE) throw new RangeError(`measureSpeed: need ${batch} images`);
    const input = pixels.subarray(0, batch * PIXELS_PER_IMAGE);
    await clf.predict(input, batch);
    await clf.predict(input, batch);
    const times: number[] = [];
    const end = performance.now() + budgetMs;
    while (times.length < 5 || (performance.now() < end && times.length < 2000)) {
      const t0 = performance.now();
      await clf.predict(input, batch);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    rows.push({ engine: clf.engine, batch, msPerImage: Math.round((times[times.length >> 1]! / batch) * 1e4) / 1e4, runs: times.length });
  }
  return rows;
}

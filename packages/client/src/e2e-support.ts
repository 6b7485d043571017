/**
 * End-to-end fixtures (tests only): the real API in-process on an ephemeral port with the committed
 * model, real Fashion-MNIST test images written as dataset-like PNGs and photo-like JPEGs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fashionTest, startTestServer, type TestServer } from '@refund-vision/api/test-support';
import { datasetPng, item, photoImage } from '@refund-vision/preprocess/test-images';
import type { StoredPrediction } from '@refund-vision/api';

export { fashionTest, startTestServer, type TestServer };

export interface ImageSpec {
  /** Path relative to the folder. */
  name: string;
  /** Fashion-MNIST test index. */
  index: number;
  kind: 'dataset' | 'photo';
}

/** Writes the images; returns their true labels by name. */
export async function writeImages(dir: string, specs: ImageSpec[]): Promise<Map<string, number>> {
  const ds = await fashionTest();
  const labels = new Map<string, number>();
  for (const s of specs) {
    const x = item(ds.images, s.index);
    const buf = s.kind === 'dataset' ? await datasetPng(x, 112) : await photoImage(x, { seed: s.index, itemSide: 160 });
    mkdirSync(dirname(join(dir, s.name)), { recursive: true });
    writeFileSync(join(dir, s.name), buf);
    labels.set(s.name, ds.labels[s.index]!);
  }
  return labels;
}

/** Every prediction the API stored for a run, across pages. */
export function storedPredictions(api: TestServer, runKey: string): StoredPrediction[] {
  const run = api.store.getRunByKey(runKey);
  if (!run) return [];
  const out: StoredPrediction[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = api.store.runPredictions(run.id, { limit: 1000, cursor });
    out.push(...page.items);
    if (!page.nextCursor) return out;
    cursor = page.nextCursor;
  }
}

/** A JPEG whose header declares 60000×60000 pixels (a decompression bomb's calling card). */
export async function hugeJpegHeader(): Promise<Buffer> {
  const { requireSharp } = await import('@refund-vision/preprocess/test-images');
  const sharp = await requireSharp();
  const buf = await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 200, g: 200, b: 200 } } })
    .jpeg()
    .toBuffer();
  for (let i = 2; i < buf.length - 9; i++) {
    if (buf[i] === 0xff && buf[i + 1]! >= 0xc0 && buf[i + 1]! <= 0xc2) {
      buf.writeUInt16BE(60000, i + 5);
      buf.writeUInt16BE(60000, i + 7);
      return buf;
    }
  }
  throw new Error('no SOF marker');
}

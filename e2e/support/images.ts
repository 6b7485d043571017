/**
 * Image files for end-to-end runs: Fashion-MNIST test items written as dataset-like PNGs or
 * photo-like JPEGs, and a decompression bomb's header. The builders are the preprocess package's
 * own test fixtures, imported by path: one copy of each fixture, and no test code in any package's
 * exports (e2e/ is the one place that spans packages).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { datasetPng, fashionMnist, item, photoImage, requireSharp, rng } from '../../packages/preprocess/src/test-images.ts';
import { fashionTest } from './api.ts';

export { datasetPng, fashionMnist, item, photoImage, requireSharp, rng };

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

/** A JPEG whose header declares 60000×60000 pixels (a decompression bomb's calling card). */
export async function hugeJpegHeader(): Promise<Buffer> {
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

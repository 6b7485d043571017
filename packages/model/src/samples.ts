/** Writes Fashion-MNIST test images as PNG files plus labels.csv, to fill an inbox for a demo run. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLASS_NAMES, PIXELS_PER_IMAGE } from '@refund-vision/shared';
import { loadFashionMnist } from './fashion-mnist.ts';
import { encodeGrayPng } from './png.ts';

export interface SampleFile {
  file: string;
  index: number;
  label: number;
}

/** Test images `offset .. offset+count-1` → <out>/test-NNNNN.png and <out>/labels.csv (file,label). */
export async function writeSamples(opts: { out: string; count: number; offset?: number }): Promise<SampleFile[]> {
  const test = await loadFashionMnist('test');
  const offset = opts.offset ?? 0;
  if (offset < 0 || offset + opts.count > test.count)
    throw new RangeError(`samples: images ${offset}..${offset + opts.count - 1} are outside the ${test.count} test images`);
  mkdirSync(opts.out, { recursive: true });
  const written: SampleFile[] = [];
  for (let i = offset; i < offset + opts.count; i++) {
    const file = `test-${String(i).padStart(5, '0')}.png`;
    writeFileSync(join(opts.out, file), encodeGrayPng(test.images.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE), 28, 28));
    written.push({ file, index: i, label: test.labels[i]! });
  }
  const csv = ['file,label', ...written.map((s) => `${s.file},${CLASS_NAMES[s.label]}`)].join('\n');
  writeFileSync(join(opts.out, 'labels.csv'), `${csv}\n`);
  return written;
}

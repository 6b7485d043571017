/**
 * The point of preprocessing: a photo of an item, or an upscaled dataset image, must classify as
 * well as the dataset's own 28×28. Real model, real images built from Fashion-MNIST test items.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '@refund-vision/shared';
import { loadClassifier, type Classifier, type FashionMnist } from '@refund-vision/model';
import { preprocessImage } from '@refund-vision/preprocess';
import { datasetPng, fashionMnist, item, photoImage, requireSharp, rng } from './support/images.ts';

const N = 300;

function argmax(p: Float32Array, i: number): number {
  let best = 0;
  for (let k = 1; k < 10; k++) if (p[i * 10 + k]! > p[i * 10 + best]!) best = k;
  return best;
}

async function accuracy(model: Classifier, pixels: Uint8Array, labels: number[]): Promise<number> {
  const p = await model.predict(pixels, labels.length);
  return labels.filter((l, i) => argmax(p, i) === l).length / labels.length;
}

describe('preprocess: classification accuracy with the real model', function () {
  // 600 real decodes per test: minutes on a machine shared by other work, seconds on a quiet one.
  this.timeout(600_000);
  let test: FashionMnist;
  let model: Classifier;
  const picks = Array.from({ length: N }, (_, i) => (i * 7919 + 13) % 10000);
  let labels: number[];
  let rawAcc: number;

  before(async function () {
    const dir = join(projectRoot(), 'models', 'fashion-cnn');
    const t = await fashionMnist('test');
    if (!t || !existsSync(join(dir, 'model.json'))) {
      console.log('      (skipped: needs the Fashion-MNIST test files and models/fashion-cnn)');
      this.skip();
    }
    test = t!;
    await requireSharp();
    model = await loadClassifier({ dir });
    labels = picks.map((k) => test.labels[k]!);
    const raw = new Uint8Array(N * 784);
    picks.forEach((k, i) => raw.set(item(test.images, k), i * 784));
    rawAcc = await accuracy(model, raw, labels);
  });
  after(async () => {
    await model?.dispose();
  });

  it(`dataset-like images (761×761 RGBA PNG upscales) of ${N} test items classify as well as the raw items`, async () => {
    const pixels = new Uint8Array(N * 784);
    for (const [i, k] of picks.entries()) {
      const r = await preprocessImage(await datasetPng(item(test.images, k)));
      expect(r.kind).to.equal('dataset');
      pixels.set(r.pixels, i * 784);
    }
    const acc = await accuracy(model, pixels, labels);
    console.log(
      `      raw 28×28: ${(rawAcc * 100).toFixed(1)}%, dataset-like PNGs: ${(acc * 100).toFixed(1)}% (${N} test images, engine ${model.engine})`,
    );
    expect(acc).to.be.at.least(rawAcc - 0.01);
  });

  it(`photo-like JPEGs (light noisy ground, off-centre, any aspect, some EXIF-rotated, some unevenly lit) of ${N} test items classify close to the raw items`, async () => {
    const pixels = new Uint8Array(N * 784);
    const r = rng(4242);
    for (const [i, k] of picks.entries()) {
      const orientation = ([1, 1, 1, 3, 6, 8] as const)[Math.floor(r() * 6)]!;
      const lighting = r() < 0.33 ? { amount: 20 + r() * 40, angle: r() * 2 * Math.PI } : undefined;
      const jpg = await photoImage(item(test.images, k), { seed: k, orientation, quality: 80 + Math.floor(r() * 16), lighting });
      const out = await preprocessImage(jpg);
      expect(out.kind).to.equal('photo');
      pixels.set(out.pixels, i * 784);
    }
    const acc = await accuracy(model, pixels, labels);
    console.log(
      `      raw 28×28: ${(rawAcc * 100).toFixed(1)}%, photo-like JPEGs: ${(acc * 100).toFixed(1)}% (${N} test images, engine ${model.engine})`,
    );
    expect(acc).to.be.at.least(rawAcc - 0.05);
  });
});

import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { defaultFormats } from 'jimp';
import { preprocessImage, type Preprocessed } from './index.ts';
import {
  correlation,
  datasetPng,
  fashionMnist,
  item,
  maxAbsDiff,
  meanAbsDiff,
  photoImage,
  photoRaster,
  requireSharp,
  samplesDir,
} from './test-images.ts';
import type { FashionMnist } from '@refund-vision/model';

const DECODERS = ['sharp', 'jimp'] as const;

/** sharp and jimp must agree on the 28×28 within this mean / max absolute difference. */
function expectSame(a: Preprocessed, b: Preprocessed, what: string, mean = 1, max = 12): void {
  expect(meanAbsDiff(a.pixels, b.pixels), `${what}: mean |Δ|`).to.be.below(mean);
  expect(maxAbsDiff(a.pixels, b.pixels), `${what}: max |Δ|`).to.be.at.most(max);
}

describe('preprocess: pixels', function () {
  this.timeout(90000);
  let test: FashionMnist;

  before(async function () {
    const t = await fashionMnist('test');
    if (!t) {
      console.log("      (skipped: Fashion-MNIST test files not found in any of the model loader's folders)");
      this.skip();
    }
    test = t!;
    await requireSharp();
  });

  it('a dataset-like image (upscaled RGBA PNG) reproduces its 28×28 original on every decoder', async () => {
    let worst = 0;
    for (let i = 0; i < 12; i++) {
      const x = item(test.images, i * 37);
      const png = await datasetPng(x);
      const fast = await preprocessImage(png);
      expect(fast.decoder).to.equal('png-fast');
      expect(fast.kind).to.equal('dataset');
      expect([fast.width, fast.height, fast.format]).to.deep.equal([761, 761, 'png']);
      worst = Math.max(worst, meanAbsDiff(fast.pixels, x));
      for (const decoder of DECODERS) {
        const r = await preprocessImage(png, { decoder });
        expect(r.decoder).to.equal(decoder);
        expectSame(fast, r, `item ${i * 37} png-fast vs ${decoder}`, 0.5, 2);
      }
    }
    expect(worst, 'worst mean |Δ| against the original').to.be.below(1.5);
  });

  it('a photo-like JPEG (dark item, light noisy ground, off-centre, non-square) is trimmed, centred and negated', async () => {
    const correlations: number[] = [];
    for (let i = 0; i < 8; i++) {
      const x = item(test.images, 100 + i * 53);
      const jpg = await photoImage(x, { seed: i });
      const rs = await preprocessImage(jpg, { decoder: 'sharp' });
      const rj = await preprocessImage(jpg, { decoder: 'jimp' });
      expect(rs.kind).to.equal('photo');
      expect(rj.kind).to.equal('photo');
      expect(rs.format).to.equal('jpeg');
      expectSame(rs, rj, `photo ${i}`);
      // Refitting moves an item that was not exactly centred in its 28×28 by up to a pixel.
      correlations.push(correlation(rs.pixels, x));
      expect(correlations[i], `photo ${i} vs its original`).to.be.above(0.8);
      // Background becomes ~0 like the dataset's: where the original is empty with an empty
      // neighbourhood (refitting may move edges by a pixel), so is the result.
      const empty = [...Array(784).keys()].filter((k) => {
        const y = Math.floor(k / 28);
        const c = k % 28;
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if ((x[(y + dy) * 28 + c + dx] ?? 0) > 0) return false;
        return true;
      });
      const bgMean = empty.reduce((s, k) => s + rs.pixels[k]!, 0) / Math.max(1, empty.length);
      expect(bgMean, `photo ${i} background`).to.be.below(4);
      // The item spans the whole square on its longest side, as Fashion-MNIST's items do.
      const rows = [...Array(28).keys()].filter((y) => rs.pixels.subarray(y * 28, y * 28 + 28).some((v) => v > 40));
      const cols = [...Array(28).keys()].filter((c) => [...Array(28).keys()].some((y) => rs.pixels[y * 28 + c]! > 40));
      expect(Math.max(rows.length, cols.length)).to.be.at.least(26);
    }
    expect(correlations.reduce((a, b) => a + b) / correlations.length, 'mean correlation').to.be.above(0.9);
  });

  it("a large photo (2400×1800) shrunk on load by sharp agrees with jimp's full-size decode", async () => {
    const x = item(test.images, 4321);
    const jpg = await photoImage(x, { seed: 3, width: 2400, height: 1800, itemSide: 1300 });
    const rs = await preprocessImage(jpg, { decoder: 'sharp' });
    const rj = await preprocessImage(jpg, { decoder: 'jimp' });
    expect([rs.width, rs.height]).to.deep.equal([2400, 1800]);
    expectSame(rs, rj, 'large photo', 1.5, 30);
    expect(correlation(rs.pixels, x)).to.be.above(0.8);
  });

  it('uneven lighting (a ±30-level gradient, clipped on the bright side) is not mistaken for the item', async () => {
    const correlations: number[] = [];
    for (let i = 0; i < 8; i++) {
      const x = item(test.images, 2000 + i * 61);
      const jpg = await photoImage(x, { seed: i, background: 240, lighting: { amount: 60, angle: i * 0.8 } });
      const rs = await preprocessImage(jpg, { decoder: 'sharp' });
      const rj = await preprocessImage(jpg, { decoder: 'jimp' });
      expect(rs.kind).to.equal('photo');
      expectSame(rs, rj, `lit photo ${i}`);
      correlations.push(correlation(rs.pixels, x));
      expect(correlations[i], `lit photo ${i} vs its original`).to.be.above(0.75);
    }
    expect(correlations.reduce((a, b) => a + b) / correlations.length, 'mean correlation').to.be.above(0.9);
  });

  it('EXIF orientation is applied (3, 6, 8) by both decoders', async () => {
    const x = item(test.images, 7);
    const plain = await preprocessImage(await photoImage(x, { seed: 7, width: 420, height: 300, itemSide: 220 }), { decoder: 'sharp' });
    expect([plain.width, plain.height]).to.deep.equal([420, 300]);
    for (const orientation of [3, 6, 8] as const) {
      const jpg = await photoImage(x, { seed: 7, width: 420, height: 300, itemSide: 220, orientation });
      for (const decoder of DECODERS) {
        const r = await preprocessImage(jpg, { decoder });
        expect([r.width, r.height], `orientation ${orientation} ${decoder}`).to.deep.equal([420, 300]);
        expectSame(plain, r, `orientation ${orientation} ${decoder}`, 1.5, 40);
      }
    }
  });

  it('PNG, WebP, GIF, TIFF and BMP decode to the same 28×28 as the JPEG', async () => {
    const x = item(test.images, 11);
    const o = { seed: 11, width: 360, height: 280, itemSide: 200 };
    const ref = await preprocessImage(await photoImage(x, { ...o, format: 'png' }), { decoder: 'sharp' });
    const { data, width, height } = await photoRaster(x, o);
    const rgba = Buffer.alloc(width * height * 4, 255);
    for (let i = 0; i < width * height; i++) data.copy(rgba, i * 4, i * 3, i * 3 + 3);
    const bmpCodec = defaultFormats.map((f) => f()).find((c) => c.mime === 'image/bmp')!;
    const bmp = Buffer.from(await bmpCodec.encode({ data: rgba, width, height } as never));
    const inputs: [string, Buffer, number][] = [
      ['jpeg', await photoImage(x, { ...o, format: 'jpeg' }), 1],
      ['webp', await photoImage(x, { ...o, format: 'webp' }), 1.5],
      ['gif', await photoImage(x, { ...o, format: 'gif' }), 4], // 256 colours: dithered
      ['tiff', await photoImage(x, { ...o, format: 'tiff' }), 0.01],
      ['bmp', bmp, 0.01],
    ];
    for (const [format, buf, tolerance] of inputs) {
      for (const decoder of ['auto', ...DECODERS] as const) {
        const r = await preprocessImage(buf, { decoder });
        expect(r.format).to.equal(format);
        expect(r.kind).to.equal('photo');
        expect(meanAbsDiff(ref.pixels, r.pixels), `${format} via ${decoder}`).to.be.at.most(tolerance);
      }
    }
  });

  it('an animated GIF is read from its first frame by both decoders', async () => {
    const sharp = await requireSharp();
    const o = { seed: 1, width: 300, height: 260, itemSide: 200, format: 'png' as const };
    const first = await photoImage(item(test.images, 0), o);
    const second = await photoImage(item(test.images, 1), o);
    const gif = await sharp([first, second], { join: { animated: true } })
      .gif()
      .toBuffer();
    expect((await sharp(gif).metadata()).pages).to.equal(2);
    const ref = await preprocessImage(first);
    const other = await preprocessImage(second);
    for (const decoder of DECODERS) {
      const r = await preprocessImage(gif, { decoder });
      expect([r.format, r.width, r.height], decoder).to.deep.equal(['gif', 300, 260]);
      expect(meanAbsDiff(r.pixels, ref.pixels), `${decoder} vs frame 1`).to.be.below(1.5);
      expect(meanAbsDiff(r.pixels, other.pixels), `${decoder} vs frame 2`).to.be.above(10);
    }
  });

  it('a cut-out product PNG (transparent surround) is flattened onto white and treated as a photo', async () => {
    const sharp = await requireSharp();
    const x = item(test.images, 23);
    const up = await sharp(Buffer.from(x), { raw: { width: 28, height: 28, channels: 1 } })
      .resize(280, 280, { kernel: 'linear' })
      .extractChannel(0)
      .raw()
      .toBuffer();
    // Black ink whose opacity is the item's darkness; everything else fully transparent.
    const w = 400;
    const h = 320;
    const rgba = Buffer.alloc(w * h * 4);
    for (let y = 0; y < 280; y++) for (let c = 0; c < 280; c++) rgba[((y + 20) * w + c + 60) * 4 + 3] = up[y * 280 + c]!;
    const png = await sharp(rgba, { raw: { width: w, height: h, channels: 4 } })
      .png()
      .toBuffer();
    const white = await sharp(rgba, { raw: { width: w, height: h, channels: 4 } })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: 95 })
      .toBuffer();
    const ref = await preprocessImage(white, { decoder: 'sharp' });
    for (const decoder of ['auto', ...DECODERS] as const) {
      const r = await preprocessImage(png, { decoder });
      expect(r.kind).to.equal('photo');
      expectSame(ref, r, `transparent PNG via ${decoder}`, 1.5, 30);
      expect(correlation(r.pixels, x)).to.be.above(0.9);
    }
  });

  it('a small light item on a large dark backdrop is trimmed and fitted, not negated', async () => {
    const sharp = await requireSharp();
    const x = item(test.images, 31);
    const png = await sharp(Buffer.from(x), { raw: { width: 28, height: 28, channels: 1 } })
      .resize(140, 140, { kernel: 'linear' })
      .extend({ top: 150, bottom: 210, left: 300, right: 80, background: '#000000' })
      .jpeg({ quality: 92 })
      .toBuffer();
    const r = await preprocessImage(png);
    expect(r.kind).to.equal('dataset');
    expect(correlation(r.pixels, x)).to.be.above(0.9);
  });

  it('an image with nothing on it gives an empty square', async () => {
    const sharp = await requireSharp();
    for (const colour of ['#ffffff', '#000000', '#d0d4d8']) {
      const jpg = await sharp({ create: { width: 300, height: 200, channels: 3, background: colour } })
        .jpeg()
        .toBuffer();
      for (const decoder of DECODERS) {
        const r = await preprocessImage(jpg, { decoder });
        expect(Math.max(...r.pixels), `${colour} ${decoder}`).to.be.at.most(2);
      }
    }
  });
});

describe('preprocess: the old sample PNGs', function () {
  this.timeout(90000);

  it('are dataset-like, decoded by png-fast, and 179 of 195 reproduce a Fashion-MNIST image', async function () {
    const dir = samplesDir();
    const train = await fashionMnist('train');
    const test = await fashionMnist('test');
    if (!dir || !train || !test) {
      console.log('      (skipped: ../shared/data/refund-samples or the Fashion-MNIST files are not on this machine)');
      this.skip();
    }
    const files = ['G1', 'G2'].flatMap((g) => readdirSync(join(dir!, g)).map((f) => join(dir!, g, f)));
    expect(files).to.have.length(195);
    const sets = [train!, test!].map((d) => ({ d, coarse: coarse(d.images, d.count) }));
    const nearest: number[] = [];
    for (const [k, f] of files.entries()) {
      const r = await preprocessImage(f);
      expect(r.kind).to.equal('dataset');
      expect(r.decoder).to.equal('png-fast');
      if (k % 15 === 0) for (const decoder of DECODERS) expectSame(r, await preprocessImage(f, { decoder }), `${f} via ${decoder}`, 0.5, 2);
      nearest.push(Math.min(...sets.map(({ d, coarse: c }) => nearestMad(r.pixels, d, c))));
    }
    // KNOWLEDGE: 149 training + 30 test images among the samples, 16 match nothing.
    const close = nearest.filter((m) => m < 1.5).length;
    expect(close).to.equal(179);
    expect(nearest.filter((m) => m < 4).length).to.equal(179);
  });
});

/** 7×7 block sums: a cheap first filter for the nearest-image search. */
function coarse(images: Uint8Array, n: number): Int32Array {
  const c = new Int32Array(n * 49);
  for (let k = 0; k < n; k++) {
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) c[k * 49 + (y >> 2) * 7 + (x >> 2)]! += images[k * 784 + y * 28 + x]!;
  }
  return c;
}

/** Mean |Δ| to the nearest image of the split: exact distance over the 8 best coarse candidates. */
function nearestMad(p: Uint8Array, d: FashionMnist, c: Int32Array): number {
  const pc = coarse(p, 1);
  const best: [number, number][] = [];
  for (let k = 0; k < d.count; k++) {
    let s = 0;
    for (let i = 0; i < 49; i++) s += Math.abs(c[k * 49 + i]! - pc[i]!);
    if (best.length < 8 || s < best[best.length - 1]![0]) {
      best.push([s, k]);
      best.sort((a, b) => a[0] - b[0]);
      if (best.length > 8) best.pop();
    }
  }
  return Math.min(...best.map(([, k]) => meanAbsDiff(p, d.images.subarray(k * 784, k * 784 + 784))));
}

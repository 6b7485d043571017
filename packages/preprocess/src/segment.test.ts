/**
 * Segmentation of real-photo scenes: Fashion-MNIST items drawn as garments onto the backgrounds that
 * defeat a plain trim (a dark floor, a patterned bed, a wall with a hanger, a floor of the item's
 * own gray), and the real clothing photos where this machine has them.
 */
import { expect } from 'chai';
import { preprocessImage } from './index.ts';
import { clothingPhotosDir, pickPhotos, readPhotoRows } from './photo-sample.ts';
import { decodeWithSharp } from './decode-sharp.ts';
import { decodePngFast } from './png-fast.ts';
import { inspectImage } from './probe.ts';
import { colorThumb, orient, toGray } from './raster.ts';
import { segmentPhoto } from './segment.ts';
import { correlation, datasetPng, fashionMnist, item, requireSharp, rng } from './test-images.ts';
import type { FashionMnist } from '@refund-vision/model';

type Rgb = [number, number, number];

interface Scene {
  width: number;
  height: number;
  /** Background colour at (x, y). */
  background: (x: number, y: number, rand: () => number) => Rgb;
  /** The garment's colour; its darkness is shaded by the item's own pixels. */
  colour: Rgb;
  itemSide: number;
  left: number;
  top: number;
  /** Extra drawing over the finished scene (a hanger). */
  draw?: (put: (x: number, y: number, c: Rgb) => void) => void;
}

/** The scene as RGB: the upscaled item is the garment's opacity (its faint parts too), its pixels its shading. */
async function sceneRgb(x: Uint8Array, s: Scene, seed: number): Promise<Buffer> {
  const sharp = await requireSharp();
  const up = await sharp(Buffer.from(x), { raw: { width: 28, height: 28, channels: 1 } })
    .resize(s.itemSide, s.itemSide, { kernel: 'linear' })
    .extractChannel(0)
    .raw()
    .toBuffer();
  const rand = rng(seed);
  const data = Buffer.alloc(s.width * s.height * 3);
  for (let y = 0; y < s.height; y++)
    for (let xx = 0; xx < s.width; xx++) {
      const bg = s.background(xx, y, rand);
      const iy = y - s.top;
      const ix = xx - s.left;
      const v = iy >= 0 && iy < s.itemSide && ix >= 0 && ix < s.itemSide ? up[iy * s.itemSide + ix]! / 255 : 0;
      const alpha = Math.min(1, v * 4);
      const shade = 0.7 + 0.3 * v;
      for (let c = 0; c < 3; c++) data[(y * s.width + xx) * 3 + c] = Math.round(bg[c]! * (1 - alpha) + s.colour[c]! * shade * alpha);
    }
  s.draw?.((px, py, c) => {
    if (px >= 0 && py >= 0 && px < s.width && py < s.height) data.set(c, (py * s.width + px) * 3);
  });
  return data;
}

async function sceneJpeg(x: Uint8Array, s: Scene, seed: number): Promise<Buffer> {
  const sharp = await requireSharp();
  return sharp(await sceneRgb(x, s, seed), { raw: { width: s.width, height: s.height, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

/** Where the item is in the dataset's 28×28 (its visible part) and in ours. */
const silhouette = (p: Uint8Array, at: number) => Array.from(p, (v) => v > at);
function iou(a: boolean[], b: boolean[]): number {
  let both = 0;
  let either = 0;
  for (let i = 0; i < a.length; i++) {
    both += a[i] && b[i] ? 1 : 0;
    either += a[i] || b[i] ? 1 : 0;
  }
  return both / Math.max(1, either);
}

/** Rows and columns of the 28×28 with any item pixel: Fashion-MNIST's items span 28 on their long side. */
function span(p: Uint8Array): number {
  const rows = new Set<number>();
  const cols = new Set<number>();
  p.forEach((v, k) => {
    if (v > 0) [rows.add(Math.floor(k / 28)), cols.add(k % 28)];
  });
  return Math.max(rows.size, cols.size);
}

const clamp = (v: number) => Math.max(0, Math.min(255, Math.round(v)));
const noisy = (c: Rgb, rand: () => number, amount: number): Rgb => {
  const n = (rand() * 2 - 1) * amount;
  return [clamp(c[0] + n), clamp(c[1] + n), clamp(c[2] + n)];
};

const SCENES: Record<string, (seed: number) => Scene> = {
  // A black T-shirt on a dark wooden floor: boards of slightly different brown, grain noise.
  'a dark item on a dark floor': (seed) => ({
    width: 480,
    height: 400,
    itemSide: 300,
    left: 60 + (seed % 5) * 20,
    top: 50,
    colour: [22, 20, 22],
    background: (x, y, rand) => {
      const board = Math.floor(y / 37) % 3;
      return noisy([[70, 52, 40] as Rgb, [82, 60, 44] as Rgb, [62, 46, 36] as Rgb][board]!, rand, 10);
    },
  }),
  // A blue garment on a red-and-cream checked duvet.
  'an item on a patterned bed': (seed) => ({
    width: 500,
    height: 440,
    itemSide: 320,
    left: 80 + (seed % 4) * 15,
    top: 60,
    colour: [40, 70, 150],
    background: (x, y, rand) => noisy((Math.floor(x / 24) + Math.floor(y / 24)) % 2 ? [200, 60, 60] : [235, 225, 205], rand, 8),
  }),
  // A garment on a hanger against a textured light wall: the hanger's wire and hook are thin.
  'an item on a hanger': (seed) => ({
    width: 400,
    height: 500,
    itemSide: 320,
    left: 40 + (seed % 3) * 10,
    top: 150,
    colour: [150, 30, 40],
    background: (x, y, rand) => noisy([205, 200, 190], rand, 22),
    draw: (put) => {
      const cx = 200 + (seed % 3) * 10;
      const line = (x0: number, y0: number, x1: number, y1: number) => {
        for (let t = 0; t <= 1; t += 0.002)
          for (let d = -1; d <= 1; d++) put(Math.round(x0 + (x1 - x0) * t + d), Math.round(y0 + (y1 - y0) * t), [40, 40, 45]);
      };
      line(cx, 60, cx, 110); // hook
      line(cx, 110, cx - 130, 170); // shoulders of the hanger
      line(cx, 110, cx + 130, 170);
    },
  }),
  // A red garment on a gray floor of the same luma: only colour tells them apart.
  'a red item on a gray floor of the same brightness': (seed) => ({
    width: 460,
    height: 420,
    itemSide: 300,
    left: 70 + (seed % 4) * 10,
    top: 60,
    colour: [200, 40, 40], // luma ≈ 88 at full shade
    background: (x, y, rand) => noisy([92, 92, 92], rand, 14),
  }),
};

describe('preprocess: segmentation of photo scenes', function () {
  this.timeout(60000);
  let test: FashionMnist;

  before(async function () {
    const t = await fashionMnist('test');
    if (!t) {
      if (process.env.CI === 'true') throw new Error('Fashion-MNIST test files not found (CI=true: a missing dataset is a failure)');
      console.log("      (skipped: Fashion-MNIST test files not found in any of the model loader's folders)");
      this.skip();
    }
    test = t!;
    await requireSharp();
  });

  for (const [name, scene] of Object.entries(SCENES)) {
    it(`${name}: the item is found whole, fills the square, background exactly 0`, async () => {
      const ious: number[] = [];
      // Garments (T-shirt, trouser, pullover, dress, coat, shirt): the scenes draw them as such.
      const picks = [...Array(2000).keys()].filter((k) => k % 97 === 11 && [0, 1, 2, 3, 4, 6].includes(test.labels[k]!)).slice(0, 6);
      for (const [i, k] of picks.entries()) {
        const x = item(test.images, k);
        const jpg = await sceneJpeg(x, scene(i), i);
        const r = await preprocessImage(jpg, { decoder: 'sharp' });
        expect(r.kind).to.equal('photo');
        // The item is visible: bright (not a black square) and shaped like the original.
        const values = [...r.pixels].filter((v) => v > 0);
        expect(values.reduce((a, b) => a + b, 0) / values.length, `${name} ${i}: mean item level`).to.be.above(100);
        ious.push(iou(silhouette(r.pixels, 0), silhouette(x, 20)));
        expect(ious[i], `${name} ${i}: overlap with the item's silhouette`).to.be.above(0.6);
        expect(span(r.pixels), `${name} ${i}: span`).to.be.at.least(26);
        // Background exactly 0: a quarter of Fashion-MNIST's pixels are 0 even for its widest items.
        expect(r.pixels.filter((v) => v === 0).length, `${name} ${i}: zero pixels`).to.be.at.least(100);
      }
      expect(ious.reduce((a, b) => a + b) / ious.length, `${name}: mean overlap`).to.be.above(0.75);
    });
  }

  it('sharp and jimp, and EXIF-rotated copies, give the same segmentation', async () => {
    const sharp = await requireSharp();
    const x = item(test.images, 404);
    const s = SCENES['an item on a patterned bed']!(1);
    const rgb = await sceneRgb(x, s, 1);
    const upright = await preprocessImage(
      await sharp(rgb, { raw: { width: s.width, height: s.height, channels: 3 } })
        .jpeg({ quality: 92 })
        .toBuffer(),
      {
        decoder: 'sharp',
      },
    );
    for (const [orientation, stored] of [
      [1, 0],
      [3, 180],
      [6, 270],
      [8, 90],
    ] as const) {
      const jpg = await sharp(
        await sharp(rgb, { raw: { width: s.width, height: s.height, channels: 3 } })
          .rotate(stored)
          .png()
          .toBuffer(),
      )
        .withMetadata({ orientation })
        .jpeg({ quality: 92 })
        .toBuffer();
      for (const decoder of ['sharp', 'jimp'] as const) {
        const r = await preprocessImage(jpg, { decoder });
        expect(correlation(r.pixels, upright.pixels), `orientation ${orientation} via ${decoder}`).to.be.above(0.9);
      }
    }
  });

  it('an item filling the whole frame is the whole frame, not a black square', async () => {
    const sharp = await requireSharp();
    // A knitted green jumper photographed close up: its texture everywhere, border included.
    const w = 300;
    const h = 360;
    const rand = rng(5);
    const rgb = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) rgb.set(noisy([40, 110 + 20 * Math.sin(x / 9) * Math.sin(y / 7), 60], rand, 25), (y * w + x) * 3);
    const r = await preprocessImage(
      await sharp(rgb, { raw: { width: w, height: h, channels: 3 } })
        .jpeg()
        .toBuffer(),
    );
    expect(r.kind).to.equal('photo');
    // The whole frame is item: 28 rows × 23⅓ columns (300:360), centred, at or above the item's floor level.
    const inside = [...r.pixels].filter((_, k) => k % 28 >= 3 && k % 28 < 25);
    expect(Math.min(...inside)).to.be.at.least(70);
    expect(span(r.pixels)).to.equal(28);
    expect(Math.max(...r.pixels)).to.equal(255);
  });
});

describe('preprocess: colour thumbnail', () => {
  it('block-averages RGB and RGBA (alpha flattened onto white) and follows EXIF orientation', () => {
    const w = 300;
    const h = 200; // factor 3 → 100×67, the last row of blocks partial
    const rgba = new Uint8Array(w * h * 4);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) rgba.set(x < 150 ? [200, 10, 10, 255] : [0, 0, 0, y < 100 ? 0 : 255], (y * w + x) * 4);
    const t = colorThumb(rgba, w, h, 4);
    expect([t.width, t.height, t.factor]).to.deep.equal([100, 67, 3]);
    expect([t.r[0], t.g[0], t.b[0]]).to.deep.equal([200, 10, 10]);
    expect([t.r[99], t.g[99], t.b[99]]).to.deep.equal([255, 255, 255]); // transparent → white
    expect([t.r[66 * 100 + 99], t.g[66 * 100 + 99]]).to.deep.equal([0, 0]); // partial block, opaque black
    const g = toGray(rgba, w, h, 4);
    const turned = orient(g, 6); // 90° clockwise: the red left half becomes the top
    expect([turned.color!().width, turned.color!().height]).to.deep.equal([67, 100]);
    expect(turned.color!().r[5]).to.equal(200);
    expect(turned.color!().r[99 * 67 + 60]).to.equal(255); // from the transparent top right
    expect(turned.color!().r[99 * 67 + 5]).to.equal(0); // from the opaque bottom right
  });

  it('png-fast builds the same thumbnail as sharp, repeated rows and palettes included', async function () {
    const sharp = await requireSharp();
    const rand = rng(11);
    const w = 397;
    const h = 263;
    const rgba = Buffer.alloc(w * h * 4);
    for (let i = 0; i < w * h; i++) rgba.set([rand() * 255, rand() * 255, rand() * 255, i % 7 ? 255 : rand() * 255], i * 4);
    const x = new Uint8Array(784).map(() => rand() * 255);
    const pngs = [
      await sharp(rgba, { raw: { width: w, height: h, channels: 4 } })
        .png()
        .toBuffer(),
      await sharp(rgba, { raw: { width: w, height: h, channels: 4 } })
        .removeAlpha()
        .png()
        .toBuffer(),
      await sharp(rgba, { raw: { width: w, height: h, channels: 4 } })
        .png({ palette: true, colours: 200 }) // 8-bit; packed (≤ 16 colours) palettes stay gray
        .toBuffer(),
      await datasetPng(x), // 761×761, most rows repeated
    ];
    for (const [i, png] of pngs.entries()) {
      const fast = decodePngFast(png)!;
      const ref = await decodeWithSharp(sharp, png, inspectImage(png), 1e8);
      expect(fast.color!(), `png ${i}`).to.deep.equal(ref.color!());
    }
  });

  it('segmentation of a too-small image declines instead of guessing', () => {
    const g = toGray(new Uint8Array(6 * 6 * 3).fill(100), 6, 6, 3);
    expect(segmentPhoto(g)).to.equal(undefined);
  });
});

describe('preprocess: real clothing photos', function () {
  this.timeout(120000);

  it('each of 120 varied photos gives a visible, centred item that fills the square on a 0 background', async function () {
    const dir = clothingPhotosDir();
    if (!dir) {
      if (process.env.CI === 'true') throw new Error('clothing photos not found (CI=true: a missing dataset is a failure)');
      console.log('      (skipped: no clothing photos in CLOTHING_PHOTOS_DIR or ../shared/data/clothing-photos)');
      return this.skip();
    }
    const photos = pickPhotos(readPhotoRows(dir), 120, { seed: 3 });
    let filled = 0;
    let zeroBackground = 0;
    for (const p of photos) {
      const r = await preprocessImage(p.path);
      const values = [...r.pixels].filter((v) => v > 0);
      // Never an almost black square: the item is there and bright.
      expect(Math.max(...r.pixels), `${p.id} (${p.label}): brightest pixel`).to.be.above(200);
      expect(values.length, `${p.id} (${p.label}): item pixels`).to.be.above(60);
      if (span(r.pixels) >= 27) filled++;
      if (r.pixels.filter((v) => v === 0).length >= 78) zeroBackground++;
    }
    // Fashion-MNIST: every item spans the square; most have a tenth or more of exact-0 background.
    expect(filled / photos.length, 'share filling the square').to.be.at.least(0.95);
    expect(zeroBackground / photos.length, 'share with ≥ 10% background at exactly 0').to.be.at.least(0.8);
  });
});

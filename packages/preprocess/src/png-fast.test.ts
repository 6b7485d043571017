import { expect } from 'chai';
import { deflateSync } from 'node:zlib';
import { defaultFormats } from 'jimp';
import { decodePngFast } from './png-fast.ts';
import { preprocessImage } from './preprocess.ts';
import { loadSharp, decodeWithSharp } from './decode-sharp.ts';
import { inspectImage } from './probe.ts';
import { buildPng, datasetPng, photoRaster, requireSharp, rng } from './test-images.ts';

/** A photo-like RGBA raster with a patch of partial transparency, from a synthetic item. */
async function rgbaRaster(seed: number) {
  const r = rng(seed);
  const x = new Uint8Array(784).map((_, i) => {
    const y = i / 28;
    const c = i % 28;
    return (y > 4 && y < 24 && c > 6 && c < 22 ? 150 + r() * 100 : 0) | 0;
  });
  const { data, width, height } = await photoRaster(x, { seed, itemSide: 150, width: 233, height: 181 });
  const rgba = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    data.copy(rgba, i * 4, i * 3, i * 3 + 3);
    const px = i % width;
    rgba[i * 4 + 3] = px < 40 ? Math.round((px / 40) * 255) : 255; // a fade-in from the left
  }
  return { rgba, width, height };
}

/** A gray PNG with 1/2/4-bit samples (neither sharp nor pngjs writes one), Sub-filtered rows. */
function packedGrayPng(width: number, height: number, depth: number, seed: number): Buffer {
  const r = rng(seed);
  const stride = Math.ceil((width * depth) / 8);
  const rows = Buffer.alloc(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    rows[y * (stride + 1)] = 1;
    let prev = 0;
    for (let i = 0; i < stride; i++) {
      const v = Math.floor(r() * 256);
      rows[y * (stride + 1) + 1 + i] = (v - prev) & 255;
      prev = v;
    }
  }
  return buildPng({ width, height, depth, colorType: 0 }, deflateSync(rows));
}

const pngCodec = defaultFormats.map((f) => f()).find((c) => c.mime === 'image/png')!;

describe('png-fast', function () {
  this.timeout(60000);
  before(async () => {
    await requireSharp();
  });

  // pngjs writes each of the five row filters on demand, so every unfilter path runs.
  for (const colorType of [0, 2, 4, 6]) {
    for (const filterType of [0, 1, 2, 3, 4]) {
      it(`colour type ${colorType}, filter ${filterType}: the same gray raster as libvips`, async () => {
        const { rgba, width, height } = await rgbaRaster(colorType * 10 + filterType);
        const png = Buffer.from(
          await pngCodec.encode({ data: rgba, width, height } as never, { colorType, filterType, inputHasAlpha: true } as never),
        );
        const fast = decodePngFast(png);
        expect(fast, 'png-fast takes it').to.not.equal(undefined);
        const sharp = (await loadSharp())!;
        const ref = await decodeWithSharp(sharp, png, inspectImage(png), 1e8);
        expect([fast!.width, fast!.height]).to.deep.equal([ref.width, ref.height]);
        expect(Buffer.from(fast!.data).equals(Buffer.from(ref.data)), 'identical gray pixels').to.equal(true);
        const a = await preprocessImage(png);
        const b = await preprocessImage(png, { decoder: 'sharp' });
        expect(a.decoder).to.equal('png-fast');
        expect(Array.from(a.pixels)).to.deep.equal(Array.from(b.pixels));
      });
    }
  }

  for (const [colours, depth] of [
    [256, 8],
    [16, 4],
    [4, 2],
    [2, 1],
  ]) {
    it(`${depth}-bit palette PNGs with transparency (tRNS) match libvips`, async () => {
      const sharp = await requireSharp();
      const { rgba, width, height } = await rgbaRaster(99);
      const png = await sharp(rgba, { raw: { width, height, channels: 4 } })
        .png({ palette: true, colours, dither: 0 })
        .toBuffer();
      expect([png[24], png[25]], 'bit depth, colour type').to.deep.equal([depth, 3]);
      const fast = decodePngFast(png)!;
      const ref = await decodeWithSharp(sharp, png, inspectImage(png), 1e8);
      expect(Buffer.from(fast.data).equals(Buffer.from(ref.data))).to.equal(true);
    });
  }

  it('1-, 2- and 4-bit gray PNGs match libvips', async () => {
    const sharp = await requireSharp();
    for (const bitdepth of [1, 2, 4] as const) {
      const png = packedGrayPng(37, 23, bitdepth, bitdepth);
      expect([png[24], png[25]], 'bit depth, colour type').to.deep.equal([bitdepth, 0]);
      const fast = decodePngFast(png)!;
      const ref = await decodeWithSharp(sharp, png, inspectImage(png), 1e8);
      expect(Buffer.from(fast.data).equals(Buffer.from(ref.data)), `${bitdepth}-bit`).to.equal(true);
    }
  });

  it('the sample format (761×761 RGBA, rows repeated by Up filters) matches libvips', async () => {
    const x = new Uint8Array(784).map((_, i) => (i * 7919) % 256);
    const png = await datasetPng(x);
    const sharp = (await loadSharp())!;
    const fast = decodePngFast(png)!;
    const ref = await decodeWithSharp(sharp, png, inspectImage(png), 1e8);
    expect(Buffer.from(fast.data).equals(Buffer.from(ref.data))).to.equal(true);
    expect(
      fast.sameAsAbove!.reduce((a, b) => a + b, 0),
      'repeated rows found',
    ).to.be.above(700);
    // Reusing repeated rows in the fit changes nothing.
    const a = await preprocessImage(png);
    const b = await preprocessImage(png, { decoder: 'sharp' });
    expect(a.decoder).to.equal('png-fast');
    expect(Array.from(a.pixels)).to.deep.equal(Array.from(b.pixels));
  });

  it('leaves 16-bit and interlaced PNGs to the general decoders, which agree', async () => {
    const sharp = await requireSharp();
    const { rgba, width, height } = await rgbaRaster(7);
    const deep = await sharp(rgba, { raw: { width, height, channels: 4 } })
      .toColourspace('rgb16')
      .png()
      .toBuffer();
    const interlaced = await sharp(rgba, { raw: { width, height, channels: 4 } })
      .png({ progressive: true })
      .toBuffer();
    expect(deep[24], 'bit depth').to.equal(16);
    expect(interlaced[28], 'interlace method').to.equal(1);
    const plain = await preprocessImage(
      await sharp(rgba, { raw: { width, height, channels: 4 } })
        .png()
        .toBuffer(),
    );
    for (const png of [deep, interlaced]) {
      expect(decodePngFast(png)).to.equal(undefined);
      const r = await preprocessImage(png);
      expect(r.decoder).to.equal('sharp');
      const j = await preprocessImage(png, { decoder: 'jimp' });
      for (const other of [r, j]) {
        let d = 0;
        for (let i = 0; i < 784; i++) d = Math.max(d, Math.abs(other.pixels[i]! - plain.pixels[i]!));
        // pngjs rounds 16 → 8 bits differently from libvips by a level; the photo segmentation's
        // contrast stretch (this raster's border is not even) can make that 2.
        expect(d).to.be.at.most(2);
      }
    }
  });
});

/**
 * Builds real test images from Fashion-MNIST items (tests only): the dataset-like form of the old
 * samples (an upscaled RGBA PNG, light item on black) and the photo form (dark item on a light,
 * noisy, slightly tinted background, off-centre on a larger non-square canvas, JPEG, optionally
 * EXIF-rotated). Uses sharp, which the tests require to be installed.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { projectRoot, seededRandom } from '@refund-vision/shared';
import { candidateDirs, loadFashionMnist, type FashionMnist, type Split } from '@refund-vision/model';
import { loadSharp } from './decode-sharp.ts';

export async function requireSharp() {
  const sharp = await loadSharp();
  if (!sharp) throw new Error('these tests build images with sharp, which is not installed');
  return sharp;
}

/** The old system's sample PNGs beside the checkout, if this machine has them. */
export function samplesDir(): string | undefined {
  const dir = resolve(projectRoot(), '..', 'shared', 'data', 'refund-samples');
  return existsSync(dir) ? dir : undefined;
}

/**
 * A Fashion-MNIST split if this machine has the files (never downloads: tests must not depend on
 * the network); undefined otherwise, and the caller skips with a message.
 */
export async function fashionMnist(split: Split): Promise<FashionMnist | undefined> {
  const name = split === 'train' ? 'train-images-idx3-ubyte' : 't10k-images-idx3-ubyte';
  const dir = candidateDirs().find((d) => existsSync(resolve(d, name)) || existsSync(resolve(d, `${name}.gz`)));
  return dir ? loadFashionMnist(split, { dir }) : undefined;
}

export const rng = seededRandom;

export function item(images: Uint8Array, i: number): Uint8Array {
  return images.subarray(i * 784, (i + 1) * 784);
}

/** Like the old samples: 28×28 upscaled with nearest neighbour to side×side, RGBA PNG. */
export async function datasetPng(x: Uint8Array, side = 761): Promise<Buffer> {
  const sharp = await requireSharp();
  const rgb = Buffer.alloc(784 * 3);
  for (let i = 0; i < 784; i++) rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = x[i]!;
  return sharp(rgb, { raw: { width: 28, height: 28, channels: 3 } })
    .resize(side, side, { kernel: 'nearest' })
    .ensureAlpha()
    .png()
    .toBuffer();
}

export interface PhotoOptions {
  seed: number;
  /** Side of the square the 28×28 item is upscaled to. */
  itemSide?: number;
  width?: number;
  height?: number;
  /** Background luma and noise amplitude (uniform ±). */
  background?: number;
  noise?: number;
  /** 1 (none), 3, 6 or 8: the pixels are stored rotated and the EXIF tag says how to show them. */
  orientation?: 1 | 3 | 6 | 8;
  format?: 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff';
  quality?: number;
  /** Uneven lighting: brightness varies linearly by ±amount/2 levels (of 255) across the
   *  image, at `angle` radians; bright sides clip at 255 like an overexposed photo. */
  lighting?: { amount: number; angle: number };
}

/** The display raster of a photo-like image (RGB), before encoding. */
export async function photoRaster(x: Uint8Array, o: PhotoOptions): Promise<{ data: Buffer; width: number; height: number }> {
  const sharp = await requireSharp();
  const rand = rng(o.seed);
  const side = o.itemSide ?? 200 + Math.floor(rand() * 200);
  const width = o.width ?? side + 60 + Math.floor(rand() * 300);
  const height = o.height ?? side + 40 + Math.floor(rand() * 200);
  const bg = o.background ?? 225 + Math.floor(rand() * 25);
  const noise = o.noise ?? 6;
  const left = 10 + Math.floor(rand() * (width - side - 20));
  const top = 10 + Math.floor(rand() * (height - side - 20));
  const up = await sharp(Buffer.from(x), { raw: { width: 28, height: 28, channels: 1 } })
    .resize(side, side, { kernel: 'linear' })
    .extractChannel(0)
    .raw()
    .toBuffer();
  const tint = [4, 1, -6]; // a warm, not quite gray backdrop
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let xx = 0; xx < width; xx++) {
      const iy = y - top;
      const ix = xx - left;
      const d = iy >= 0 && iy < side && ix >= 0 && ix < side ? up[iy * side + ix]! / 255 : 0;
      const light = o.lighting
        ? 1 +
          (o.lighting.amount / 255) * ((xx / width - 0.5) * Math.cos(o.lighting.angle) + (y / height - 0.5) * Math.sin(o.lighting.angle))
        : 1;
      const v = (bg * (1 - d) + (rand() * 2 - 1) * noise) * light;
      const p = (y * width + xx) * 3;
      for (let c = 0; c < 3; c++) data[p + c] = Math.max(0, Math.min(255, Math.round(v + tint[c]! * (1 - d))));
    }
  }
  return { data, width, height };
}

const ROTATE_STORED: Record<number, number> = { 1: 0, 3: 180, 6: 270, 8: 90 };

export async function photoImage(x: Uint8Array, o: PhotoOptions): Promise<Buffer> {
  const sharp = await requireSharp();
  const { data, width, height } = await photoRaster(x, o);
  const orientation = o.orientation ?? 1;
  let s = sharp(data, { raw: { width, height, channels: 3 } });
  if (orientation !== 1) s = sharp(await s.rotate(ROTATE_STORED[orientation]).png().toBuffer()).withMetadata({ orientation });
  const format = o.format ?? 'jpeg';
  if (format === 'jpeg') return s.jpeg({ quality: o.quality ?? 90 }).toBuffer();
  if (format === 'png') return s.png().toBuffer();
  if (format === 'webp') return s.webp({ quality: o.quality ?? 90 }).toBuffer();
  if (format === 'gif') return s.gif().toBuffer();
  return s.tiff({ compression: 'lzw' }).toBuffer();
}

/** Pearson correlation of two 784-pixel images. */
export function correlation(a: Uint8Array, b: Uint8Array): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= a.length;
  mb /= b.length;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < a.length; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb || 1);
}

export function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

export function maxAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** A PNG from its parts (IHDR fields and an already deflated IDAT): the model package's writer. */
export { buildPng } from '@refund-vision/model';

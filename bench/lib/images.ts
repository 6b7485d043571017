/**
 * Test images for the bench, made at run time in temp folders (never copied into the repo):
 * sample-format folders of any size (the old system's 761×761 PNGs cycled, each made distinct by
 * a metadata chunk so content hashes differ while the pixels and decode work stay identical), and
 * 12-megapixel photo-like JPEGs generated with sharp.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import type { loadSharp } from '../../packages/preprocess/src/decode-sharp.ts';
import { ROOT } from './proc.ts';

const IMAGE_EXT = /\.(png|jpe?g|webp|gif|bmp|tiff?)$/i;

/** The old system's sample images: REFUND_SAMPLES_DIR, else ../shared/data/refund-samples beside the checkout. */
export function samplesDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const d of [env.REFUND_SAMPLES_DIR, resolve(ROOT, '..', 'shared', 'data', 'refund-samples')]) if (d && existsSync(d)) return d;
  return undefined;
}

export function listImages(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && IMAGE_EXT.test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** A PNG with a tEXt chunk inserted before IEND: different bytes, same pixels. */
export function tagPng(png: Uint8Array, text: string): Buffer {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const iend = buf.lastIndexOf(Buffer.from('IEND', 'latin1')) - 4;
  if (iend < 8 || buf.readUInt32BE(iend) !== 0) throw new Error('not a PNG (no IEND chunk)');
  const data = Buffer.from(`Comment\0${text}`, 'latin1');
  const chunk = Buffer.alloc(12 + data.length);
  chunk.writeUInt32BE(data.length, 0);
  chunk.write('tEXt', 4, 'latin1');
  data.copy(chunk, 8);
  chunk.writeUInt32BE(crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
  return Buffer.concat([buf.subarray(0, iend), chunk, buf.subarray(iend)]);
}

/** A JPEG with a COM segment right after SOI: different bytes, same pixels. */
export function tagJpeg(jpg: Uint8Array, text: string): Buffer {
  const buf = Buffer.from(jpg.buffer, jpg.byteOffset, jpg.byteLength);
  if (buf[0] !== 0xff || buf[1] !== 0xd8) throw new Error('not a JPEG (no SOI)');
  const data = Buffer.from(text, 'latin1');
  const seg = Buffer.alloc(4 + data.length);
  seg.writeUInt16BE(0xfffe, 0);
  seg.writeUInt16BE(data.length + 2, 2);
  data.copy(seg, 4);
  return Buffer.concat([buf.subarray(0, 2), seg, buf.subarray(2)]);
}

/**
 * Fills `dir` with `n` distinct sample-format images, cycling `sources`, in subfolders of up to
 * `perGroup` files (like the old system's G1, G2 groups). Returns the paths written.
 */
export function makeSampleFolder(dir: string, n: number, sources: string[], perGroup = 250): string[] {
  if (!sources.length) throw new Error('no source images');
  const bytes = sources.map((s) => readFileSync(s));
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = i % sources.length;
    const src = sources[k]!;
    const group = join(dir, `G${Math.floor(i / perGroup) + 1}`);
    if (i % perGroup === 0) mkdirSync(group, { recursive: true });
    const isPng = /\.png$/i.test(src);
    const p = join(group, `img${String(i).padStart(5, '0')}${isPng ? '.png' : '.jpg'}`);
    writeFileSync(p, (isPng ? tagPng : tagJpeg)(bytes[k]!, `bench copy ${i} of ${relative(dir, src)}`));
    out.push(p);
  }
  return out;
}

type Sharp = NonNullable<Awaited<ReturnType<typeof loadSharp>>>;

/**
 * `n` distinct 4000×3000 JPEGs (quality 90) that look like product photos: a light, slightly
 * uneven background, a darker garment-like shape with texture, sensor-like noise (so the JPEG is
 * as large as a real photo's, ~2–4 MB).
 */
export async function makePhotoJpegs(dir: string, n: number, sharp: Sharp, width = 4000, height = 3000): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const out: string[] = [];
  let seed = 12345;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  for (let k = 0; k < n; k++) {
    const px = Buffer.alloc(width * height * 3);
    const cx = width * (0.4 + 0.2 * rnd());
    const cy = height * (0.45 + 0.1 * rnd());
    const rx = width * (0.18 + 0.1 * rnd());
    const ry = height * (0.3 + 0.1 * rnd());
    const tint = [60 + 120 * rnd(), 40 + 100 * rnd(), 40 + 100 * rnd()];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 3;
        const dx = (x - cx) / rx;
        const dy = (y - cy) / ry;
        const inside = dx * dx + dy * dy < 1 || (Math.abs(dy) < 0.35 && Math.abs(dx) < 1.6);
        const noise = (rnd() - 0.5) * 14;
        if (inside) {
          const stripe = ((x >> 5) + (y >> 6)) & 1 ? 18 : 0;
          for (let c = 0; c < 3; c++) px[i + c] = Math.max(0, Math.min(255, tint[c]! + stripe + noise));
        } else {
          const bg = 238 - 18 * (y / height) - 8 * Math.abs(x / width - 0.5) + noise;
          px[i] = bg;
          px[i + 1] = bg;
          px[i + 2] = bg - 4;
        }
      }
    }
    const p = join(dir, `photo${k}.jpg`);
    await sharp(px, { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(p);
    out.push(p);
  }
  return out;
}

export function totalBytes(paths: string[]): number {
  return paths.reduce((a, p) => a + statSync(p).size, 0);
}

/**
 * Photos → 28×28 training arrays through exactly the preprocessing the client and the upload route
 * use (@refund-vision/preprocess, on its worker pool), so there is no train/serve skew. The result
 * is cached on disk (<root>/data/photo-cache, git-ignored) under a key made of PREPROCESS_VERSION,
 * the photos' checksums and the variant recipe, so a second run does not decode the JPEGs again.
 *
 * Variant 0 is the photo as stored. Variants 1… are augmentations that need the original image
 * (crop/scale, JPEG quality, brightness/contrast, blur), made with sharp before preprocessing;
 * flips and shifts are done later on the 28×28 arrays.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PIXELS_PER_IMAGE, projectRoot, seededRandom, type Logger } from '@refund-vision/shared';
import { createPreprocessPool, PREPROCESS_VERSION } from '@refund-vision/preprocess';
import type { Photo } from './clothing-photos.ts';

export interface PhotoArrays {
  /** Rows of 784 uint8, photo-major then variant: row i*variants+v. */
  pixels: Uint8Array;
  variants: number;
  /** Per row: 1 when preprocessing succeeded (failed rows are all zero and must be skipped). */
  ok: Uint8Array;
  failures: { id: string; variant: number; message: string }[];
  key: string;
  /** True when the arrays came from the disk cache. */
  cached: boolean;
}

/** Bump when the augmentation recipe below changes (part of the cache key). */
const VARIANT_RECIPE = 'crop-jpeg+tone-blur-1';

type SharpFactory = typeof import('sharp');

/** One augmented copy of a photo, seeded by the photo and variant so the cache is reproducible. */
async function augmentedJpeg(sharp: SharpFactory, file: string, id: string, variant: number): Promise<Buffer> {
  const seed = parseInt(createHash('sha256').update(`${id}:${variant}`).digest('hex').slice(0, 8), 16);
  const rand = seededRandom(seed);
  const u = (a: number, b: number) => a + (b - a) * rand();
  const img = sharp(file).rotate();
  const meta = await sharp(file).metadata();
  const swap = (meta.orientation ?? 1) >= 5;
  const w = (swap ? meta.height : meta.width) ?? 0;
  const h = (swap ? meta.width : meta.height) ?? 0;
  if (variant % 2 === 1) {
    // crop to 80–100 % of each side at a random offset, a smaller image, a low JPEG quality
    const cw = Math.max(8, Math.round(w * u(0.8, 1)));
    const ch = Math.max(8, Math.round(h * u(0.8, 1)));
    const left = Math.floor(rand() * (w - cw + 1));
    const top = Math.floor(rand() * (h - ch + 1));
    return img
      .extract({ left, top, width: cw, height: ch })
      .resize({ width: Math.max(32, Math.round(cw * u(0.3, 0.8))) })
      .jpeg({ quality: Math.round(u(20, 60)) })
      .toBuffer();
  }
  // brightness/contrast around mid-gray, then a blur (phone shake, focus)
  const contrast = u(0.7, 1.3);
  const brightness = u(-30, 30);
  return img
    .linear(contrast, 128 * (1 - contrast) + brightness)
    .blur(u(0.5, 1.8))
    .jpeg({ quality: 85 })
    .toBuffer();
}

/** The cache key: preprocessing version, the photos' contents, and the variant recipe. */
export function photoCacheKey(photos: readonly Photo[], variants: number): string {
  const h = createHash('sha256').update(`${PREPROCESS_VERSION}|${variants}|${variants > 1 ? VARIANT_RECIPE : ''}`);
  for (const p of photos) h.update(`|${p.id}:${p.sha256}`);
  return `${PREPROCESS_VERSION}-${h.digest('hex').slice(0, 16)}`;
}

export function photoCacheDir(): string {
  return join(projectRoot(), 'data', 'photo-cache');
}

/**
 * Preprocessed arrays for `photos` with `variants` rows each (1 = as stored). A photo that fails to
 * preprocess is recorded in `failures` and its row marked not ok; it never sinks the run.
 */
export async function photoArrays(
  photos: readonly Photo[],
  opts: { variants?: number; cacheDir?: string | false; logger?: Logger; progress?: (done: number, total: number) => void } = {},
): Promise<PhotoArrays> {
  const variants = opts.variants ?? 1;
  const key = photoCacheKey(photos, variants);
  const dir = opts.cacheDir === false ? undefined : (opts.cacheDir ?? photoCacheDir());
  const bin = dir && join(dir, `${key}.bin`);
  const meta = dir && join(dir, `${key}.json`);
  const rows = photos.length * variants;
  if (bin && meta && existsSync(bin) && existsSync(meta)) {
    const m = JSON.parse(readFileSync(meta, 'utf8')) as { ok: number[]; failures: PhotoArrays['failures'] };
    const pixels = new Uint8Array(readFileSync(bin));
    if (pixels.length === rows * PIXELS_PER_IMAGE && m.ok.length === rows)
      return { pixels, variants, ok: Uint8Array.from(m.ok), failures: m.failures, key, cached: true };
    opts.logger?.warn('photo cache entry has the wrong size; rebuilding', { key });
  }

  const pixels = new Uint8Array(rows * PIXELS_PER_IMAGE);
  const ok = new Uint8Array(rows);
  const failures: PhotoArrays['failures'] = [];
  const sharp = variants > 1 ? ((await import('sharp')).default as SharpFactory) : undefined;
  const pool = createPreprocessPool();
  let done = 0;
  let next = 0;
  const worker = async () => {
    while (next < rows) {
      const r = next++;
      const p = photos[Math.floor(r / variants)]!;
      const v = r % variants;
      try {
        const res = v === 0 ? await pool.run(p.file) : await pool.runBuffer(await augmentedJpeg(sharp!, p.file, p.id, v));
        pixels.set(res.pixels, r * PIXELS_PER_IMAGE);
        ok[r] = 1;
      } catch (e) {
        failures.push({ id: p.id, variant: v, message: (e as Error).message });
        opts.logger?.warn('photo not preprocessed', { id: p.id, variant: v, error: (e as Error).message });
      }
      done++;
      if (done % 200 === 0 || done === rows) opts.progress?.(done, rows);
    }
  };
  try {
    await Promise.all(Array.from({ length: pool.size * 2 }, worker));
  } finally {
    await pool.close();
  }
  if (bin && meta && dir) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${bin}.part`, pixels);
    writeFileSync(
      meta,
      JSON.stringify({ key, preprocess: PREPROCESS_VERSION, photos: photos.length, variants, ok: Array.from(ok), failures }),
    );
    renameSync(`${bin}.part`, bin);
  }
  return { pixels, variants, ok, failures, key, cached: false };
}

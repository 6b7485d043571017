/**
 * Preprocessing throughput, for `pnpm bench` (issue 6, point 2) and the numbers in this package's
 * README. Warm-up (worker start, codec initialisation, JIT) is excluded; the median of `repeat`
 * timed passes over all files is reported. Failed files count as processed: a run over real
 * folders meets bad files too.
 */
import { writeFile } from 'node:fs/promises';
import { loadSharp } from './decode-sharp.ts';
import { createPreprocessPool, type PreprocessPool } from './pool.ts';
import { preprocessImage, type PreprocessOptions } from './preprocess.ts';

export interface BenchOptions extends PreprocessOptions {
  files: string[];
  /** false/undefined: one thread, one image at a time. true: a pool sized to the cores; a number: that many workers; or a pool to use. */
  pool?: boolean | number | PreprocessPool;
  /** Timed passes over all files (median reported). Default 3. */
  repeat?: number;
  /** Untimed images first (JIT, codec and worker warm-up). Default min(files, 20 + 4 × pool size). */
  warmup?: number;
}

export interface BenchResult {
  images: number;
  failed: number;
  imagesPerSec: number;
  msPerImage: number;
  /** CPU time of the whole process (all threads, libvips' included) per image: what it costs
   *  regardless of how busy the machine is; wall time ≈ this ÷ cores on an idle machine. */
  cpuMsPerImage: number;
  /** 'single' or 'pool ×N'. */
  mode: string;
  /** Decoders that produced the results (png-fast, sharp, jimp) and how often, last pass. */
  decoders: Record<string, number>;
}

export async function benchPreprocess(opts: BenchOptions): Promise<BenchResult> {
  const { files, repeat = 3 } = opts;
  if (files.length === 0) throw new Error('benchPreprocess: no files');
  const own = opts.pool === true || typeof opts.pool === 'number';
  const pool: PreprocessPool | undefined =
    typeof opts.pool === 'object'
      ? opts.pool
      : own
        ? createPreprocessPool({ ...opts, size: typeof opts.pool === 'number' ? opts.pool : undefined })
        : undefined;
  try {
    let decoders: Record<string, number> = {};
    let failed = 0;
    const pass = async (list: string[]) => {
      decoders = {};
      failed = 0;
      const one = (f: string) =>
        (pool ? pool.run(f) : preprocessImage(f, opts)).then(
          (r) => void (decoders[r.decoder] = (decoders[r.decoder] ?? 0) + 1),
          () => void failed++,
        );
      if (pool) await Promise.all(list.map(one));
      else for (const f of list) await one(f);
    };
    const warm = opts.warmup ?? Math.min(files.length, 20 + 4 * (pool?.size ?? 1));
    await pass(Array.from({ length: warm }, (_, i) => files[i % files.length]!));
    const times: number[] = [];
    const cpuTimes: number[] = [];
    for (let r = 0; r < Math.max(1, repeat); r++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await pass(files);
      times.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpuTimes.push((c.user + c.system) / 1000);
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const ms = median(times);
    return {
      images: files.length,
      failed,
      imagesPerSec: (files.length * 1000) / ms,
      msPerImage: ms / files.length,
      cpuMsPerImage: median(cpuTimes) / files.length,
      mode: pool ? `pool ×${pool.size}` : 'single',
      decoders,
    };
  } finally {
    if (own) await pool?.close();
  }
}

/**
 * Writes a camera-sized JPEG (default 4000×3000 = 12 MP, quality 90) for the photo benchmark: a
 * lit, noisy, light backdrop with a dark item off-centre, so it compresses like a real photo
 * (~4–6 MB) rather than like a flat test card. Needs sharp.
 */
export async function writeLargePhoto(path: string, { width = 4000, height = 3000, seed = 1 } = {}): Promise<void> {
  const sharp = await loadSharp();
  if (!sharp) throw new Error('writeLargePhoto needs sharp, which is not installed');
  const data = Buffer.alloc(width * height * 3);
  let s = seed >>> 0;
  const cx = width * 0.42;
  const cy = height * 0.55;
  const rx = width * 0.22;
  const ry = height * 0.33;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const noise = ((s >>> 24) - 128) / 16;
      const light = 235 - (18 * (x + y)) / (width + height);
      const d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2;
      const v = d < 1 ? 60 + 50 * Math.sin(x / 37) * Math.cos(y / 23) + noise * 2 : light + noise;
      const p = (y * width + x) * 3;
      data[p] = v + 6;
      data[p + 1] = v;
      data[p + 2] = v - 8;
    }
  }
  await writeFile(
    path,
    await sharp(data, { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 90 })
      .toBuffer(),
  );
}

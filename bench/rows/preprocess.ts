/**
 * Item 2: preprocessing throughput — our worker pool on both cores vs the old system's cv2 loop
 * (imread gray + resize) on the sample refund PNGs and on generated 12-megapixel JPEG photos.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { peerProblem, unavailable, type Ctx } from '../lib/context.ts';
import { loadSharp } from '../../packages/preprocess/src/decode-sharp.ts';
import { createPreprocessPool } from '../../packages/preprocess/src/pool.ts';
import { makePhotoJpegs } from '../lib/images.ts';
import { runPy } from '../lib/python.ts';
import { median } from '../lib/stats.ts';
import type { Row } from '../lib/table.ts';

interface Cv2Result {
  opencv: string;
  threads: number;
  imagesPerSec: number;
  msPerImg: number;
  passes: number;
}

export interface Ours {
  how: string;
  /** Runs every file once, all in flight; resolves when all are done. */
  pass(files: string[]): Promise<void>;
  close(): Promise<void>;
}

/** Our preprocessing as the client runs it: the worker pool. */
export function ourPreprocessor(size = cpus().length): Ours {
  const pool = createPreprocessPool({ size });
  return {
    how: `createPreprocessPool({size: ${size}})`,
    pass: async (files) => {
      await Promise.all(files.map((f) => pool.run(f)));
    },
    close: () => pool.close(),
  };
}

export async function measurePreprocess(ctx: Ctx): Promise<Row[]> {
  const item = 2;
  const pngMetric = 'preprocess sample PNGs (761×761 RGBA)';
  const jpgMetric = 'preprocess 12 MP JPEG photos';
  const passes = ctx.quick ? 2 : 5;
  const rows: Row[] = [];
  const ours = ourPreprocessor();
  const cvProblem = peerProblem(ctx, 'cv2');
  /**
   * Rounds alternate one timed pass of ours with one of cv2 (its own process, a warm-up pass then
   * one timed pass), so load swings on the shared machine hit both; medians over the rounds.
   */
  const interleaved = async (files: string[], name: string): Promise<{ ours: number; cv: Cv2Result | string }> => {
    const list = join(ctx.tmp, `${name}.txt`);
    writeFileSync(list, files.join('\n'));
    await ours.pass(files); // warm-up: workers started, codecs loaded, page cache
    const mine: number[] = [];
    const theirs: Cv2Result[] = [];
    let cvErr = cvProblem;
    for (let i = 0; i < passes; i++) {
      const t0 = performance.now();
      await ours.pass(files);
      mine.push(performance.now() - t0);
      if (!cvErr) {
        try {
          theirs.push(await runPy<Cv2Result>('cv2_preprocess.py', ['--list', list, '--passes', '1']));
        } catch (e) {
          cvErr = (e as Error).message;
        }
      }
    }
    const cv: Cv2Result | string = cvErr ?? {
      ...theirs[0]!,
      passes: theirs.length,
      msPerImg: median(theirs.map((t) => t.msPerImg)),
      imagesPerSec: 1000 / median(theirs.map((t) => t.msPerImg)),
    };
    return { ours: median(mine), cv };
  };
  try {
    // Sample PNGs.
    if (!ctx.samples.length)
      rows.push(unavailable(item, pngMetric, 'img/s', 'sample images not found (../shared/data/refund-samples or REFUND_SAMPLES_DIR)'));
    else {
      ctx.log(`  ours and cv2 on ${ctx.samples.length} sample PNGs, ${passes} rounds …`);
      const { ours: t, cv } = await interleaved(ctx.samples, 'pngs');
      rows.push({
        item,
        metric: pngMetric,
        unit: 'img/s',
        ours: (ctx.samples.length / t) * 1000,
        peer: typeof cv === 'string' ? null : cv.imagesPerSec,
        ...(typeof cv === 'string' ? {} : { peerName: `cv2 ${cv.opencv} loop, 1 process` }),
        goal: { kind: 'ratio>=', value: 1.5 },
        note: `${ctx.samples.length} files, median of ${passes} passes after a warm-up pass, alternating with cv2 (each cv2 pass after its own warm-up pass); ours: ${ours.how} on ${cpus().length} cores${typeof cv === 'string' ? `; ${cv}` : `; cv2 setNumThreads default (${cv.threads})`}`,
      });
    }
    // 12 MP JPEGs.
    const sharp = await loadSharp();
    if (!sharp) rows.push(unavailable(item, jpgMetric, 'ms/img', 'sharp not installed in packages/preprocess: cannot generate the JPEGs'));
    else {
      const n = ctx.quick ? 4 : 8;
      ctx.log(`  generating ${n} 12-megapixel JPEGs …`);
      const jpgs = await makePhotoJpegs(join(ctx.tmp, 'jpegs'), n, sharp);
      ctx.log(`  ours and cv2 on the JPEGs, ${passes} rounds …`);
      const { ours: t, cv } = await interleaved(jpgs, 'jpegs');
      rows.push({
        item,
        metric: jpgMetric,
        unit: 'ms/img',
        ours: t / jpgs.length,
        peer: typeof cv === 'string' ? null : cv.msPerImg,
        ...(typeof cv === 'string' ? {} : { peerName: `cv2 ${cv.opencv} loop` }),
        goal: { kind: 'ratio<=', value: 1.5 },
        note: `${n} generated 4000×3000 q90 JPEGs (~2 MB), effective ms/img = pass wall time ÷ images; ours: ${ours.how}${typeof cv === 'string' ? `; ${cv}` : ''}`,
      });
    }
  } finally {
    await ours.close();
  }
  return rows;
}

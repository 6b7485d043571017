/**
 * libvips via sharp: the fast path when the optional dependency is installed. It is imported
 * lazily so that a machine without sharp (or with a broken native build) still runs on jimp.
 */
import { isMainThread } from 'node:worker_threads';
import type { Probe } from './probe.ts';
import { toGray, type Gray } from './raster.ts';

type SharpFactory = typeof import('sharp');

let loading: Promise<SharpFactory | undefined> | undefined;

export function loadSharp(): Promise<SharpFactory | undefined> {
  loading ??= import('sharp').then(
    (m) => {
      const sharp = (m.default ?? m) as SharpFactory;
      // Results must not depend on what an earlier call left in libvips' operation cache.
      sharp.cache(false);
      // In a pool worker the pool already runs one decode per core; libvips' own thread pool on
      // top would only add threads (and their stacks and buffers) per worker, not speed.
      if (!isMainThread) sharp.concurrency(1);
      return sharp;
    },
    () => undefined,
  );
  return loading;
}

export async function sharpAvailable(): Promise<boolean> {
  return (await loadSharp()) !== undefined;
}

/** Longest side above which the decoder shrinks before handing the raster over. */
const SHRINK_ABOVE = 1024;
/** The shrunk raster keeps at least this many pixels on its longest side for trimming. */
const KEEP_AT_LEAST = 400;

/**
 * Target longest side for a large image, chosen so that libjpeg's scaled decoding (1/8, 1/4, 1/2
 * in the DCT domain: most of the speed) does the bulk of the shrink. sharp picks shrink-on-load
 * factor f only when the overall shrink is at least f + 1 (its guard against libjpeg rounding:
 * an exact 8 gets 4), so the target is longest / (f + 1) and libvips reduces the last bit.
 */
export function workingSide(longest: number): number | undefined {
  if (longest <= SHRINK_ABOVE) return undefined;
  for (const f of [8, 4, 2]) if (longest / (f + 1) >= KEEP_AT_LEAST) return Math.floor(longest / (f + 1));
  return undefined;
}

export async function decodeWithSharp(sharp: SharpFactory, buf: Uint8Array, probe: Probe, maxPixels: number): Promise<Gray> {
  let s = sharp(buf, { failOn: 'error', limitInputPixels: maxPixels, sequentialRead: true }).rotate();
  const side = workingSide(Math.max(probe.width, probe.height));
  if (side) s = s.resize({ width: side, height: side, fit: 'inside', fastShrinkOnLoad: true, kernel: 'linear' });
  const { data, info } = await s.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return toGray(data, info.width, info.height, info.channels);
}

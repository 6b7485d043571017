/** Small statistics for benchmark samples: every figure in the table is a median of several runs. */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of no samples');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile, p in [0, 100]. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) throw new Error('percentile of no samples');
  if (p < 0 || p > 100) throw new Error(`percentile ${p} outside 0–100`);
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[rank - 1]!;
}

/** Runs `fn` `warmup` times unmeasured, then `runs` times, returning the measured durations in ms. */
export async function timeRuns(fn: () => unknown, runs: number, warmup = 1): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

/** Largest relative deviation of any sample from `base` (0.1 = 10 %). */
export function maxRelativeDeviation(xs: readonly number[], base: number): number {
  if (base <= 0) throw new Error('base must be positive');
  let worst = 0;
  for (const x of xs) worst = Math.max(worst, Math.abs(x - base) / base);
  return worst;
}

/**
 * Medians of consecutive windows of `size` samples (the last, shorter window included). RSS sampled
 * every 100 ms follows V8's garbage-collection sawtooth; one-second medians show the trend a leak
 * would make without mistaking a collection cycle for growth.
 */
export function windowMedians(xs: readonly number[], size: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < xs.length; i += size) out.push(median(xs.slice(i, i + size)));
  return out;
}

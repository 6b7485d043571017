/**
 * Peak FP32 FLOP/s of one core, for the physical limit of inference (model FLOPs ÷ peak).
 * Measured with a small FMA-bound C loop (12 independent vector FMA chains, enough to cover the FMA
 * latency on two ports) compiled for the widest SIMD the CPU reports, timed on thread CPU time so
 * other processes sharing the core do not lower it; when no C compiler is present
 * the peak is assumed from the CPU flags and clock and the table says so.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pinned, run } from './proc.ts';

export interface Peak {
  gflops: number;
  how: string;
  /** The ISA assumption at the nominal clock, for comparison. */
  nominalGflops: number;
  nominalHow: string;
}

const C_SRC = (vec: 'avx512' | 'avx2') => {
  const [T, W, fma, set] =
    vec === 'avx512' ? ['__m512', 16, '_mm512_fmadd_ps', '_mm512_set1_ps'] : ['__m256', 8, '_mm256_fmadd_ps', '_mm256_set1_ps'];
  const acc = Array.from({ length: 12 }, (_, i) => i);
  return `#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
  long iters = atol(argv[1]);
  ${T} b = ${set}(0.9999999f), c = ${set}(1e-7f);
  ${acc.map((i) => `${T} a${i} = ${set}(${i + 1}.0f);`).join(' ')}
  double t0 = now();
  for (long i = 0; i < iters; i++) {
    ${acc.map((i) => `a${i} = ${fma}(a${i}, b, c);`).join(' ')}
  }
  double dt = now() - t0;
  float out[${W}]; ${T} s = a0; ${acc
    .slice(1)
    .map((i) => `s = ${vec === 'avx512' ? '_mm512_add_ps' : '_mm256_add_ps'}(s, a${i});`)
    .join(' ')}
  ${vec === 'avx512' ? '_mm512_storeu_ps' : '_mm256_storeu_ps'}(out, s);
  printf("%f %f\\n", iters * 12.0 * ${W} * 2 / dt / 1e9, out[0]);
  return 0;
}
`;
};

function cpuInfo(): { flags: Set<string>; mhz: number; model: string } {
  const txt = readFileSync('/proc/cpuinfo', 'utf8');
  const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(txt)?.[1] ?? '').split(/\s+/));
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(txt)?.[1] ?? 0);
  const model = /^model name\s*:\s*(.*)$/m.exec(txt)?.[1]?.trim() ?? 'unknown CPU';
  return { flags, mhz, model };
}

/** FLOPs per cycle assumed from the ISA: two FMA ports × lanes × 2 (multiply + add). */
export function assumedFlopsPerCycle(flags: Set<string>): { perCycle: number; isa: string } {
  if (flags.has('avx512f')) return { perCycle: 2 * 16 * 2, isa: 'AVX-512, 2 FMA ports × 16 FP32 lanes' };
  if (flags.has('avx2') && flags.has('fma')) return { perCycle: 2 * 8 * 2, isa: 'AVX2, 2 FMA ports × 8 FP32 lanes' };
  return { perCycle: 8, isa: 'SSE, 4 lanes × (mul + add)' };
}

export async function measurePeak(cpu = '0'): Promise<Peak> {
  const { flags, mhz } = cpuInfo();
  const vec = flags.has('avx512f') ? 'avx512' : flags.has('avx2') && flags.has('fma') ? 'avx2' : null;
  const assumed = assumedFlopsPerCycle(flags);
  const nominal = { nominalGflops: (assumed.perCycle * mhz) / 1000, nominalHow: `${assumed.isa} × ${mhz} MHz` };
  const fallback = (why: string): Peak => ({
    gflops: nominal.nominalGflops,
    how: `assumed: ${assumed.isa} × ${mhz} MHz (/proc/cpuinfo) — ${why}`,
    ...nominal,
  });
  if (!vec) return fallback('no AVX2/AVX-512 to measure with');
  const dir = mkdtempSync(join(tmpdir(), 'rv-peak-'));
  try {
    writeFileSync(join(dir, 'fma.c'), C_SRC(vec));
    const cc = await run('gcc', ['-O2', vec === 'avx512' ? '-mavx512f' : '-mavx2', '-mfma', '-o', join(dir, 'fma'), join(dir, 'fma.c')], {
      timeoutMs: 60_000,
    }).catch((e: Error) => ({ code: 1, stderr: e.message }) as const);
    if (cc.code !== 0) return fallback(`gcc unavailable (${cc.stderr.trim().split('\n')[0]})`);
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await run(...pinned(cpu, join(dir, 'fma'), ['200000000']), { timeoutMs: 60_000 });
      const g = Number(r.stdout.trim().split(' ')[0]);
      if (r.code === 0 && g > 0) samples.push(g);
    }
    if (!samples.length) return fallback('FMA loop did not run');
    const best = Math.max(...samples);
    return {
      ...nominal,
      gflops: best,
      how: `measured: ${vec} FMA loop, best of ${samples.length}, one core (${((best * 1000) / mhz).toFixed(1)} FLOP/cycle at ${mhz} MHz nominal)`,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export { cpuInfo };

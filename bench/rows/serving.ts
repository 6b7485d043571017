/**
 * Items 4, 6 and the API half of 7: cold start to /readyz 200; throughput and latency under
 * autocannon load, one process vs API_WORKERS=2; API RSS over 10,000 requests.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exists, unavailable, type Ctx } from '../lib/context.ts';
import { BodyFactory, loadAutocannon, runLoad, type LoadResult } from '../lib/load.ts';
import { buildApp } from '../../deploy/build.ts';
import {
  API_FROM_SOURCE,
  API_VIA_TSX_CLI,
  apiAvailable,
  apiFromBuild,
  pinned,
  run,
  startApi,
  treeRss,
  tsxArgs,
  type ApiCommand,
  type RunningApi,
} from '../lib/proc.ts';
import { maxRelativeDeviation, median, windowMedians } from '../lib/stats.ts';
import type { Row } from '../lib/table.ts';

let dbCounter = 0;
/** Env for a bench API process: its own SQLite file and log folder in the run's temp dir. */
export function apiEnv(ctx: Ctx, extra: Record<string, string> = {}): Record<string, string> {
  const n = dbCounter++;
  return {
    DB_PATH: join(ctx.tmp, `api-${n}.db`),
    LOG_DIR: join(ctx.tmp, `api-logs-${n}`),
    LOG_CONSOLE: 'false',
    LOG_LEVEL: 'warn',
    MODEL_DIR: ctx.modelDir,
    // The throughput, memory and hot-swap rows measure the engine and the HTTP path at up to 64
    // connections, not admission control (default api.maxInFlight 8 would answer some with 503);
    // row 12 (hardening.ts) measures the default.
    API_MAX_IN_FLIGHT: '1000',
    ...extra,
  };
}

function apiMissing(): string | undefined {
  if (!apiAvailable()) return 'not available yet: packages/api/src/main.ts';
  if (!exists('models/fashion-cnn/model.json')) return 'not available yet: no trained model';
  return undefined;
}

/** Starts of the API, each with a fresh SQLite file, to the first /readyz 200 (ms). */
async function coldStarts(ctx: Ctx, runs: number, command: ApiCommand): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const api = await startApi(apiEnv(ctx), { command });
    times.push(api.readyMs);
    await api.stop();
  }
  return times;
}

const coldStartNote = (what: string, times: number[]) =>
  `median of ${times.length} starts of ${what} (fresh SQLite each, default engine), runs: ${times.map((t) => t.toFixed(0)).join(', ')} ms`;

/**
 * `pnpm build` into the run's temp dir, as the image is built: esbuild bundles plus a flat production
 * install beside them. A failure is returned, not thrown, so that the row can say so.
 */
async function buildForBench(ctx: Ctx): Promise<{ dir: string; ms: number } | { error: string }> {
  const t0 = performance.now();
  try {
    const r = await buildApp({ out: join(ctx.tmp, 'app'), log: (m) => ctx.log(`  build: ${m}`) });
    return { dir: r.dir, ms: performance.now() - t0 };
  } catch (e) {
    // A failed install carries pnpm's whole output: its first and last lines say enough for a table note.
    const lines = (e instanceof Error ? e.message : String(e)).split('\n').filter((l) => l.trim());
    return { error: lines.length > 1 ? `${lines[0]} … ${lines[lines.length - 1]}` : (lines[0] ?? 'unknown error') };
  }
}

const COLD_START = 'process start → /readyz 200';

/** The goal's row: the API as the image and the Kubernetes pods start it, from a fresh `pnpm build`. */
async function productionStart(ctx: Ctx, runs: number, goal: Row['goal']): Promise<Row> {
  const metric = `API cold start, production build (bin/main.mjs): ${COLD_START}`;
  ctx.log('  building the app as `pnpm build` does …');
  const built = await buildForBench(ctx);
  // No fallback to another start: a figure for something production does not run would judge the goal wrongly.
  if ('error' in built) return unavailable(4, metric, 'ms', `not available: the build failed: ${built.error}`, goal);
  const times = await coldStarts(ctx, runs, apiFromBuild(built.dir));
  return {
    item: 4,
    metric,
    unit: 'ms',
    ours: median(times),
    peer: null,
    goal,
    note: `what the image and the Kubernetes pods run: ${coldStartNote('`node bin/main.mjs` with cwd = a `pnpm build` output', times)}; the build before them (bundles + flat production install) took ${(built.ms / 1000).toFixed(1)} s, not counted`,
  };
}

/** The start in development (`pnpm api`; `npm start` adds the scheduler): TypeScript through tsx's loader. No goal. */
async function sourceStart(ctx: Ctx, runs: number): Promise<Row> {
  const times = await coldStarts(ctx, runs, API_FROM_SOURCE);
  // The tsx CLI adds a parent process; only the full run spends time on it.
  const viaCli = ctx.quick ? [] : await coldStarts(ctx, 3, API_VIA_TSX_CLI);
  return {
    item: 4,
    metric: `API cold start from source under tsx (development): ${COLD_START}`,
    unit: 'ms',
    ours: median(times),
    peer: null,
    note: `${coldStartNote('`node --import tsx packages/api/src/main.ts`', times)}${viaCli.length ? `; through the tsx CLI (as \`pnpm api\`, pnpm's own start not counted): median ${median(viaCli).toFixed(0)} ms` : ''}; no goal: production does not run tsx (the goal is judged on the row above)`,
  };
}

/**
 * Item 4, judged on what production runs: a new replica (scale-out, a rollout) is where a cold start
 * costs, and the image starts the esbuild bundles, not TypeScript under tsx. The tsx start from source,
 * whose loader hooks every module, is reported beside it for development.
 */
export async function measureColdStart(ctx: Ctx): Promise<Row[]> {
  const goal = { kind: 'ours<=', value: 1500 } as const;
  const missing = apiMissing();
  if (missing) return [unavailable(4, `API cold start: ${COLD_START}`, 'ms', missing, goal)];
  const runs = ctx.quick ? 2 : 5;
  return [await productionStart(ctx, runs, goal), await sourceStart(ctx, runs)];
}

async function testPixels(ctx: Ctx): Promise<Uint8Array> {
  return new Uint8Array(readFileSync((await ctx.data()).testImages));
}

/** Starts an API with `workers` processes; with several, waits until every worker has loaded its engine. */
async function startServing(ctx: Ctx, workers: number): Promise<RunningApi> {
  const api = await startApi(apiEnv(ctx, { API_WORKERS: String(workers) }));
  // /readyz answers once the first worker is ready; give the others time to load their engine.
  if (workers > 1) await new Promise((r) => setTimeout(r, 2500));
  return api;
}

/** Images/s of the bare engine (auto), batch 100, on the given cores at once: the ceiling for the API. */
async function engineThroughput(ctx: Ctx, cpus: string[], seconds: number): Promise<number> {
  const d = await ctx.data();
  const results = await Promise.all(
    cpus.map(async (cpu) => {
      const r = await run(
        ...pinned(
          cpu,
          process.execPath,
          tsxArgs('bench/workers/infer.ts', [
            '--dir',
            ctx.modelDir,
            '--backend',
            'auto',
            '--images',
            d.testImages,
            '--batches',
            '100',
            '--seconds',
            String(seconds),
          ]),
        ),
        { env: { ...process.env, ORT_THREADS: '1' }, timeoutMs: 120_000 },
      );
      const last = r.stdout.trim().split('\n').pop() ?? '';
      if (r.code !== 0 || !last.startsWith('{')) throw new Error(`engine worker: ${r.stderr.trim().split('\n').pop()}`);
      return 1000 / (JSON.parse(last) as { msPerImg: Record<string, number> }).msPerImg['100']!;
    }),
  );
  return results.reduce((a, b) => a + b, 0);
}

export async function measureServing(ctx: Ctx): Promise<Row[]> {
  const item = 6;
  const missing = apiMissing();
  const ac = loadAutocannon();
  if (missing || !ac)
    return [
      unavailable(
        item,
        'serving throughput, API_WORKERS=2 vs 1 process',
        'img/s',
        missing ?? 'autocannon not installed (root devDependency)',
        { kind: 'ratio>=', value: 1.7 },
      ),
    ];
  const px = await testPixels(ctx);
  const batches = [1, 100];
  const conns = ctx.quick ? [8] : [1, 4, 16];
  const seconds = ctx.quick ? 2.5 : 6;
  const results = new Map<string, LoadResult>();
  const stamp = Date.now().toString(36);
  for (const workers of [1, 2]) {
    ctx.log(`  API with ${workers} process${workers > 1 ? 'es' : ''} …`);
    const api = await startServing(ctx, workers);
    try {
      // Warm-up, unmeasured: JIT, engine caches, SQLite pages.
      for (const b of batches)
        await runLoad(ac, api.url, new BodyFactory(`bench-warm-${stamp}-${workers}-${b}`, b, px), {
          connections: 4,
          seconds: ctx.quick ? 1 : 2,
        });
      for (const b of batches) {
        for (const c of conns) {
          const r = await runLoad(ac, api.url, new BodyFactory(`bench-load-${stamp}-${workers}-${b}-${c}`, b, px), {
            connections: c,
            seconds,
          });
          results.set(`${workers}/${b}/${c}`, r);
          ctx.log(
            `    batch ${b}, ${c} connections: ${r.imagesPerSec.toFixed(0)} img/s, p50 ${r.p50} ms, p99 ${r.p99} ms${r.non2xx || r.errors ? `, ${r.non2xx} non-2xx, ${r.errors} errors` : ''}`,
          );
        }
      }
    } finally {
      await api.stop();
    }
  }
  const rows: Row[] = [];
  // The same scaling for the bare engine, no HTTP, no SQLite: what two cores give on this machine now.
  ctx.log('  bare engine, batch 100: one process, then one per core at once …');
  try {
    const es = ctx.quick ? 2 : 4;
    const one = await engineThroughput(ctx, [ctx.cpu], es);
    const two = await engineThroughput(ctx, ['0', ctx.cpu], es);
    rows.push({
      item,
      metric: 'bare engine batch 100: 2 processes (1 per core) vs 1',
      unit: 'img/s',
      ours: two,
      peer: one,
      peerName: '1 process',
      note: 'reference for the API rows: the scaling two cores allow on this machine during this run (no HTTP, no SQLite); no goal',
    });
  } catch (e) {
    rows.push(unavailable(item, 'bare engine batch 100: 2 processes vs 1', 'img/s', (e as Error).message));
  }
  for (const b of batches) {
    for (const c of conns) {
      const two = results.get(`2/${b}/${c}`)!;
      const one = results.get(`1/${b}/${c}`)!;
      const bad = (r: LoadResult) => (r.non2xx || r.errors ? ` (${r.non2xx} non-2xx, ${r.errors} errors)` : '');
      rows.push({
        item,
        metric: `serving batch ${b}, ${c} conn: API_WORKERS=2 vs 1 process`,
        unit: 'img/s',
        ours: two.imagesPerSec,
        peer: one.imagesPerSec,
        peerName: '1 process',
        ...(c === conns[conns.length - 1] ? { goal: { kind: 'ratio>=', value: 1.7 } as const } : {}),
        note: `p50/p99 ${two.p50}/${two.p99} ms with 2 workers${bad(two)}, ${one.p50}/${one.p99} ms with 1${bad(one)}; ${seconds} s each, loopback; autocannon runs in the bench process on the same 2 cores and used ${two.generatorCores.toFixed(2)} / ${one.generatorCores.toFixed(2)} of a core`,
      });
    }
  }
  return rows;
}

/** V8 heap figures from the API's Prometheus default metrics (MB), when it exposes them. */
async function heapMb(url: string): Promise<{ used: number; total: number } | undefined> {
  try {
    const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const g = (name: string) => Number(new RegExp(`^\\w*nodejs_heap_size_${name}_bytes (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
    const r = { used: g('used'), total: g('total') };
    return Number.isFinite(r.used) ? r : undefined;
  } catch {
    return undefined;
  }
}

export async function measureApiMemory(ctx: Ctx): Promise<Row[]> {
  const item = 7;
  const total = ctx.quick ? 2000 : 10_000;
  const warm = ctx.quick ? 1000 : 5000;
  const metric = `API RSS drift over ${total.toLocaleString('en-US')} requests after ${warm.toLocaleString('en-US')} warm-up`;
  const goal = { kind: 'ours<=', value: 10 } as const;
  const missing = apiMissing();
  const ac = loadAutocannon();
  if (missing || !ac) return [unavailable(item, metric, '%', missing ?? 'autocannon not installed', goal)];
  const px = await testPixels(ctx);
  const api = await startApi(apiEnv(ctx));
  const samples: number[] = [];
  let rssStart = 0;
  let heapBefore: { used: number; total: number } | undefined;
  let heapAfter: typeof heapBefore;
  try {
    const pid = api.child.pid!;
    rssStart = treeRss(pid);
    const bodies = new BodyFactory(`bench-mem-${Date.now().toString(36)}`, 1, px, 64);
    // Warm-up, unmeasured: V8 grows its heap to a steady size over the first few thousand requests
    // (probe: RSS rose for ~5,000 batch-1 requests, then stayed within ±3 % up to 40,000).
    await runLoad(ac, api.url, bodies, { connections: 4, amount: warm });
    heapBefore = await heapMb(api.url);
    samples.push(treeRss(pid));
    const timer = setInterval(() => samples.push(treeRss(pid)), 100);
    try {
      await runLoad(ac, api.url, bodies, { connections: 4, amount: total });
    } finally {
      clearInterval(timer);
    }
    samples.push(treeRss(pid));
    heapAfter = await heapMb(api.url);
  } finally {
    await api.stop();
  }
  // Judged on one-second medians against the first second after warm-up; the raw 100 ms extremes
  // (GC sawtooth) are reported beside it.
  const windows = windowMedians(samples, 10);
  const base = windows[0]!;
  const dev = maxRelativeDeviation(windows, base) * 100;
  const rawDev = maxRelativeDeviation(samples, samples[0]!) * 100;
  const mb = (b: number) => (b / 2 ** 20).toFixed(0);
  const heap =
    heapBefore && heapAfter
      ? `; V8 heap used ${heapBefore.used.toFixed(0)} → ${heapAfter.used.toFixed(0)} MB (total ${heapBefore.total.toFixed(0)} → ${heapAfter.total.toFixed(0)})`
      : '';
  return [
    {
      item,
      metric,
      unit: '%',
      ours: dev,
      peer: null,
      goal,
      note: `batch-1 requests, 4 connections, one process; RSS ${mb(rssStart)} MB at start, ${mb(base)} MB after warm-up, min ${mb(Math.min(...samples))} / max ${mb(Math.max(...samples))} MB during, ${mb(samples[samples.length - 1]!)} MB at the end (${samples.length} samples every 100 ms; drift judged on ${windows.length} one-second medians, ${mb(Math.min(...windows))}–${mb(Math.max(...windows))} MB; largest raw 100 ms deviation ${rawDev.toFixed(1)} %)${heap}`,
    },
  ];
}

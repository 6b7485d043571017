/**
 * Issue 12's heavy adversarial part, against a real `pnpm api` process on loopback:
 * - bomb forms: senders in a loop post the forms of the adversarial run (16 RLE8 BMPs declaring
 *   10000×10000 in 17 KB, 64 smaller RLE8 bombs, 16 flat 20 MP PNGs, the 4.5 MB-class form of
 *   64 PNGs of 4000×4000) while the API's RSS (process tree) is sampled and /readyz is polled;
 * - load: batch-256 /v1/predict on 64 connections (autocannon) while /readyz is polled.
 * Goals (issue 12 "Done when"): RSS growth under 600 MB, /readyz answering within 1 s throughout.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
// The API tests' generators of the adversarial run's images (plain functions; nothing else runs).
import { flatPng, rle8Bomb } from '../../packages/api/src/test-support.ts';
import { unavailable, type Ctx } from '../lib/context.ts';
import { BodyFactory, loadAutocannon, runLoad } from '../lib/load.ts';
import { startApi, treeRss, type RunningApi } from '../lib/proc.ts';
import type { Row } from '../lib/table.ts';
import { ConfigSchema } from '../../packages/shared/src/config.ts';
import { apiEnv } from './serving.ts';

const ITEM = 12;
const PROBE_TIMEOUT_MS = 5000;

function form(files: Buffer[], ext: string): { body: Buffer; type: string } {
  const b = 'bench-bomb-boundary';
  const parts = files.flatMap((f, i) => [
    Buffer.from(
      `--${b}\r\nContent-Disposition: form-data; name="f${i}"; filename="f${i}.${ext}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
    f,
    Buffer.from('\r\n'),
  ]);
  return { body: Buffer.concat([...parts, Buffer.from(`--${b}--\r\n`)]), type: `multipart/form-data; boundary=${b}` };
}

/**
 * Polls /readyz every 100 ms from a process of its own (the load generator shares the bench's event
 * loop and would delay a probe sent from here) until stopped: the worst latency, a probe that gets
 * no answer counting as its timeout.
 */
const PROBER = `
const url = process.argv[1], limit = Number(process.argv[2]);
const times = []; let failures = 0, stop = false;
process.stdin.on('data', () => (stop = true));
while (!stop) {
  const t0 = performance.now();
  const ok = await fetch(url, { signal: AbortSignal.timeout(limit) }).then(async (r) => (await r.arrayBuffer(), r.status === 200), () => false);
  times.push(performance.now() - t0);
  if (!ok) failures++;
  await new Promise((r) => setTimeout(r, 100));
}
process.stdout.write(JSON.stringify({ worst: Math.max(...times), probes: times.length, failures }));
process.exit(0);
`;

function pollReadiness(url: string) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', PROBER, `${url}/readyz`, String(PROBE_TIMEOUT_MS)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    async stop(): Promise<{ worst: number; probes: number; failures: number }> {
      child.stdin!.write('stop\n');
      await exited;
      return JSON.parse(out);
    },
  };
}

async function bombForms(ctx: Ctx, api: RunningApi, seconds: number): Promise<Row[]> {
  const forms = [
    {
      name: '16 RLE8 BMPs 10000×10000',
      ...form(
        Array.from({ length: 16 }, () => rle8Bomb(10_000, 10_000)),
        'bmp',
      ),
    },
    {
      name: '64 RLE8 BMPs 4000×4000',
      ...form(
        Array.from({ length: 64 }, () => rle8Bomb(4000, 4000)),
        'bmp',
      ),
    },
    {
      name: '16 flat PNGs 4472×4472',
      ...form(
        Array.from({ length: 16 }, () => flatPng(4472)),
        'png',
      ),
    },
    {
      name: '64 PNGs 4000×4000',
      ...form(
        Array.from({ length: 64 }, () => flatPng(4000, 128, true)),
        'png',
      ),
    },
  ];
  const pid = api.child.pid!;
  const rss0 = treeRss(pid);
  let peak = rss0;
  const sampler = setInterval(() => (peak = Math.max(peak, treeRss(pid))), 100);
  const probe = pollReadiness(api.url);
  const statuses = new Map<string, number>();
  const deadline = performance.now() + seconds * 1000;
  let sent = 0;
  await Promise.all(
    Array.from({ length: 8 }, async (_, s) => {
      for (let k = s; performance.now() < deadline; k++) {
        const f = forms[k % forms.length]!;
        sent++;
        const status = await fetch(`${api.url}/v1/predict/image`, {
          method: 'POST',
          body: new Uint8Array(f.body),
          headers: { 'content-type': f.type },
          signal: AbortSignal.timeout(60_000),
        }).then(
          async (r) => (await r.arrayBuffer(), String(r.status)),
          (e: Error) => `error ${e.name}`,
        );
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  clearInterval(sampler);
  const ready = await probe.stop();
  const mix = [...statuses].map(([s, n]) => `${n}× ${s}`).join(', ');
  const note = `${sent} forms in ${seconds} s from 8 senders (${forms.map((f) => `${f.name}: ${(f.body.length / 1024).toFixed(0)} KB`).join('; ')}); answers: ${mix}`;
  ctx.log(
    `  bomb forms: RSS ${(rss0 / 2 ** 20).toFixed(0)} → peak ${(peak / 2 ** 20).toFixed(0)} MB; /readyz worst ${ready.worst.toFixed(0)} ms over ${ready.probes} probes; ${mix}`,
  );
  return [
    {
      item: ITEM,
      metric: 'bomb forms: API RSS growth (process tree, peak − start)',
      unit: 'MB',
      ours: (peak - rss0) / 2 ** 20,
      peer: null,
      goal: { kind: 'ours<=', value: 600 },
      note: `${note}; RSS at start ${(rss0 / 2 ** 20).toFixed(0)} MB, sampled every 100 ms`,
    },
    {
      item: ITEM,
      metric: 'bomb forms: worst /readyz latency',
      unit: 'ms',
      ours: ready.worst,
      peer: null,
      goal: { kind: 'ours<=', value: 1000 },
      note: `${ready.probes} probes every 100 ms, ${ready.failures} not 200 (an unanswered probe counts as ${PROBE_TIMEOUT_MS} ms)`,
    },
  ];
}

/**
 * The API's own event-loop delay since the previous call, from its Prometheus metrics (prom-client
 * resets the histogram at each scrape): it tells a slow probe caused by the API's loop from one
 * that waited elsewhere (the prober or the kernel on a CPU-starved machine).
 */
async function apiLoopDelay(url: string): Promise<{ p99: number; max: number } | undefined> {
  const text = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) }).then(
    (r) => r.text(),
    () => '',
  );
  const ms = (name: string) =>
    Number(new RegExp(`^refund_vision_nodejs_eventloop_lag_${name}_seconds(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]) * 1000;
  const p99 = ms('p99');
  const max = ms('max');
  return Number.isFinite(p99) && Number.isFinite(max) ? { p99, max } : undefined;
}

async function loadWithProbes(ctx: Ctx, api: RunningApi, seconds: number): Promise<Row[]> {
  const ac = loadAutocannon();
  if (!ac) return [unavailable(ITEM, 'load: worst /readyz latency', 'ms', 'autocannon not installed (root devDependency)')];
  const px = new Uint8Array(readFileSync((await ctx.data()).testImages));
  await apiLoopDelay(api.url); // starts the API's delay histogram afresh for the load
  const probe = pollReadiness(api.url);
  const load = await runLoad(ac, api.url, new BodyFactory(`bench-hardening-${Date.now().toString(36)}`, 256, px, 8), {
    connections: 64,
    seconds,
  });
  const ready = await probe.stop();
  const delay = await apiLoopDelay(api.url);
  const delayNote = delay
    ? `; the API's event-loop delay meanwhile (its /metrics): p99 ${delay.p99.toFixed(0)} ms, max ${delay.max.toFixed(0)} ms`
    : "; the API's event-loop delay: not read from /metrics";
  ctx.log(`  load: ${load.ok} ok, ${load.non2xx} non-2xx, ${load.errors} errors; /readyz worst ${ready.worst.toFixed(0)} ms${delayNote}`);
  return [
    {
      item: ITEM,
      metric: 'batch 256 × 64 connections: worst /readyz latency',
      unit: 'ms',
      ours: ready.worst,
      peer: null,
      goal: { kind: 'ours<=', value: 1000 },
      note: `${seconds} s of load; ${load.ok} requests answered 2xx (${load.imagesPerSec.toFixed(0)} img/s, p50/p99 ${load.p50}/${load.p99} ms), ${load.non2xx} shed with 503 + Retry-After, ${load.errors} errors or timeouts; ${ready.probes} probes, ${ready.failures} not 200${delayNote}`,
    },
    {
      item: ITEM,
      metric: 'batch 256 × 64 connections: requests without an answer (errors + timeouts)',
      unit: 'requests',
      ours: load.errors,
      peer: null,
      goal: { kind: 'ours<=', value: 0 },
      note: 'a refused request gets 503 + Retry-After at once (api.maxInFlight); only a request that gets no answer counts here',
    },
  ];
}

export async function measureHardening(ctx: Ctx): Promise<Row[]> {
  const seconds = ctx.quick ? 5 : 12;
  // The API's own admission limit (api.maxInFlight), not the throughput rows' raised one.
  const api = await startApi(apiEnv(ctx, { API_MAX_IN_FLIGHT: String(ConfigSchema.shape.api.parse({}).maxInFlight) }));
  try {
    // Let the decode pool start (it is started after /readyz says 200).
    await new Promise((r) => setTimeout(r, 1000));
    return [...(await bombForms(ctx, api, seconds)), ...(await loadWithProbes(ctx, api, seconds))];
  } finally {
    await api.stop();
  }
}

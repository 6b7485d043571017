/**
 * Issue 10's hot swap, measured: an API under steady /v1/predict load while the registry's champion is
 * promoted to another version and rolled back. Counts the requests that failed during the swaps (goal 0)
 * and compares the p99 latency of the swap window with the same load before it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelRegistry } from '../../packages/model/src/registry.ts';
import { makeVariant } from '../../packages/model/src/testing/model-variant.ts';
import { unavailable, type Ctx } from '../lib/context.ts';
import { BodyFactory, loadAutocannon, runLoad } from '../lib/load.ts';
import { startApi } from '../lib/proc.ts';
import type { Row } from '../lib/table.ts';
import { apiEnv } from './serving.ts';

const ITEM = 10;

export async function measureHotSwap(ctx: Ctx): Promise<Row[]> {
  const ac = loadAutocannon();
  if (!ac) return [unavailable(ITEM, 'hot swap under load', 'requests', 'autocannon not installed (root devDependency)')];
  const regDir = join(ctx.tmp, 'registry');
  const candDir = join(ctx.tmp, 'candidate');
  await makeVariant(candDir, 1, { from: ctx.modelDir, withOnnx: true });
  const registry = new ModelRegistry({ root: regDir, bundledDir: ctx.modelDir });
  const candidate = await registry.add(candDir, { by: 'bench' });
  const champion = registry.resolveAlias('champion')!.version;
  const px = new Uint8Array(readFileSync((await ctx.data()).testImages));
  const seconds = ctx.quick ? 3 : 8;
  const pollMs = 100;
  const api = await startApi(apiEnv(ctx, { MODEL_REGISTRY: regDir, MODEL_REGISTRY_POLL_MS: String(pollMs), MODEL_DIR: ctx.modelDir }));
  try {
    const stamp = Date.now().toString(36);
    const load = (name: string) =>
      runLoad(ac, api.url, new BodyFactory(`bench-swap-${name}-${stamp}`, 16, px), { connections: 8, seconds });
    await runLoad(ac, api.url, new BodyFactory(`bench-swap-warm-${stamp}`, 16, px), { connections: 4, seconds: 1 });
    const before = await load('before');
    /** ms from a registry move until /readyz reports the new version (the swap is done). */
    const switched = async (version: string): Promise<number> => {
      const t0 = performance.now();
      for (;;) {
        const r = (await (await fetch(`${api.url}/readyz`)).json()) as { model?: { version?: string } };
        if (r.model?.version === version) return performance.now() - t0;
        if (performance.now() - t0 > seconds * 1000) throw new Error(`the API did not switch to ${version} within ${seconds} s`);
        await new Promise((res) => setTimeout(res, 10));
      }
    };
    // During the second window: promote a third of the way in, roll back at two thirds.
    const moves = (async () => {
      await new Promise((r) => setTimeout(r, (seconds * 1000) / 3));
      await registry.move('champion', candidate, { by: 'bench', reason: 'hot swap bench', kind: 'promote', forced: true });
      const promoteMs = await switched(candidate);
      await new Promise((r) => setTimeout(r, (seconds * 1000) / 3 - promoteMs));
      await registry.rollback({ by: 'bench', reason: 'hot swap bench' });
      return { promoteMs, rollbackMs: await switched(champion) };
    })();
    const during = await load('during');
    const { promoteMs, rollbackMs } = await moves;
    const failed = during.non2xx + during.errors;
    const note = `batch 16, 8 connections, ${seconds} s per window, registry polled every ${pollMs} ms; promote ${champion} → ${candidate} at ${(seconds / 3).toFixed(1)} s, rollback at ${((2 * seconds) / 3).toFixed(1)} s; ${during.ok} requests answered during the swaps; /readyz named the new version ${promoteMs.toFixed(0)} ms after the promotion and the old one ${rollbackMs.toFixed(0)} ms after the rollback (poll, load, warm-up and switch)`;
    return [
      {
        item: ITEM,
        metric: 'hot swap under load: failed requests during promote + rollback',
        unit: 'requests',
        ours: failed,
        peer: null,
        goal: { kind: 'ours<=', value: 0 },
        note,
      },
      {
        item: ITEM,
        metric: 'hot swap: p99 latency during the swaps vs the same load before',
        unit: 'ms',
        ours: during.p99,
        peer: before.p99,
        peerName: 'before the swap',
        note: `p50 ${during.p50} vs ${before.p50} ms; throughput ${during.imagesPerSec.toFixed(0)} vs ${before.imagesPerSec.toFixed(0)} img/s (no goal: loading and warming the new model shares the 2 cores with serving)`,
      },
    ];
  } finally {
    await api.stop();
  }
}

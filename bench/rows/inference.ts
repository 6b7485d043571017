/**
 * Item 1: inference ms/img at batch 100 and 1000 on one core — our engines (ONNX Runtime when
 * model.onnx is there, the tfjs wasm backend) vs the same architecture in PyTorch (one thread) vs
 * the physical limit (model FLOPs ÷ one core's measured peak). Plus test-set accuracy of both.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensembleMembersOf } from '@refund-vision/model';
import { countFlops } from '../lib/flops.ts';
import { exists, peerProblem, readCardJson, unavailable, type Ctx } from '../lib/context.ts';
import { measurePeak } from '../lib/peak.ts';
import { canPin, pinned, run, tsxArgs } from '../lib/proc.ts';
import { runPy } from '../lib/python.ts';
import { median } from '../lib/stats.ts';
import type { Row } from '../lib/table.ts';

interface OursResult {
  engine: string;
  loadMs: number;
  msPerImg: Record<string, number>;
  runs: Record<string, number>;
  accuracy?: number;
}
interface TorchResult {
  torch: string;
  members?: number;
  threads: number;
  weights: string;
  weightsError?: string;
  msPerImg: Record<string, number>;
  runs: Record<string, number>;
  accuracy?: number;
}

export const BATCHES = [100, 1000];

async function ours(ctx: Ctx, backend: string, seconds: number, withAccuracy: boolean): Promise<OursResult> {
  const d = await ctx.data();
  const labels = withAccuracy ? ['--labels', d.testLabels, ...(ctx.quick ? ['--limit', '2000'] : [])] : [];
  const r = await run(
    ...pinned(
      ctx.cpu,
      process.execPath,
      tsxArgs('bench/workers/infer.ts', [
        '--dir',
        ctx.modelDir,
        '--backend',
        backend,
        '--images',
        d.testImages,
        ...labels,
        '--batches',
        BATCHES.join(','),
        '--seconds',
        String(seconds),
      ]),
    ),
    {
      env: { ...process.env, ORT_THREADS: '1' },
      timeoutMs: 300_000,
    },
  );
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !last.startsWith('{'))
    throw new Error(`${backend}: ${r.stderr.trim().split('\n').slice(-2).join(' | ') || `exit ${r.code}`}`);
  return JSON.parse(last) as OursResult;
}

/**
 * The work the served model does per image, from its card: the members of a combined ensemble
 * and the mirror view.
 */
function servedWork(card: any): { members: number; views: number } {
  return { members: ensembleMembersOf(card)?.length ?? 1, views: card?.inference?.flipAverage === true ? 2 : 1 };
}

export async function measureInference(ctx: Ctx): Promise<Row[]> {
  const item = 1;
  if (!existsSync(join(ctx.modelDir, 'model.json')) || !exists('packages/model/src/index.ts')) {
    return [unavailable(item, 'inference', 'ms/img', 'not available yet: no trained model in models/fashion-cnn or no model package')];
  }
  const card = readCardJson(ctx.modelDir);
  const seconds = ctx.quick ? 1 : 2;
  const rows: Row[] = [];

  const served = servedWork(card);
  const flops = countFlops(JSON.parse(readFileSync(join(ctx.modelDir, 'model.json'), 'utf8')), undefined, served);
  const cardFlops = Number(card?.architecture?.flopsPerImage ?? NaN);
  ctx.log(`  measuring one core's FP32 peak …`);
  const peak = await measurePeak(ctx.cpu);
  const limitMs = (flops.flops / (peak.gflops * 1e9)) * 1000;

  // Ours and PyTorch alternate in rounds, so a load swing on the shared machine hits both sides;
  // each side's figure is the median over rounds of its per-round medians.
  const rounds = ctx.quick ? 1 : 3;
  const hasOnnx = existsSync(join(ctx.modelDir, 'model.onnx'));
  const backends = [...(hasOnnx ? ['onnx'] : []), 'wasm'];
  const perRound = new Map<string, OursResult[]>();
  const failures = new Map<string, string>();
  const tProblem = peerProblem(ctx, 'torch');
  const torchRuns: TorchResult[] = [];
  let torchErr = tProblem;
  const d = await ctx.data();
  for (let round = 0; round < rounds; round++) {
    for (const backend of backends) {
      if (failures.has(backend)) continue;
      if (ctx.quick && backend !== backends[0]) {
        failures.set(backend, 'quick run: secondary engine skipped');
        continue;
      }
      ctx.log(`  round ${round + 1}/${rounds}: our ${backend} engine, one core …`);
      try {
        const r = await ours(ctx, backend, seconds, round === 0 && !perRound.size);
        perRound.set(backend, [...(perRound.get(backend) ?? []), r]);
      } catch (e) {
        failures.set(backend, (e as Error).message);
      }
    }
    if (!torchErr) {
      ctx.log(`  round ${round + 1}/${rounds}: PyTorch, one thread …`);
      try {
        const acc = round === 0 ? ['--labels', d.testLabels, ...(ctx.quick ? ['--limit', '2000'] : [])] : [];
        torchRuns.push(
          await runPy<TorchResult>(
            'torch_infer.py',
            [
              '--model-dir',
              ctx.modelDir,
              '--images',
              d.testImages,
              ...acc,
              '--batches',
              BATCHES.join(','),
              '--seconds',
              String(seconds),
              '--threads',
              '1',
            ],
            { cpu: ctx.cpu },
          ),
        );
      } catch (e) {
        torchErr = (e as Error).message;
      }
    }
  }
  const combine = <T extends { msPerImg: Record<string, number>; runs: Record<string, number>; accuracy?: number }>(
    rs: T[],
  ): T | undefined =>
    rs.length
      ? {
          ...rs[0]!,
          accuracy: rs.find((r) => r.accuracy !== undefined)?.accuracy,
          msPerImg: Object.fromEntries(BATCHES.map((b) => [b, median(rs.map((r) => r.msPerImg[b]!))])),
          runs: Object.fromEntries(BATCHES.map((b) => [b, rs.reduce((a, r) => a + (r.runs[b] ?? 0), 0)])),
        }
      : undefined;
  const engines: { name: string; res?: OursResult; err?: string }[] = backends.map((name) => ({
    name,
    res: combine(perRound.get(name) ?? []),
    err: failures.get(name),
  }));
  if (!hasOnnx) engines.push({ name: 'onnx', err: 'not available yet: no model.onnx in models/fashion-cnn' });
  const torch = torchErr ? undefined : combine(torchRuns);
  const torchName = torch ? `PyTorch ${torch.torch.replace(/^(\d+\.\d+).*/, '$1')}, ${torch.threads} thread` : undefined;

  // The goal applies to the engine the API picks on its own (auto: ONNX first).
  const primary = engines.find((e) => e.res)?.name;
  for (const e of engines) {
    for (const b of BATCHES) {
      const metric = `inference batch ${b}, ${e.name} (1 core)`;
      if (!e.res) {
        rows.push(unavailable(item, metric, 'ms/img', e.err ?? 'failed'));
        continue;
      }
      rows.push({
        item,
        metric,
        unit: 'ms/img',
        ours: e.res.msPerImg[b] ?? null,
        peer: torch?.msPerImg[b] ?? null,
        ...(torchName ? { peerName: torchName } : {}),
        ...(e.name === primary ? { goal: { kind: 'ratio<=', value: 0.5 } as const } : {}),
        note: [
          `median of ${e.res.runs[b]} runs in ${rounds} round(s) alternating with PyTorch, 3 warm-up runs each, ${canPin() ? `pinned to CPU ${ctx.cpu}` : 'NOT pinned (no taskset)'}${e.name === 'onnx' ? ', ORT 1 intra-op thread' : ', tfjs wasm (single-threaded in Node)'}`,
          torch
            ? `PyTorch median of ${torch.runs[b]} runs${torch.members ? `, the ensemble run as its ${torch.members} members (bench/py/kerasnet.py split_members)` : ''}`
            : `peer: ${torchErr}`,
          e.name === primary ? 'engine the API uses (auto)' : 'secondary engine, no goal',
        ].join('; '),
      });
    }
  }
  const best = Math.min(...engines.filter((e) => e.res).map((e) => e.res!.msPerImg[BATCHES[0]!] ?? Infinity));
  rows.push({
    item,
    metric: `physical limit, batch ${BATCHES[0]} (ours ÷ FLOPs/peak)`,
    unit: 'ms/img',
    ours: Number.isFinite(best) ? best : null,
    peer: limitMs,
    peerName: 'limit',
    note: `${(flops.flops / 1e6).toFixed(2)} MFLOP/img counted from model.json as served (${served.members > 1 ? `${served.members} members, their zero blocks left out` : 'one net'}, ${served.views} view${served.views > 1 ? 's' : ''})${Number.isFinite(cardFlops) ? ` (card, one view of the net as stored: ${(cardFlops / 1e6).toFixed(2)})` : ''} ÷ ${peak.gflops.toFixed(1)} GFLOP/s (${peak.how}; nominal ${peak.nominalGflops.toFixed(0)} GFLOP/s = ${peak.nominalHow})`,
  });
  const primaryRes = engines.find((e) => e.name === primary)?.res;
  rows.push({
    item,
    metric: `accuracy on ${ctx.quick ? 'the first 2,000' : '10,000'} test images (${primary ?? 'ours'} vs PyTorch, same weights)`,
    unit: '%',
    ours: primaryRes?.accuracy !== undefined ? primaryRes.accuracy * 100 : null,
    peer: torch?.accuracy !== undefined ? torch.accuracy * 100 : null,
    goal: { kind: 'ours>=', value: 92 },
    note: [
      card?.evaluation?.accuracy !== undefined ? `model card says ${(card.evaluation.accuracy * 100).toFixed(2)}%` : 'no model card',
      card?.architecture?.name ? `architecture '${card.architecture.name}', ${flops.params.toLocaleString('en-US')} params` : '',
      torch
        ? torch.weights === 'loaded'
          ? 'PyTorch loaded our trained weights (equal accuracy = same function)'
          : `PyTorch ran with random weights: ${torch.weightsError}`
        : '',
    ]
      .filter(Boolean)
      .join('; '),
  });
  return rows;
}

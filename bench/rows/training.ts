/**
 * Item 8: training speed, ms per 1,000 images of one epoch: ours (tfjs wasm with the model
 * package's kernels, one thread by construction) vs PyTorch (one thread), same architecture, Adam,
 * the model card's batch size, a slice of the epoch on the same training images. A combined
 * ensemble trains as one of its members on both sides (bench/workers/train.ts, torch_train.py).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { peerProblem, readCardJson, unavailable, type Ctx } from '../lib/context.ts';
import { canPin, pinned, run, tsxArgs } from '../lib/proc.ts';
import { runPy } from '../lib/python.ts';
import type { Row } from '../lib/table.ts';

export async function measureTraining(ctx: Ctx): Promise<Row[]> {
  const item = 8;
  const metric = 'training, one epoch slice (1 core)';
  if (!existsSync(join(ctx.modelDir, 'model.json'))) return [unavailable(item, metric, 'ms/1k img', 'not available yet: no trained model')];
  const card = readCardJson(ctx.modelDir);
  const batch = Number(card?.training?.batchSize ?? 64);
  const lr = Number(card?.training?.learningRate ?? 0.001);
  const d = await ctx.data();
  const images = ctx.quick ? 1000 : 6000;
  // Slice files: the first `images` training images (the data loader wrote more).
  const common = ['--images', d.trainImages, '--labels', d.trainLabels, '--batch', String(batch), '--lr', String(lr)];
  ctx.log(`  ours (wasm), ${images} images …`);
  let ours: { msPer1000: number; backend: string; memberOf?: number } | undefined;
  let oursErr: string | undefined;
  const r = await run(
    ...pinned(ctx.cpu, process.execPath, tsxArgs('bench/workers/train.ts', ['--dir', ctx.modelDir, '--limit', String(images), ...common])),
    { timeoutMs: 600_000 },
  );
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code === 0 && last.startsWith('{')) ours = JSON.parse(last);
  else oursErr = r.stderr.trim().split('\n').slice(-2).join(' | ');
  let torch: { msPer1000: number; torch: string; threads: number; memberOf?: number } | undefined;
  let torchErr = peerProblem(ctx, 'torch');
  if (!torchErr) {
    ctx.log(`  PyTorch, ${images} images …`);
    try {
      torch = await runPy('torch_train.py', ['--model-dir', ctx.modelDir, '--threads', '1', '--limit', String(images), ...common], {
        cpu: ctx.cpu,
      });
    } catch (e) {
      torchErr = (e as Error).message;
    }
  }
  return [
    {
      item,
      metric,
      unit: 'ms/1k img',
      ours: ours?.msPer1000 ?? null,
      peer: torch?.msPer1000 ?? null,
      ...(torch ? { peerName: `PyTorch ${torch.torch}, ${torch.threads} thread` } : {}),
      note: [
        `${images} training images, batch ${batch}, Adam, first 3 batches excluded, ${canPin() ? `pinned to CPU ${ctx.cpu}` : 'NOT pinned (no taskset)'}; ours: ${ours ? `tfjs ${ours.backend}` : `failed: ${oursErr}`}`,
        ours?.memberOf || torch?.memberOf
          ? `the committed model is an ensemble: both sides train one of its ${ours?.memberOf ?? torch?.memberOf} members (what pnpm train trains)${ours?.memberOf && torch?.memberOf ? '' : ' — NOT both: not comparable'}`
          : '',
        torchErr ? `peer: ${torchErr}` : '',
        'no numeric goal in issue 6',
      ]
        .filter(Boolean)
        .join('; '),
    },
  ];
}

/**
 * `pnpm train:recipe [--out models/fashion-cnn] [--limit N] [--scale F]`: the stages that made
 * the committed model, in one command:
 *   1. 8 epochs, lr 1e-3, random horizontal flips, Fashion-MNIST only;
 *   2. 4 epochs from stage 1, lr 3e-4, no flips, Fashion-MNIST only;
 *   3. 4 epochs from stage 2, lr 1.5e-4, no flips, Fashion-MNIST only (the pre-photo model, ~60 min);
 *   4. PHOTO_STAGE from stage 3: Fashion-MNIST + real photos, then calibration and review thresholds
 *      on the photo validation split.
 * Each stage is `pnpm train` in a child process, so every card records its own command and the
 * final card carries the chain (`training.initFrom`). `--limit`/`--scale` shrink it for a dry run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { out: { type: 'string' }, limit: { type: 'string' }, scale: { type: 'string', default: '1' } },
});
const scale = Number(values.scale);
const epochs = (n: number) => String(Math.max(1, Math.round(n * scale)));
const trainCli = join(dirname(fileURLToPath(import.meta.url)), 'train.ts');
const work = mkdtempSync(join(tmpdir(), 'rv-recipe-'));
const common = ['--arch', 'deep', '--batch-size', '64', '--seed', '42', ...(values.limit ? ['--limit', values.limit] : [])];

/** The photo fine-tuning stage (EPOCHS is scaled by --scale). */
const PHOTO_EPOCHS = 3;
const PHOTO_STAGE = [
  '--epochs',
  'EPOCHS',
  '--limit',
  values.limit ?? '20000',
  ...(values.limit ? ['--photo-limit', values.limit] : []),
  '--lr',
  '0.0003',
  '--no-flip',
  '--photo-share',
  '0.333',
  '--oos-weight',
  '0.5',
  '--photo-variants',
  '2',
];

const stages: string[][] = [
  [...common, '--epochs', epochs(8), '--lr', '0.001', '--out', join(work, 'stage1'), '--no-onnx', '--no-photos'],
  [
    ...common,
    '--epochs',
    epochs(4),
    '--lr',
    '0.0003',
    '--no-flip',
    '--init',
    join(work, 'stage1'),
    '--out',
    join(work, 'stage2'),
    '--no-onnx',
    '--no-photos',
  ],
  [
    ...common,
    '--epochs',
    epochs(4),
    '--lr',
    '0.00015',
    '--no-flip',
    '--init',
    join(work, 'stage2'),
    '--out',
    join(work, 'stage3'),
    '--no-onnx',
    '--no-photos',
  ],
  [
    ...common.filter((_, i, a) => a[i] !== '--limit' && a[i - 1] !== '--limit'),
    '--init',
    join(work, 'stage3'),
    ...PHOTO_STAGE.map((a) => (a === 'EPOCHS' ? epochs(PHOTO_EPOCHS) : a)),
    ...(values.out ? ['--out', values.out] : []),
  ],
];

for (const [i, args] of stages.entries()) {
  console.error(`stage ${i + 1}/${stages.length}: train ${args.join(' ')}`);
  const r = spawnSync(process.execPath, [...process.execArgv, trainCli, ...args], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`stage ${i + 1} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

/**
 * Our training speed: ms per 1,000 images of one epoch on the wasm engine (with the model package's
 * custom kernels), the committed architecture, Adam, the card's batch size, trainOnBatch like
 * `pnpm train` does (including building each batch from uint8 pixels), first batches excluded.
 * A combined ensemble trains as one of its members: `pnpm train` trains members, never the wide net.
 * Prints one JSON line.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initTf, tf } from '../../packages/model/src/engine.ts';
import { servingNets } from '../../packages/model/src/ensemble.ts';
import { loadModel } from '../../packages/model/src/io.ts';
import { labelColumns } from '../../packages/model/src/label-head.ts';
import { parseArgs, need } from '../lib/args.ts';

const args = parseArgs(process.argv.slice(2));
const images = new Uint8Array(readFileSync(need(args, 'images')));
const labels = new Uint8Array(readFileSync(need(args, 'labels')));
const bs = Number(need(args, 'batch'));
const warm = Number(args.get('warmup-batches') ?? 3);
const backend = await initTf((args.get('backend') ?? 'wasm') as 'wasm');
const dir = need(args, 'dir');
const wide = await loadModel(dir);
// the same split the tfjs engines serve with; an ensemble trains as its first member
const served = servingNets(wide, JSON.parse(readFileSync(join(dir, 'model-card.json'), 'utf8')));
if (served.members) wide.dispose();
served.nets.slice(1).forEach((p) => p.dispose());
const model = served.nets[0]!;
const members = served.members ? served.nets.length : undefined;
model.compile({ optimizer: tf.train.adam(Number(args.get('lr') ?? 0.001)), loss: 'categoricalCrossentropy' });
const n = Math.min(labels.length, Number(args.get('limit') ?? labels.length));
// a net with a label head answers 10 + L columns (label-head.ts): the class target sits in the first
// ten, as torch_train.py's NLL reads the same columns, so both sides run the same net
const width = 10 + labelColumns(model);
const x = new Float32Array(bs * 784);
const y = new Float32Array(bs * width);
let t0 = performance.now();
let done = 0;
let loss = NaN;
for (let b = 0, from = 0; from < n; b++, from += bs) {
  if (b === warm) {
    t0 = performance.now();
    done = 0;
  }
  const m = Math.min(bs, n - from);
  y.fill(0);
  for (let k = 0; k < m; k++) {
    for (let p = 0; p < 784; p++) x[k * 784 + p] = images[(from + k) * 784 + p]! / 255;
    y[k * width + labels[from + k]!] = 1;
  }
  const xs = tf.tensor4d(x.subarray(0, m * 784), [m, 28, 28, 1]);
  const ys = tf.tensor2d(y.subarray(0, m * width), [m, width]);
  loss = (await model.trainOnBatch(xs, ys)) as number;
  tf.dispose([xs, ys]);
  done += m;
}
const sec = (performance.now() - t0) / 1000;
console.log(
  JSON.stringify({
    backend,
    batch: bs,
    images: done,
    msPer1000: (sec * 1000 * 1000) / done,
    finalLoss: loss,
    ...(members ? { memberOf: members } : {}),
  }),
);

/**
 * Our inference speed on one engine, run as its own process (pinned to one core by the bench):
 * ms/img at each batch size, warm-up excluded, median of as many runs as fit the time budget; plus
 * accuracy on the given labelled images. Prints one JSON line.
 */
import { readFileSync } from 'node:fs';
import { loadClassifier, type BackendChoice } from '../../packages/model/src/index.ts';
import { argmaxRow } from '../../packages/model/src/metrics.ts';
import { parseArgs, need } from '../lib/args.ts';
import { median } from '../lib/stats.ts';

const args = parseArgs(process.argv.slice(2));
const images = new Uint8Array(readFileSync(need(args, 'images')));
const n = images.length / 784;
const t0 = performance.now();
const clf = await loadClassifier({ dir: need(args, 'dir'), backend: need(args, 'backend') as BackendChoice, threads: 1 });
await clf.warmup();
const loadMs = performance.now() - t0;
const seconds = Number(args.get('seconds') ?? 3);
const msPerImg: Record<string, number> = {};
const runs: Record<string, number> = {};
for (const b of need(args, 'batches').split(',').map(Number)) {
  const x = images.subarray(0, Math.min(b, n) * 784);
  for (let i = 0; i < 3; i++) await clf.predict(x, b);
  const times: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  while (times.length < 5 || (performance.now() < deadline && times.length < 200)) {
    const s = performance.now();
    await clf.predict(x, b);
    times.push(performance.now() - s);
  }
  msPerImg[b] = median(times) / b;
  runs[b] = times.length;
}
let accuracy: number | undefined;
if (args.has('labels')) {
  const all = readFileSync(need(args, 'labels'));
  const labels = all.subarray(0, Math.min(all.length, Number(args.get('limit') ?? all.length)));
  let correct = 0;
  for (let i = 0; i < labels.length; i += 1000) {
    const m = Math.min(1000, labels.length - i);
    const p = await clf.predict(images.subarray(i * 784, (i + m) * 784), m);
    for (let k = 0; k < m; k++) if (argmaxRow(p, k).index === labels[i + k]) correct++;
  }
  accuracy = correct / labels.length;
}
console.log(JSON.stringify({ engine: clf.engine, version: clf.version, loadMs, msPerImg, runs, accuracy }));
await clf.dispose();

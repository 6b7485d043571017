import { initTf, tf } from './engine.ts';
import { architecture } from './architectures.ts';
await initTf('wasm');
const arch = process.argv[2] ?? 'ref';
const bs = Number(process.argv[3] ?? 128);
const model = architecture(arch).build(1);
model.compile({ optimizer: tf.train.adam(0.001), loss: 'categoricalCrossentropy' });
const xs = tf.randomUniform([bs, 28, 28, 1]);
const ys = tf.oneHot(tf.randomUniform([bs], 0, 10, 'int32'), 10);
for (let i = 0; i < 3; i++) await model.trainOnBatch(xs, ys);
let t = performance.now();
const N = 8;
for (let i = 0; i < N; i++) await model.trainOnBatch(xs, ys);
const ms = (performance.now() - t) / N;
console.log(arch, 'bs', bs, 'ms/batch', ms.toFixed(1), 's/epoch(55k)', ((ms * 55000) / bs / 1000).toFixed(1));
if (process.argv[4]) {
  const info = await tf.profile(async () => { await model.trainOnBatch(xs, ys); });
  const by = new Map<string, number>();
  for (const k of info.kernels) by.set(k.name, (by.get(k.name) ?? 0) + (k.kernelTimeMs as number));
  console.log([...by].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([k, v]) => `${k} ${v.toFixed(1)}`).join('\n'));
}

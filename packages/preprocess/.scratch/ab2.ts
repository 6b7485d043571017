import { join } from 'node:path';
import { projectRoot } from '@refund-vision/shared';
import { loadClassifier } from '@refund-vision/model';
import { fashionMnist, item, photoImage, rng } from '../src/test-images.ts';
import { loadSharp, decodeWithSharp } from '../src/decode-sharp.ts';
import { inspectImage } from '../src/probe.ts';
import { fitToSquare } from '../src/fit.ts';
import { fitToSquare as oldFit } from './fit-old.ts';
const sharp = (await loadSharp())!;
const test = (await fashionMnist('test'))!;
const model = await loadClassifier({ dir: join(projectRoot(), 'models', 'fashion-cnn') });
const N = 400;
const picks = Array.from({ length: N }, (_, i) => (i * 7919 + 77) % 10000);
const labels = picks.map((k) => test.labels[k]!);
const acc = async (imgs: Uint8Array[]) => { const buf = new Uint8Array(N * 784); imgs.forEach((p, i) => buf.set(p, i * 784)); const pr = await model.predict(buf, N); let c = 0; for (let i = 0; i < N; i++) { let b = 0; for (let k = 1; k < 10; k++) if (pr[i * 10 + k]! > pr[i * 10 + b]!) b = k; if (b === labels[i]) c++; } return (c / N * 100).toFixed(1); };
for (const lit of [false, true]) {
  const a: Uint8Array[] = [], b: Uint8Array[] = [];
  const r = rng(lit ? 9 : 8);
  for (const k of picks) {
    const lighting = lit ? { amount: 20 + r() * 40, angle: r() * 2 * Math.PI } : undefined;
    const jpg = await photoImage(item(test.images, k), { seed: k + 1, lighting });
    const g = await decodeWithSharp(sharp, jpg, inspectImage(jpg), 1e8);
    a.push(oldFit(g).pixels); b.push(fitToSquare(g).pixels);
  }
  console.log(lit ? 'lit' : 'unlit', 'old', await acc(a), 'new', await acc(b));
}
console.log('raw', await acc(picks.map((k) => item(test.images, k))));
await model.dispose();

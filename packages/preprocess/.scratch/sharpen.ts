import { join } from 'node:path';
import { projectRoot } from '@refund-vision/shared';
import { loadClassifier } from '@refund-vision/model';
import { preprocessImage } from '../src/index.ts';
import { fashionMnist, item, photoImage } from '../src/test-images.ts';
const test = (await fashionMnist('test'))!;
const model = await loadClassifier({ dir: join(projectRoot(), 'models', 'fashion-cnn') });
const N = 500;
const picks = Array.from({ length: N }, (_, i) => (i * 7919 + 101) % 10000);
const labels = picks.map((k) => test.labels[k]!);
const outs: Uint8Array[] = [];
for (const k of picks) outs.push((await preprocessImage(await photoImage(item(test.images, k), { seed: k + 7 }))).pixels);
function sharpen(p: Uint8Array, a: number): Uint8Array {
  const o = new Uint8Array(784);
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
    let s = 0, n = 0;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) { const yy = y + dy, xx = x + dx; if (yy >= 0 && yy < 28 && xx >= 0 && xx < 28) { s += p[yy * 28 + xx]!; n++; } }
    const v = p[y * 28 + x]!; o[y * 28 + x] = Math.max(0, Math.min(255, Math.round(v + a * (v - s / n))));
  }
  return o;
}
const acc = async (imgs: Uint8Array[]) => { const buf = new Uint8Array(N * 784); imgs.forEach((p, i) => buf.set(p, i * 784)); const pr = await model.predict(buf, N); let c = 0; for (let i = 0; i < N; i++) { let b = 0; for (let k = 1; k < 10; k++) if (pr[i * 10 + k]! > pr[i * 10 + b]!) b = k; if (b === labels[i]) c++; } return (c / N * 100).toFixed(1); };
const raw = picks.map((k) => item(test.images, k));
console.log('raw', await acc(raw), 'photo', await acc(outs), 'sharpen0.5', await acc(outs.map((p) => sharpen(p, 0.5))), 'sharpen1', await acc(outs.map((p) => sharpen(p, 1))), 'sharpen2', await acc(outs.map((p) => sharpen(p, 2))));
await model.dispose();

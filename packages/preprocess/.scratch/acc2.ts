import { join } from 'node:path';
import { projectRoot } from '@refund-vision/shared';
import { loadClassifier } from '@refund-vision/model';
import { preprocessImage } from '../src/index.ts';
import { fashionMnist, item, photoImage, rng } from '../src/test-images.ts';
const test = (await fashionMnist('test'))!;
const model = await loadClassifier({ dir: join(projectRoot(), 'models', 'fashion-cnn') });
const N = 300;
const picks = Array.from({ length: N }, (_, i) => (i * 7919 + 13) % 10000);
const labels = picks.map((k) => test.labels[k]!);
const acc = async (imgs: Uint8Array[]) => { const buf = new Uint8Array(N * 784); imgs.forEach((p, i) => buf.set(p, i * 784)); const pr = await model.predict(buf, N); let c = 0; const wrong: number[] = []; for (let i = 0; i < N; i++) { let b = 0; for (let k = 1; k < 10; k++) if (pr[i * 10 + k]! > pr[i * 10 + b]!) b = k; if (b === labels[i]) c++; else wrong.push(i); } return [(c / N * 100).toFixed(1), wrong] as const; };
const variants: Record<string, Uint8Array[]> = { none: [], lit: [] };
const litIdx: number[] = [];
const r = rng(4242);
for (const [i, k] of picks.entries()) {
  const orientation = ([1, 1, 1, 3, 6, 8] as const)[Math.floor(r() * 6)]!;
  const quality = 80 + Math.floor(r() * 16);
  const lighting = r() < 0.33 ? { amount: 20 + r() * 40, angle: r() * 2 * Math.PI } : undefined;
  if (lighting) litIdx.push(i);
  variants.none!.push((await preprocessImage(await photoImage(item(test.images, k), { seed: k, orientation, quality }))).pixels);
  variants.lit!.push((await preprocessImage(await photoImage(item(test.images, k), { seed: k, orientation, quality, lighting }))).pixels);
}
const raw = await acc(picks.map((k) => item(test.images, k)));
const a = await acc(variants.none!), b = await acc(variants.lit!);
console.log('raw', raw[0], 'none', a[0], 'lit', b[0], 'lit count', litIdx.length, 'wrong only when lit', b[1].filter((i) => !a[1].includes(i)).length, 'wrong only unlit', a[1].filter((i) => !b[1].includes(i)).length);
await model.dispose();

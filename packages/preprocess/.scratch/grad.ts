import { join } from 'node:path';
import { projectRoot } from '@refund-vision/shared';
import { loadClassifier } from '@refund-vision/model';
import { preprocessImage } from '../src/index.ts';
import { fashionMnist, item, photoRaster, correlation, rng } from '../src/test-images.ts';
import { loadSharp } from '../src/decode-sharp.ts';
const sharp = (await loadSharp())!;
const test = (await fashionMnist('test'))!;
const model = await loadClassifier({ dir: join(projectRoot(), 'models', 'fashion-cnn') });
const N = 200;
const picks = Array.from({ length: N }, (_, i) => (i * 7919 + 555) % 10000);
const labels = picks.map((k) => test.labels[k]!);
const amp = Number(process.argv[2] ?? 40);
const outs: Uint8Array[] = []; let corr = 0;
for (const k of picks) {
  const r = rng(k);
  const { data, width, height } = await photoRaster(item(test.images, k), { seed: k, background: 235 });
  // lighting: multiply by a linear ramp in a random direction
  const ang = r() * Math.PI * 2, cx = Math.cos(ang), cy = Math.sin(ang);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
    const f = 1 + (amp / 235) * (((x / width - 0.5) * cx + (y / height - 0.5) * cy));
    for (let c = 0; c < 3; c++) { const p = (y * width + x) * 3 + c; data[p] = Math.max(0, Math.min(255, Math.round(data[p]! * f))); }
  }
  const jpg = await sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
  const o = await preprocessImage(jpg);
  outs.push(o.pixels); const cc = correlation(o.pixels, item(test.images, k)); corr += cc; if (cc < 0.6) console.log("bad", k, cc.toFixed(2));
}
const acc = async (imgs: Uint8Array[]) => { const buf = new Uint8Array(N * 784); imgs.forEach((p, i) => buf.set(p, i * 784)); const pr = await model.predict(buf, N); let c = 0; for (let i = 0; i < N; i++) { let b = 0; for (let k = 1; k < 10; k++) if (pr[i * 10 + k]! > pr[i * 10 + b]!) b = k; if (b === labels[i]) c++; } return (c / N * 100).toFixed(1); };
console.log('amp', amp, 'raw', await acc(picks.map((k) => item(test.images, k))), 'gradient photos', await acc(outs), 'mean corr', (corr / N).toFixed(3));
await model.dispose();

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { preprocessImage } from '../src/index.ts';
import { loadFashionMnist } from '@refund-vision/model';
import { samplesDir } from '../src/test-images.ts';
const train = await loadFashionMnist('train');
const test = await loadFashionMnist('test');
const dir = samplesDir()!;
const files = ['G1', 'G2'].flatMap((g) => readdirSync(join(dir, g)).map((f) => join(dir, g, f)));
function coarse(imgs: Uint8Array, n: number) { const c = new Float32Array(n * 49); for (let k = 0; k < n; k++) for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) c[k*49 + ((y>>2)*7 + (x>>2))] += imgs[k*784 + y*28 + x]!; return c; }
const t0 = performance.now();
const sets = [train, test].map((d) => ({ d, c: coarse(d.images, d.count) }));
const res: number[] = [];
for (const f of files) {
  const p = (await preprocessImage(f)).pixels;
  const pc = coarse(p, 1);
  let best = Infinity;
  for (const { d, c } of sets) {
    const cand: [number, number][] = [];
    for (let k = 0; k < d.count; k++) { let s = 0; for (let i = 0; i < 49; i++) s += Math.abs(c[k*49+i]! - pc[i]!); cand.push([s, k]); }
    cand.sort((a, b) => a[0] - b[0]);
    for (const [, k] of cand.slice(0, 5)) { let s = 0; for (let i = 0; i < 784; i++) s += Math.abs(d.images[k*784+i]! - p[i]!); best = Math.min(best, s / 784); }
  }
  res.push(best);
}
res.sort((a, b) => a - b);
console.log('ms', (performance.now() - t0).toFixed(0), 'n', res.length, 'under1', res.filter(r => r < 1).length, 'under2', res.filter(r => r < 2).length, 'under3', res.filter(r=>r<3).length, res.map(r => r.toFixed(1)).join(' '));

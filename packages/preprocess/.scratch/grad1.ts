import { fashionMnist, item, photoRaster, rng } from '../src/test-images.ts';
import { loadSharp, decodeWithSharp } from '../src/decode-sharp.ts';
import { inspectImage } from '../src/probe.ts';
import { borderBackground, contentBox, fitToSquare } from '../src/fit.ts';
const sharp = (await loadSharp())!;
const test = (await fashionMnist('test'))!;
const k = Number(process.argv[2] ?? 555), amp = 60;
const r = rng(k);
const { data, width, height } = await photoRaster(item(test.images, k), { seed: k, background: 235 });
const ang = r() * Math.PI * 2, cx = Math.cos(ang), cy = Math.sin(ang);
for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
  const f = 1 + (amp / 235) * (((x / width - 0.5) * cx + (y / height - 0.5) * cy));
  for (let c = 0; c < 3; c++) { const p = (y * width + x) * 3 + c; data[p] = Math.max(0, Math.min(255, Math.round(data[p]! * f))); }
}
const jpg = await sharp(data, { raw: { width, height, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
const g = await decodeWithSharp(sharp, jpg, inspectImage(jpg), 1e8);
const bg = borderBackground(g);
console.log(width, height, 'angle', cx.toFixed(2), cy.toFixed(2), bg, contentBox(g, bg));
const show = (p: Uint8Array) => { let s=''; for (let y=0;y<28;y++){ for(let x=0;x<28;x++) s+= ' .:-=+*#%@'[Math.floor(p[y*28+x]!/25.6)]; s+='|\n'} return s; };
const a = show(item(test.images, k)).split('\n'), b = show(fitToSquare(g).pixels).split('\n');
console.log(a.map((l, i) => l + '   ' + b[i]).join('\n'));

import { loadSharp, decodeWithSharp } from '../src/decode-sharp.ts';
import { probeImage } from '../src/probe.ts';
import { borderBackground, contentBox } from '../src/fit.ts';
import { photoImage, item, rng, fashionMnist } from '../src/test-images.ts';
const test = (await fashionMnist('test'))!;
const i = Number(process.argv[2]), seed = Number(process.argv[3]);
const buf = await photoImage(item(test.images, i), { seed });
const r = rng(seed); const side = 200 + Math.floor(r() * 200); const width = side + 60 + Math.floor(r() * 300); const height = side + 40 + Math.floor(r() * 200); const bgv = 225 + Math.floor(r() * 25);
const left = 10 + Math.floor(r() * (width - side - 20)); const top = 10 + Math.floor(r() * (height - side - 20));
const sharp = (await loadSharp())!;
const g = await decodeWithSharp(sharp, buf, probeImage(buf), 1e8);
const bg = borderBackground(g);
console.log({ side, width, height, bgv, left, top, right: left + side, bottom: top + side }, bg, contentBox(g, bg));
// column profile near right edge of the item
const row = Math.floor(top + side * 0.6);
console.log(Array.from(g.data.subarray(row * width + left + side - 30, row * width + left + side + 10)).join(' '));

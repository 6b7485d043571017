import { fashionMnist, item, photoImage, rng, correlation } from '../src/test-images.ts';
import { loadSharp, decodeWithSharp } from '../src/decode-sharp.ts';
import { inspectImage } from '../src/probe.ts';
import { fitToSquare, borderBackground } from '../src/fit.ts';
import { fitToSquare as oldFit } from './fit-old.ts';
const sharp = (await loadSharp())!;
const test = (await fashionMnist('test'))!;
const r = rng(9);
for (let i = 0; i < 12; i++) {
  const k = (i * 7919 + 77) % 10000;
  const lighting = { amount: 20 + r() * 40, angle: r() * 2 * Math.PI };
  const jpg = await photoImage(item(test.images, k), { seed: k + 1, lighting });
  const g = await decodeWithSharp(sharp, jpg, inspectImage(jpg), 1e8);
  const bg = borderBackground(g);
  console.log(k, lighting.amount.toFixed(0), JSON.stringify(bg), correlation(oldFit(g).pixels, item(test.images, k)).toFixed(2), correlation(fitToSquare(g).pixels, item(test.images, k)).toFixed(2));
}

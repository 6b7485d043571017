import { preprocessImage } from '../src/index.ts';
import { photoImage, datasetPng, item, meanAbsDiff, maxAbsDiff } from '../src/test-images.ts';
import { loadFashionMnist } from '@refund-vision/model';
const test = await loadFashionMnist('test');
for (let i = 0; i < 6; i++) {
  const x = item(test.images, i);
  const d = await datasetPng(x);
  const rd = await preprocessImage(d);
  const p = await photoImage(x, { seed: i });
  const t0 = performance.now();
  const rs = await preprocessImage(p, { decoder: 'sharp' });
  const t1 = performance.now();
  const rj = await preprocessImage(p, { decoder: 'jimp' });
  const t2 = performance.now();
  const p6 = await photoImage(x, { seed: i, orientation: 6 });
  const r6 = await preprocessImage(p6, { decoder: 'sharp' });
  const r6j = await preprocessImage(p6, { decoder: 'jimp' });
  console.log(i, rd.kind, rd.decoder, 'dataset mad', meanAbsDiff(rd.pixels, x).toFixed(2), maxAbsDiff(rd.pixels, x),
    '| photo', rs.kind, rs.width, rs.height, 'vs orig', meanAbsDiff(rs.pixels, x).toFixed(2), 'sharp-jimp', meanAbsDiff(rs.pixels, rj.pixels).toFixed(2), maxAbsDiff(rs.pixels, rj.pixels),
    'rot6', r6.width, r6.height, meanAbsDiff(rs.pixels, r6.pixels).toFixed(2), meanAbsDiff(rs.pixels, r6j.pixels).toFixed(2), `${(t1-t0).toFixed(0)}ms ${(t2-t1).toFixed(0)}ms`);
}

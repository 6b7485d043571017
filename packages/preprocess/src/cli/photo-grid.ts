/**
 * Renders what preprocessImage makes of real photos: a grid of (photo thumbnail | its 28×28
 * output enlarged), for a fixed, varied sample of ../shared/data/clothing-photos, to look at.
 * `tsx packages/preprocess/src/cli/photo-grid.ts --out grid.png [--n 60] [--seed 9] [--labels Shoes,Pants] [--ids 9767d117,639e07c5]`
 * (--ids: photos whose id starts with one of these, instead of the sample)
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadSharp } from '../decode-sharp.ts';
import { preprocessImage } from '../index.ts';
import { clothingPhotosDir, pickPhotos, readPhotoRows } from '../photo-sample.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'photo-grid.png' },
    n: { type: 'string', default: '60' },
    seed: { type: 'string', default: '9' },
    labels: { type: 'string' },
    ids: { type: 'string' },
    cols: { type: 'string', default: '6' },
  },
});
const dir = clothingPhotosDir();
if (!dir) throw new Error('no clothing photos: set CLOTHING_PHOTOS_DIR or put them in ../shared/data/clothing-photos');
const sharp = await loadSharp();
if (!sharp) throw new Error('photo-grid needs sharp for the thumbnails');

const T = 112; // tile side
const GAP = 8;
const LABEL = 14;
const all = readPhotoRows(dir);
const ids = values.ids?.split(',');
const photos = ids
  ? all.filter((p) => ids.some((id) => p.id.startsWith(id)))
  : pickPhotos(all, Number(values.n), { seed: Number(values.seed), labels: values.labels?.split(',') });
const cols = Number(values.cols);
const rows = Math.ceil(photos.length / cols);
const cellW = 2 * T + GAP;
const cellH = T + LABEL + GAP;
const W = cols * cellW;
const H = rows * cellH;
const canvas = Buffer.alloc(W * H * 3, 255);

function blit(rgb: Buffer | Uint8Array, w: number, h: number, x0: number, y0: number) {
  for (let y = 0; y < h; y++) Buffer.from(rgb.buffer, rgb.byteOffset + y * w * 3, w * 3).copy(canvas, ((y0 + y) * W + x0) * 3);
}

const texts: string[] = [];
for (const [i, p] of photos.entries()) {
  const x0 = (i % cols) * cellW;
  const y0 = Math.floor(i / cols) * cellH;
  const thumb = await sharp(p.path).rotate().resize(T, T, { fit: 'contain', background: '#ffffff' }).removeAlpha().raw().toBuffer();
  blit(thumb, T, T, x0, y0);
  let caption = `${p.label} s${p.sender}`;
  try {
    const { pixels } = await preprocessImage(p.path);
    const big = Buffer.alloc(T * T * 3);
    for (let y = 0; y < T; y++)
      for (let x = 0; x < T; x++)
        big.fill(pixels[Math.floor((y * 28) / T) * 28 + Math.floor((x * 28) / T)]!, (y * T + x) * 3, (y * T + x) * 3 + 3);
    blit(big, T, T, x0 + T, y0);
  } catch (e) {
    caption += ` ERROR ${(e as Error).message}`;
  }
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  texts.push(`<text x="${x0 + 2}" y="${y0 + T + LABEL - 3}">${esc(`${i + 1} ${caption} ${p.id.slice(0, 8)}`)}</text>`);
}
const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><g font-family="sans-serif" font-size="11" fill="#000">${texts.join('')}</g></svg>`;
const png = await sharp(canvas, { raw: { width: W, height: H, channels: 3 } })
  .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
  .png()
  .toBuffer();
writeFileSync(values.out!, png);
console.log(`${photos.length} photos from ${dir} → ${values.out} (${W}×${H})`);

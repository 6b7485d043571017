/**
 * Gray raster → 28×28 in Fashion-MNIST's terms (0 = background, bright = item).
 *
 * Fashion-MNIST was made from product photos on light backgrounds: trim, longest edge to 28,
 * centre on the square, negate. A photo gets the same treatment here. An image that is already in
 * the dataset's form (light item on a dark background, e.g. an upscaled dataset image) is only
 * area-averaged: trimming and refitting it would resample the item a second time and blur it. The
 * kind is read from the border, which is background in both.
 */
import { borderBackground, planeAt, type Background } from './background.ts';
import type { Gray } from './raster.ts';
import { segmentPhoto, type Segmentation } from './segment.ts';

export const SIDE = 28;
export type Kind = 'dataset' | 'photo';

export interface Fitted {
  pixels: Uint8Array;
  kind: Kind;
}

/** Box in source pixels, [x0, x1) × [y0, y1). */
interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * Bounding box of what differs from the background. A row or column counts only when enough of
 * its pixels differ, so sensor noise and JPEG ringing in the margin do not stretch the box.
 */
export function contentBox(img: Gray, bg: Background): Box | undefined {
  const { data, width: w, height: h } = img;
  const threshold = Math.max(16, 4 * bg.spread);
  // Repeated rows can be reused only when the background is the same on every row.
  const sameAsAbove = bg.by === 0 ? img.sameAsAbove : undefined;
  const rows = new Uint32Array(h);
  const cols = new Uint32Array(w);
  // Columns hit by the last distinct row, credited once per repetition of that row.
  const hits = new Int32Array(w);
  let nHits = 0;
  let times = 0;
  const credit = () => {
    for (let i = 0; i < nHits; i++) cols[hits[i]!]! += times;
  };
  for (let y = 0; y < h; y++) {
    if (y > 0 && sameAsAbove?.[y]) {
      rows[y] = rows[y - 1]!;
      times++;
      continue;
    }
    credit();
    const row = y * w;
    nHits = 0;
    const flat = bg.bx === 0 && bg.by === 0;
    for (let x = 0; x < w; x++) {
      const d = data[row + x]! - (flat ? bg.level : planeAt(bg, w, h, x, y));
      if (d < -threshold || d > threshold) hits[nHits++] = x;
    }
    rows[y] = nHits;
    times = 1;
  }
  credit();
  const minInRow = Math.max(1, Math.ceil(w * 0.004));
  const minInCol = Math.max(1, Math.ceil(h * 0.004));
  let y0 = 0;
  while (y0 < h && rows[y0]! < minInRow) y0++;
  if (y0 === h) return undefined;
  let y1 = h;
  while (rows[y1 - 1]! < minInRow) y1--;
  let x0 = 0;
  while (x0 < w && cols[x0]! < minInCol) x0++;
  if (x0 === w) return undefined;
  let x1 = w;
  while (cols[x1 - 1]! < minInCol) x1--;
  return { x0, y0, x1, y1 };
}

/**
 * Area weights along one axis: output cell j (of SIDE) covers source interval
 * [from + (j − at)·step, … + step); only source pixels inside [lo, hi) count, the rest of the
 * cell is background. `first[j]`..`first[j]+count[j]` are the pixels, `inside[j]` their weight sum.
 */
interface AxisWeights {
  first: Int32Array;
  count: Int32Array;
  weights: Float64Array[];
  inside: Float64Array;
}

function axisWeights(from: number, at: number, step: number, lo: number, hi: number): AxisWeights {
  const first = new Int32Array(SIDE);
  const count = new Int32Array(SIDE);
  const weights: Float64Array[] = [];
  const inside = new Float64Array(SIDE);
  for (let j = 0; j < SIDE; j++) {
    const a = from + (j - at) * step;
    const b = a + step;
    const k0 = Math.max(lo, Math.floor(a));
    const k1 = Math.min(hi, Math.ceil(b));
    const n = Math.max(0, k1 - k0);
    const wj = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const k = k0 + i;
      const overlap = Math.min(b, k + 1) - Math.max(a, k);
      wj[i] = overlap > 0 ? overlap / step : 0;
      sum += wj[i]!;
    }
    first[j] = k0;
    count[j] = n;
    weights.push(wj);
    inside[j] = sum;
  }
  return { first, count, weights, inside };
}

/**
 * Area-averages `box` of the image into the 28×28 square: longest edge to 28, centred, the rest
 * `background` (per output cell). Returns float gray values (still light-on-dark or dark-on-light
 * as in the source).
 */
export function areaFit(img: Gray, box: Box, background: Float64Array, rowsRepeat = true): Float64Array {
  const bw = box.x1 - box.x0;
  const bh = box.y1 - box.y0;
  const step = Math.max(bw, bh) / SIDE; // source pixels per output pixel
  const atX = (SIDE - bw / step) / 2;
  const atY = (SIDE - bh / step) / 2;
  const wx = axisWeights(box.x0, atX, step, box.x0, box.x1);
  const wy = axisWeights(box.y0, atY, step, box.y0, box.y1);
  const { data, width: w } = img;
  const sameAsAbove = rowsRepeat ? img.sameAsAbove : undefined;

  // Horizontal pass over the box's rows (a repeated row reuses the one above), then vertical.
  const rowsH = box.y1 - box.y0;
  const tmp = new Float64Array(rowsH * SIDE);
  for (let r = 0; r < rowsH; r++) {
    const o = r * SIDE;
    if (r > 0 && sameAsAbove?.[box.y0 + r]) {
      tmp.copyWithin(o, o - SIDE, o);
      continue;
    }
    const row = (box.y0 + r) * w;
    for (let j = 0; j < SIDE; j++) {
      const n = wx.count[j]!;
      if (n === 0) continue;
      const k0 = row + wx.first[j]!;
      const wj = wx.weights[j]!;
      let s = 0;
      for (let i = 0; i < n; i++) s += wj[i]! * data[k0 + i]!;
      tmp[o + j] = s;
    }
  }
  const out = new Float64Array(SIDE * SIDE);
  for (let i = 0; i < SIDE; i++) {
    const n = wy.count[i]!;
    const r0 = wy.first[i]! - box.y0;
    const wi = wy.weights[i]!;
    for (let j = 0; j < SIDE; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += wi[k]! * tmp[(r0 + k) * SIDE + j]!;
      out[i * SIDE + j] = s + (1 - wy.inside[i]! * wx.inside[j]!) * background[i * SIDE + j]!;
    }
  }
  return out;
}

/** A dark-background image whose content spans less than this share of its longest side is a photo
 *  on a dark backdrop, not a dataset image, and is trimmed like a photo (but not negated). */
const DATASET_FILL = 0.8;
/**
 * A border this even (robust spread in gray levels) is a studio-like background: a dark one is a
 * dataset image, a light one a product shot, and the plane model with a plain trim handles both
 * exactly (Fashion-MNIST's own recipe). Anything busier (a bed, a floor, a rug) is segmented.
 */
const EVEN_BORDER = { dark: 6, light: 8 };
/** Segmented items start at this level, so a flat part of an item is not mistaken for background
 *  (set accuracy on real photos, README: a stretch from 0 was worse than 120; 80 was best). */
const ITEM_FLOOR = 80;

/** The background under each output cell when `box` is fitted: the plane at the cell's centre in source coordinates. */
function cellBackground(img: Gray, bg: Background, box: Box): Float64Array {
  const step = Math.max(box.x1 - box.x0, box.y1 - box.y0) / SIDE;
  const cellBg = new Float64Array(SIDE * SIDE);
  for (let i = 0; i < SIDE; i++) {
    for (let j = 0; j < SIDE; j++) {
      const sx = (box.x0 + box.x1) / 2 + (j + 0.5 - SIDE / 2) * step - 0.5;
      const sy = (box.y0 + box.y1) / 2 + (i + 0.5 - SIDE / 2) * step - 0.5;
      cellBg[i * SIDE + j] = planeAt(bg, img.width, img.height, sx, sy);
    }
  }
  return cellBg;
}

export function fitToSquare(img: Gray): Fitted {
  const bg = borderBackground(img);
  const even = bg.spread <= (bg.level < 128 ? EVEN_BORDER.dark : EVEN_BORDER.light);
  if (!even) {
    const seg = segmentPhoto(img);
    if (seg) return { pixels: renderSegmented(img, bg, seg), kind: 'photo' };
  }
  const kind: Kind = bg.level >= 128 ? 'photo' : 'dataset';
  const whole: Box = { x0: 0, y0: 0, x1: img.width, y1: img.height };
  const content = contentBox(img, bg);
  const pixels = new Uint8Array(SIDE * SIDE);
  if (!content) return { pixels, kind }; // nothing but background
  let box = content;
  if (kind === 'dataset') {
    const span = Math.max(content.x1 - content.x0, content.y1 - content.y0);
    if (span >= DATASET_FILL * Math.max(img.width, img.height)) box = whole;
  }
  const cellBg = cellBackground(img, bg, box);
  const v = areaFit(img, box, cellBg, bg.by === 0);
  // Background → 0, full contrast → 255; negated for photos (dark item on light ground).
  for (let k = 0; k < v.length; k++) {
    const b = cellBg[k]!;
    pixels[k] = kind === 'photo' ? clamp(((b - v[k]!) * 255) / Math.max(b, 1)) : clamp(((v[k]! - b) * 255) / Math.max(255 - b, 1));
  }
  // A dataset image fitted whole keeps its own levels: it is the dataset's item already.
  return { pixels: box === whole ? pixels : toFullRange(pixels), kind };
}

/**
 * A segmented photo → 28×28: the mask's bounding box fitted like any other box; each cell is the
 * item's darkness against the background (negated, as Fashion-MNIST's were — also for an item
 * lighter than its ground: choosing the polarity by the item's median measured worse), stretched
 * over the item so a dark item on a dark floor is not black, times the share of the cell the mask
 * covers, so the background is exactly 0.
 */
function renderSegmented(img: Gray, bg: Background, seg: Segmentation): Uint8Array {
  const f = seg.factor;
  const sb = seg.box;
  const box: Box = { x0: sb.x0 * f, y0: sb.y0 * f, x1: Math.min(img.width, sb.x1 * f), y1: Math.min(img.height, sb.y1 * f) };
  const cellBg = cellBackground(img, bg, box);
  const v = areaFit(img, box, cellBg, bg.by === 0);
  const maskImg: Gray = { data: seg.mask, width: seg.width, height: seg.height };
  const cover = areaFit(maskImg, sb, new Float64Array(SIDE * SIDE), false);
  const diff = new Float64Array(SIDE * SIDE);
  const inside: number[] = [];
  for (let k = 0; k < diff.length; k++) {
    diff[k] = v[k]! - cellBg[k]!;
    if (cover[k]! >= 0.5) inside.push(diff[k]!);
  }
  const vals = inside.map((d) => -d).sort((a, b) => a - b);
  const lo = vals.length ? vals[Math.floor(0.02 * vals.length)]! : 0;
  const hi = vals.length ? vals[Math.min(vals.length - 1, Math.floor(0.98 * vals.length))]! : 1;
  const range = Math.max(hi - lo, 8);
  const pixels = new Uint8Array(SIDE * SIDE);
  for (let k = 0; k < diff.length; k++) {
    const c = Math.min(1, cover[k]!);
    if (c <= 0) continue;
    const d = -diff[k]!;
    const s = Math.max(0, Math.min(1, (d - lo) / range));
    pixels[k] = clamp(c * (ITEM_FLOOR + (255 - ITEM_FLOOR) * s));
  }
  return pixels;
}
/** Below this, the brightest pixel is noise, not an item, and is left alone. */
const MIN_ITEM_LEVEL = 24;

/**
 * Every Fashion-MNIST image reaches 250–255 (all 10,000 test images): a faint trimmed item (a
 * white top on a white table) is scaled up so its brightest pixel is 255. Linear, so 0 stays 0.
 */
function toFullRange(pixels: Uint8Array): Uint8Array {
  let max = 0;
  for (const v of pixels) if (v > max) max = v;
  if (max >= 255 || max < MIN_ITEM_LEVEL) return pixels;
  for (let k = 0; k < pixels.length; k++) pixels[k] = clamp((pixels[k]! * 255) / max);
  return pixels;
}

const clamp = (x: number) => (x <= 0 ? 0 : x >= 255 ? 255 : Math.round(x));

/**
 * Gray raster → 28×28 in Fashion-MNIST's terms (0 = background, bright = item).
 *
 * Fashion-MNIST was made from product photos on light backgrounds: trim, longest edge to 28,
 * centre on the square, negate. A photo gets the same treatment here. An image that is already in
 * the dataset's form (light item on a dark background, e.g. an upscaled dataset image) is only
 * area-averaged: trimming and refitting it would resample the item a second time and blur it. The
 * kind is read from the border, which is background in both.
 */
import type { Gray } from './raster.ts';

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
 * The background as a plane, level + bx·(x − cx) + by·(y − cy) with (cx, cy) the image centre: a
 * constant for dark (dataset-like) images, and for photos a tilt when the border shows an even
 * lighting gradient (a lamp to one side), so the fall-off is neither mistaken for the item nor
 * left in the negated result.
 */
export interface Background {
  level: number;
  bx: number;
  by: number;
  /** Robust spread of the border around the plane (MAD × 1.4826). */
  spread: number;
}

function medianOfHistogram(hist: Uint32Array, total: number): number {
  const half = total / 2;
  let acc = 0;
  for (let v = 0; v < hist.length; v++) {
    acc += hist[v]!;
    if (acc >= half) return v;
  }
  return hist.length - 1;
}

/** The rim is ~2% of the short side thick. */
const rimThickness = (w: number, h: number) => Math.max(1, Math.min(Math.round(Math.min(w, h) * 0.02), Math.floor(Math.min(w, h) / 2)));

/** Calls fn(x, y) for every pixel of the rim. */
function rim(w: number, h: number, t: number, fn: (x: number, y: number) => void): void {
  for (let y = 0; y < h; y++) {
    if (y < t || y >= h - t) {
      for (let x = 0; x < w; x++) fn(x, y);
    } else {
      for (let x = 0; x < t; x++) fn(x, y);
      for (let x = w - t; x < w; x++) fn(x, y);
    }
  }
}

/** The background at (x, y); clipped like the pixels are (a bright lamp side saturates at 255). */
export function planeAt(bg: Background, w: number, h: number, x: number, y: number): number {
  const v = bg.level + bg.bx * (x - (w - 1) / 2) + bg.by * (y - (h - 1) / 2);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

function spreadAround(img: Gray, bg: Background): number {
  const { data, width: w, height: h } = img;
  const dev = new Uint32Array(256);
  let total = 0;
  rim(w, h, rimThickness(w, h), (x, y) => {
    dev[Math.min(255, Math.round(Math.abs(data[y * w + x]! - planeAt(bg, w, h, x, y))))]!++;
    total++;
  });
  return medianOfHistogram(dev, total) * 1.4826;
}

/**
 * Least-squares plane through the rim's unclipped pixels, refitted twice without the outliers
 * (the item where it touches the border, shadows). Clipped highlights (≥ 254) are left out of the
 * fit — a lamp side blown out to white says nothing about the slope — and planeAt() clips like
 * the camera did. Undefined when too little of the rim is usable.
 */
function fitPlane(img: Gray, t: number, start: Background): Background | undefined {
  const { data, width: w, height: h } = img;
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  let plane = start;
  let limit = Math.max(8, 3 * start.spread);
  for (let pass = 0; pass < 3; pass++) {
    let n = 0,
      sx = 0,
      sy = 0,
      sxx = 0,
      sxy = 0,
      syy = 0,
      sv = 0,
      sxv = 0,
      syv = 0;
    let total = 0;
    rim(w, h, t, (x, y) => {
      total++;
      const v = data[y * w + x]!;
      if (v >= 254 || Math.abs(v - planeAt(plane, w, h, x, y)) > limit) return;
      const dx = x - cx;
      const dy = y - cy;
      n++;
      sx += dx;
      sy += dy;
      sxx += dx * dx;
      sxy += dx * dy;
      syy += dy * dy;
      sv += v;
      sxv += dx * v;
      syv += dy * v;
    });
    if (n < total / 4) return undefined;
    // Normal equations for v = level + bx·dx + by·dy (Cramer's rule on the 3×3 system).
    const det = n * (sxx * syy - sxy * sxy) - sx * (sx * syy - sxy * sy) + sy * (sx * sxy - sxx * sy);
    if (Math.abs(det) < 1e-9) return undefined;
    const level = (sv * (sxx * syy - sxy * sxy) - sx * (sxv * syy - sxy * syv) + sy * (sxv * sxy - sxx * syv)) / det;
    const bx = (n * (sxv * syy - sxy * syv) - sv * (sx * syy - sxy * sy) + sy * (sx * syv - sxv * sy)) / det;
    const by = (n * (sxx * syv - sxv * sxy) - sx * (sx * syv - sxv * sy) + sv * (sx * sxy - sxx * sy)) / det;
    plane = { level, bx, by, spread: 0 };
    plane.spread = spreadAround(img, plane);
    limit = Math.max(8, 3 * plane.spread);
  }
  return plane;
}

/** Background level (rim median), lighting tilt for light backgrounds, and the rim's spread. */
export function borderBackground(img: Gray): Background {
  const { data, width: w, height: h } = img;
  const all = new Uint32Array(256);
  let total = 0;
  const t = rimThickness(w, h);
  rim(w, h, t, (x, y) => {
    all[data[y * w + x]!]!++;
    total++;
  });
  const flat: Background = { level: medianOfHistogram(all, total), bx: 0, by: 0, spread: 0 };
  flat.spread = spreadAround(img, flat);
  if (flat.level < 128 || w <= 2 * t || h <= 2 * t) return flat;
  const tilted = fitPlane(img, t, flat);
  // Keep the tilt only when it explains the border better than a constant does.
  return tilted && tilted.spread < flat.spread ? tilted : flat;
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

export function fitToSquare(img: Gray): Fitted {
  const bg = borderBackground(img);
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
  // The background under each output cell: the plane at the cell's centre in source coordinates.
  const step = Math.max(box.x1 - box.x0, box.y1 - box.y0) / SIDE;
  const cellBg = new Float64Array(SIDE * SIDE);
  for (let i = 0; i < SIDE; i++) {
    for (let j = 0; j < SIDE; j++) {
      const sx = (box.x0 + box.x1) / 2 + (j + 0.5 - SIDE / 2) * step - 0.5;
      const sy = (box.y0 + box.y1) / 2 + (i + 0.5 - SIDE / 2) * step - 0.5;
      cellBg[i * SIDE + j] = planeAt(bg, img.width, img.height, sx, sy);
    }
  }
  const v = areaFit(img, box, cellBg, bg.by === 0);
  // Background → 0, full contrast → 255; negated for photos (dark item on light ground).
  for (let k = 0; k < v.length; k++) {
    const b = cellBg[k]!;
    pixels[k] = kind === 'photo' ? clamp(((b - v[k]!) * 255) / Math.max(b, 1)) : clamp(((v[k]! - b) * 255) / Math.max(255 - b, 1));
  }
  return { pixels, kind };
}

const clamp = (x: number) => (x <= 0 ? 0 : x >= 255 ? 255 : Math.round(x));

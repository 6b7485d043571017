/**
 * Finds the item in a real photo (a garment on a bed, floor, table or hanger) as a mask on a small
 * copy of the image (longest side ≤ 128 px, so it stays well under a millisecond or two).
 *
 * The background is what the border shows: its colours are clustered (k-means in a luma +
 * opponent-colour space, after removing a lighting tilt), and a pixel is item when it is far from
 * every cluster relative to that cluster's own spread — so a patterned bed needs a larger
 * difference than a plain floor, and a red shirt on a gray floor of the same luma is still found.
 * Then: an opening drops thin structures (a hanger's wire, threads, texture specks), a closing
 * joins the item's parts, components much smaller than the largest are dropped (a pair of shoes
 * keeps both), holes are filled.
 */
import { borderBackground, planeAt } from './background.ts';
import { thumbFactor, type Gray } from './raster.ts';

export interface Segmentation {
  /** 1 = item, on the thumbnail grid. */
  mask: Uint8Array;
  width: number;
  height: number;
  /** Source pixels per mask pixel. */
  factor: number;
  /** Bounding box of the mask, [x0, x1) × [y0, y1), in mask pixels. */
  box: { x0: number; y0: number; x1: number; y1: number };
  /** Share of the thumbnail that is item. */
  area: number;
}

interface Thumb {
  /** Features per pixel: luma, red−green, yellow−blue (0–255 scale). */
  f: Float32Array[];
  luma: Uint8Array;
  width: number;
  height: number;
  factor: number;
}

function thumbnail(img: Gray): Thumb {
  const c = img.color;
  if (c) {
    const n = c.width * c.height;
    const L = new Float32Array(n);
    const A = new Float32Array(n);
    const B = new Float32Array(n);
    const luma = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const r = c.r[i]!;
      const g = c.g[i]!;
      const b = c.b[i]!;
      L[i] = 0.299 * r + 0.587 * g + 0.114 * b;
      luma[i] = Math.round(L[i]!);
      A[i] = r - g;
      B[i] = (r + g) / 2 - b;
    }
    return { f: [L, A, B], luma, width: c.width, height: c.height, factor: c.factor };
  }
  // Gray only (e.g. a PNG decoded by png-fast): block-average the gray like colorThumb does.
  const { data, width: w, height: h } = img;
  const k = thumbFactor(w, h);
  const tw = Math.ceil(w / k);
  const th = Math.ceil(h / k);
  const sum = new Float64Array(tw * th);
  const cnt = new Uint32Array(tw * th);
  for (let y = 0; y < h; y++) {
    const trow = ((y / k) | 0) * tw;
    for (let x = 0; x < w; x++) {
      const t = trow + ((x / k) | 0);
      sum[t] = sum[t]! + data[y * w + x]!;
      cnt[t]!++;
    }
  }
  const L = new Float32Array(tw * th);
  const luma = new Uint8Array(tw * th);
  for (let t = 0; t < L.length; t++) luma[t] = Math.round((L[t] = sum[t]! / cnt[t]!));
  return { f: [L], luma, width: tw, height: th, factor: k };
}

/** 3×3 box blur (edges clamped): JPEG blocks and fabric texture are not the item's outline. */
function blur(p: Float32Array, w: number, h: number): Float32Array {
  const tmp = new Float32Array(p.length);
  const out = new Float32Array(p.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const r = y * w;
      tmp[r + x] = (p[r + Math.max(0, x - 1)]! + p[r + x]! + p[r + Math.min(w - 1, x + 1)]!) / 3;
    }
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      out[y * w + x] = (tmp[Math.max(0, y - 1) * w + x]! + tmp[y * w + x]! + tmp[Math.min(h - 1, y + 1) * w + x]!) / 3;
  return out;
}

/** A cluster's distance scale never goes below this (0–255 units): sensor noise and JPEG error. */
const MIN_SCALE = 5;
/** An item pixel is further than this many of the nearest cluster's scales from it… */
const SCALES = 2;
/** …and at least this far in absolute terms. */
const MIN_DISTANCE = 18;
const K = 3;

interface Cluster {
  centre: number[];
  scale: number;
}

/** k-means on the rim's pixels; clusters holding under 10% of the rim (the item where it touches the border) are dropped. */
function backgroundClusters(f: Float32Array[], idx: number[]): Cluster[] {
  const d = f.length;
  const byLuma = [...idx].sort((a, b) => f[0]![a]! - f[0]![b]!);
  let centres = Array.from({ length: K }, (_, k) => f.map((p) => p[byLuma[Math.floor(((k + 0.5) / K) * byLuma.length)]!]!));
  const assign = new Int32Array(idx.length);
  for (let iter = 0; iter < 8; iter++) {
    const sums = centres.map(() => new Float64Array(d + 1));
    idx.forEach((i, n) => {
      let best = 0;
      let bestD = Infinity;
      for (let k = 0; k < centres.length; k++) {
        let s = 0;
        for (let c = 0; c < d; c++) s += (f[c]![i]! - centres[k]![c]!) ** 2;
        if (s < bestD) [best, bestD] = [k, s];
      }
      assign[n] = best;
      const acc = sums[best]!;
      for (let c = 0; c < d; c++) acc[c] = acc[c]! + f[c]![i]!;
      acc[d] = acc[d]! + 1;
    });
    centres = centres.map((old, k) => (sums[k]![d]! ? Array.from({ length: d }, (_, c) => sums[k]![c]! / sums[k]![d]!) : old));
  }
  const sq = new Float64Array(K);
  const count = new Float64Array(K);
  idx.forEach((i, n) => {
    const k = assign[n]!;
    let s = 0;
    for (let c = 0; c < d; c++) s += (f[c]![i]! - centres[k]![c]!) ** 2;
    sq[k] = sq[k]! + s;
    count[k] = count[k]! + 1;
  });
  return centres
    .map((centre, k) => ({ centre, scale: Math.max(MIN_SCALE, Math.sqrt(sq[k]! / Math.max(1, count[k]!))), share: count[k]! / idx.length }))
    .filter((c) => c.share >= 0.1);
}

function erode(m: Uint8Array, w: number, h: number): Uint8Array {
  const out = new Uint8Array(m.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let v = 1;
      for (let dy = -1; dy <= 1 && v; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          // Outside the image counts as item, so an item touching the border is not eaten from there.
          if (yy >= 0 && yy < h && xx >= 0 && xx < w && !m[yy * w + xx]) {
            v = 0;
            break;
          }
        }
      out[y * w + x] = v;
    }
  return out;
}

function dilate(m: Uint8Array, w: number, h: number): Uint8Array {
  const out = new Uint8Array(m.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let v = 0;
      for (let dy = -1; dy <= 1 && !v; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const yy = y + dy;
          const xx = x + dx;
          if (yy >= 0 && yy < h && xx >= 0 && xx < w && m[yy * w + xx]) {
            v = 1;
            break;
          }
        }
      out[y * w + x] = v;
    }
  return out;
}

/** Connected components (8-neighbourhood) of the item pixels: label per pixel (0 = none) and sizes. */
function components(m: Uint8Array, w: number, h: number): { label: Int32Array; sizes: number[] } {
  const label = new Int32Array(m.length);
  const sizes = [0];
  const stack: number[] = [];
  for (let s = 0; s < m.length; s++) {
    if (!m[s] || label[s]) continue;
    const id = sizes.length;
    let size = 0;
    label[s] = id;
    stack.push(s);
    while (stack.length) {
      const p = stack.pop()!;
      size++;
      const x = p % w;
      const y = (p - x) / w;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          const yy = y + dy;
          if (xx < 0 || xx >= w || yy < 0 || yy >= h) continue;
          const q = yy * w + xx;
          if (m[q] && !label[q]) {
            label[q] = id;
            stack.push(q);
          }
        }
    }
    sizes.push(size);
  }
  return { label, sizes };
}

/** Background pixels not reachable from the border (4-neighbourhood) are holes in the item: filled. */
function fillHoles(m: Uint8Array, w: number, h: number): Uint8Array {
  const outside = new Uint8Array(m.length);
  const stack: number[] = [];
  const seed = (p: number) => {
    if (!m[p] && !outside[p]) {
      outside[p] = 1;
      stack.push(p);
    }
  };
  for (let x = 0; x < w; x++) [seed(x), seed((h - 1) * w + x)];
  for (let y = 0; y < h; y++) [seed(y * w), seed(y * w + w - 1)];
  while (stack.length) {
    const p = stack.pop()!;
    const x = p % w;
    if (x > 0) seed(p - 1);
    if (x < w - 1) seed(p + 1);
    if (p >= w) seed(p - w);
    if (p < (h - 1) * w) seed(p + w);
  }
  const out = new Uint8Array(m.length);
  for (let p = 0; p < m.length; p++) out[p] = outside[p] ? 0 : 1;
  return out;
}

/** The item's mask, or undefined when nothing plausible stands out from the background. */
export function segmentPhoto(img: Gray): Segmentation | undefined {
  const t = thumbnail(img);
  const { width: w, height: h } = t;
  const n = w * h;
  if (w < 8 || h < 8) return undefined;
  const f = t.f.map((p) => blur(p, w, h));
  // Lighting tilt: a lamp to one side changes the bed's luma across the image, not its colour.
  const bg = borderBackground({ data: t.luma, width: w, height: h });
  if (bg.bx || bg.by)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) f[0]![y * w + x] = f[0]![y * w + x]! - planeAt(bg, w, h, x, y) - bg.level;
  const r = Math.max(2, Math.round(Math.min(w, h) * 0.04));
  const rimIdx: number[] = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (x < r || y < r || x >= w - r || y >= h - r) rimIdx.push(y * w + x);
  const clusters = backgroundClusters(f, rimIdx);
  let mask: Uint8Array = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let near = Infinity;
    for (const c of clusters) {
      let s = 0;
      for (let k = 0; k < f.length; k++) s += (f[k]![i]! - c.centre[k]!) ** 2;
      near = Math.min(near, Math.sqrt(s) / Math.max(MIN_DISTANCE / SCALES, c.scale));
    }
    mask[i] = near > SCALES ? 1 : 0;
  }
  // Opening (thin structures and specks out), then closing (the item's parts joined).
  mask = dilate(erode(mask, w, h), w, h);
  mask = erode(erode(dilate(dilate(mask, w, h), w, h), w, h), w, h);
  const { label, sizes } = components(mask, w, h);
  const largest = Math.max(...sizes);
  if (largest < n * 0.01) return undefined;
  const keep = sizes.map((s) => s >= largest * 0.2);
  for (let i = 0; i < n; i++) mask[i] = keep[label[i]!] && label[i] ? 1 : 0;
  mask = fillHoles(mask, w, h);
  let x0 = w,
    y0 = h,
    x1 = 0,
    y1 = 0,
    area = 0;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (mask[y * w + x]) {
        area++;
        if (x < x0) x0 = x;
        if (x >= x1) x1 = x + 1;
        if (y < y0) y0 = y;
        if (y >= y1) y1 = y + 1;
      }
  return { mask, width: w, height: h, factor: t.factor, box: { x0, y0, x1, y1 }, area: area / n };
}

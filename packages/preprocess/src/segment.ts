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
  // Luma is always block-averaged from the gray raster, so a gray image gives the same features
  // whether its decoder had colour (sharp, jimp) or not (png-fast); colour only adds the two
  // opponent channels.
  const { data, width: w, height: h } = img;
  const k = thumbFactor(w, h);
  const tw = Math.ceil(w / k);
  const th = Math.ceil(h / k);
  const sum = new Uint32Array(tw * th);
  const col = new Int32Array(w);
  for (let x = 0; x < w; x++) col[x] = (x / k) | 0;
  for (let y = 0; y < h; y++) {
    const row = sum.subarray(((y / k) | 0) * tw, ((y / k) | 0) * tw + tw);
    for (let x = 0, i = y * w; x < w; x++, i++) row[col[x]!] = row[col[x]!]! + data[i]!;
  }
  const L = new Float32Array(tw * th);
  const luma = new Uint8Array(tw * th);
  for (let ty = 0; ty < th; ty++)
    for (let tx = 0; tx < tw; tx++) {
      const t = ty * tw + tx;
      const cnt = (Math.min(h, (ty + 1) * k) - ty * k) * (Math.min(w, (tx + 1) * k) - tx * k);
      luma[t] = Math.round((L[t] = sum[t]! / cnt));
    }
  const c = img.color?.();
  if (!c || c.width !== tw || c.height !== th) return { f: [L], luma, width: tw, height: th, factor: k };
  const A = new Float32Array(tw * th);
  const B = new Float32Array(tw * th);
  for (let i = 0; i < A.length; i++) {
    A[i] = c.r[i]! - c.g[i]!;
    B[i] = (c.r[i]! + c.g[i]!) / 2 - c.b[i]!;
  }
  return { f: [L, A, B], luma, width: tw, height: th, factor: k };
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
  share: number;
}

/** k-means on the rim's pixels: centre, distance scale and share of the rim per cluster. */
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
        if (s < bestD) {
          best = k;
          bestD = s;
        }
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
    .filter((c) => c.share > 0);
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

const areaOf = (m: Uint8Array) => m.reduce((a, v) => a + v, 0) / m.length;

/** The second look for faint items: a smaller margin, still above JPEG noise, only on a smooth
 *  ground (every background cluster this tight), where it cannot mistake texture for an item. */
const FINE = { minDistance: 9, scales: 1.5, maxScale: 8 };

/**
 * Pixels far from every background cluster, cleaned: an opening (thin structures and specks out),
 * a closing (the item's parts joined), components of at least 20% of the largest, holes filled.
 * Undefined when the largest component is under 1% of the image.
 */
function itemMask(
  f: Float32Array[],
  clusters: Cluster[],
  background: boolean[],
  w: number,
  h: number,
  minDistance: number,
  scales: number,
): Uint8Array | undefined {
  const n = w * h;
  const d = f.length;
  const bg = clusters.filter((_, k) => background[k]);
  const centres = Float64Array.from(bg.flatMap((c) => c.centre));
  const unit = Float64Array.from(bg, (c) => Math.max(minDistance / scales, c.scale));
  let mask: Uint8Array = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let near = Infinity;
    for (let k = 0; k < bg.length; k++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (f[j]![i]! - centres[k * d + j]!) ** 2;
      near = Math.min(near, Math.sqrt(s) / unit[k]!);
    }
    mask[i] = near > scales ? 1 : 0;
  }
  mask = dilate(erode(mask, w, h), w, h);
  mask = erode(erode(dilate(dilate(mask, w, h), w, h), w, h), w, h);
  const { label, sizes } = components(mask, w, h);
  const largest = Math.max(...sizes);
  if (largest < n * 0.01) return undefined;
  const keep = sizes.map((s) => s >= largest * 0.2);
  for (let i = 0; i < n; i++) mask[i] = keep[label[i]!] && label[i] ? 1 : 0;
  return fillHoles(mask, w, h);
}

/** The item's mask (the whole frame when nothing stands out from the border); undefined for images too small to segment. */
export function segmentPhoto(img: Gray): Segmentation | undefined {
  const t = thumbnail(img);
  const { width: w, height: h } = t;
  const n = w * h;
  if (w < 8 || h < 8) return undefined;
  const f = t.f.map((p) => blur(p, w, h));
  // Lighting tilt: a lamp to one side changes the bed's luma across the image, not its colour.
  const bg = borderBackground({ data: t.luma, width: w, height: h });
  if (bg.bx || bg.by)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) f[0]![y * w + x] = f[0]![y * w + x]! - (planeAt(bg, w, h, x, y) - bg.level);
  const r = Math.max(2, Math.round(Math.min(w, h) * 0.04));
  const rimIdx: number[] = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (x < r || y < r || x >= w - r || y >= h - r) rimIdx.push(y * w + x);
  const clusters = backgroundClusters(f, rimIdx);
  // Each pixel's nearest cluster, and how far it is in that cluster's scales.
  const nearest = new Int8Array(n);
  const far = new Float32Array(n);
  const d = f.length;
  const centres = Float64Array.from(clusters.flatMap((c) => c.centre));
  const unit = Float64Array.from(clusters, (c) => Math.max(MIN_DISTANCE / SCALES, c.scale));
  for (let i = 0; i < n; i++) {
    let best = -1;
    let bestD = Infinity;
    for (let k = 0; k < clusters.length; k++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (f[j]![i]! - centres[k * d + j]!) ** 2;
      const dist = Math.sqrt(s) / unit[k]!;
      if (dist < bestD) {
        best = k;
        bestD = dist;
      }
    }
    nearest[i] = best;
    far[i] = bestD;
  }
  // A rim cluster is the item where it touches the border, not background, when it holds little of
  // the rim, or when it is at least as common in the image's centre as on the rim (items are
  // photographed in the middle; a bed shows mostly around them).
  const centre = new Float64Array(clusters.length);
  let centreN = 0;
  for (let y = h >> 2; y < h - (h >> 2); y++)
    for (let x = w >> 2; x < w - (w >> 2); x++) {
      const i = y * w + x;
      centreN++;
      if (far[i]! <= SCALES) centre[nearest[i]!]!++;
    }
  let background = clusters.map((c, k) => c.share >= 0.1 && centre[k]! / centreN < c.share);
  if (!background.some(Boolean)) background = clusters.map((c) => c.share === Math.max(...clusters.map((d) => d.share)));
  let mask = itemMask(f, clusters, background, w, h, MIN_DISTANCE, SCALES);
  // A light item on a light, smooth ground (a white top on a beige bed) differs by less than
  // the usual margin: when too little stands out from a smooth ground, look again with a finer one.
  const smooth = clusters.every((c, k) => !background[k] || c.scale <= FINE.maxScale);
  if (smooth && (!mask || areaOf(mask) < 0.05)) mask = itemMask(f, clusters, background, w, h, FINE.minDistance, FINE.scales) ?? mask;
  // Nothing stands out from what the border shows, or nearly everything does: the item fills the
  // frame (its colours are the border's). The whole frame is the item then; a black square, or
  // one with bites out of its edges, would say less.
  if (!mask || areaOf(mask) > 0.85)
    return { mask: new Uint8Array(n).fill(1), width: w, height: h, factor: t.factor, box: { x0: 0, y0: 0, x1: w, y1: h }, area: 1 };
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

/**
 * The background of an image as read from its border (a rim ~2% of the short side thick): the
 * level, a lighting tilt for light backgrounds, and how much the border varies around them.
 */
import type { Gray } from './raster.ts';

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

export function medianOfHistogram(hist: Uint32Array, total: number): number {
  const half = total / 2;
  let acc = 0;
  for (let v = 0; v < hist.length; v++) {
    acc += hist[v]!;
    if (acc >= half) return v;
  }
  return hist.length - 1;
}

/** The rim is ~2% of the short side thick. */
export const rimThickness = (w: number, h: number) =>
  Math.max(1, Math.min(Math.round(Math.min(w, h) * 0.02), Math.floor(Math.min(w, h) / 2)));

/** Calls fn(x, y) for every pixel of the rim. */
export function rim(w: number, h: number, t: number, fn: (x: number, y: number) => void): void {
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

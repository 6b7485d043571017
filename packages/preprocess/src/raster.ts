/** A decoded, display-oriented, alpha-flattened 8-bit gray image: the hand-off from every decoder. */
export interface Gray {
  data: Uint8Array;
  width: number;
  height: number;
  /** Optional hint from the decoder: sameAsAbove[y] = 1 when row y equals row y − 1 (upscaled
   *  images repeat most rows), so per-row work can be reused. */
  sameAsAbove?: Uint8Array;
  /** From decoders that had colour: a small copy (longest side ≤ THUMB_SIDE) for the segmentation
   *  of photos, which separates an item from a bed or floor of similar gray. Computed on first
   *  call only: dataset images and studio shots never need it. */
  color?: () => ColorThumb;
}

/** Block-averaged RGB planes: pixel (x, y) averages source block [x·f, x·f + f) × [y·f, y·f + f). */
export interface ColorThumb {
  r: Uint8Array;
  g: Uint8Array;
  b: Uint8Array;
  width: number;
  height: number;
  /** Source pixels per thumbnail pixel along each axis. */
  factor: number;
}

export const THUMB_SIDE = 128;
export const thumbFactor = (width: number, height: number) => Math.max(1, Math.ceil(Math.max(width, height) / THUMB_SIDE));

/**
 * Builds a ColorThumb row by row, as a decoder produces rows: `row` adds one row of interleaved
 * samples (3 or 4 channels, alpha flattened onto white like the gray), `repeat` adds the last row
 * again (an upscaled image repeats most rows, and png-fast never unpacks those).
 */
export class ColorThumbBuilder {
  readonly f: number;
  readonly tw: number;
  readonly th: number;
  private readonly sum: Uint32Array;
  private readonly rowSum: Uint32Array;
  private readonly col: Int32Array;
  /** The last row's sums wait in rowSum until the next distinct row: repeats only count. */
  private pendingRow = 0;
  private pendingTimes = 0;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.f = thumbFactor(width, height);
    this.tw = Math.ceil(width / this.f);
    this.th = Math.ceil(height / this.f);
    this.sum = new Uint32Array(this.tw * this.th * 3);
    this.rowSum = new Uint32Array(this.tw * 3);
    // Thumbnail column of each source column, times 3: no division in the pixel loop.
    this.col = new Int32Array(width);
    for (let x = 0; x < width; x++) this.col[x] = ((x / this.f) | 0) * 3;
  }

  row(y: number, src: Uint8Array, from: number, channels: 3 | 4): void {
    this.flush();
    const rs = this.rowSum;
    rs.fill(0);
    const col = this.col;
    for (let x = 0, j = from; x < this.width; x++, j += channels) {
      const t = col[x]!;
      let r = src[j]!;
      let g = src[j + 1]!;
      let b = src[j + 2]!;
      if (channels === 4 && src[j + 3]! !== 255) {
        const a = src[j + 3]!;
        r = 255 - ((((255 - r) * a + 127) / 255) | 0);
        g = 255 - ((((255 - g) * a + 127) / 255) | 0);
        b = 255 - ((((255 - b) * a + 127) / 255) | 0);
      }
      rs[t] = rs[t]! + r;
      rs[t + 1] = rs[t + 1]! + g;
      rs[t + 2] = rs[t + 2]! + b;
    }
    this.pendingRow = (y / this.f) | 0;
    this.pendingTimes = 1;
  }

  repeat(y: number): void {
    const tr = (y / this.f) | 0;
    if (tr === this.pendingRow) {
      this.pendingTimes++;
      return;
    }
    this.flush();
    this.pendingRow = tr;
    this.pendingTimes = 1;
  }

  /** Adds the last row, times the rows that repeated it, to its thumbnail row. */
  private flush(): void {
    if (this.pendingTimes === 0) return;
    const base = this.pendingRow * this.tw * 3;
    const { sum, rowSum, pendingTimes: n } = this;
    for (let i = 0; i < rowSum.length; i++) sum[base + i] = sum[base + i]! + rowSum[i]! * n;
    this.pendingTimes = 0;
  }

  finish(): ColorThumb {
    this.flush();
    const { f, tw, th, width, height, sum } = this;
    const r = new Uint8Array(tw * th);
    const g = new Uint8Array(tw * th);
    const b = new Uint8Array(tw * th);
    for (let y = 0; y < th; y++)
      for (let x = 0; x < tw; x++) {
        const t = y * tw + x;
        const n = (Math.min(height, (y + 1) * f) - y * f) * (Math.min(width, (x + 1) * f) - x * f);
        r[t] = Math.round(sum[t * 3]! / n);
        g[t] = Math.round(sum[t * 3 + 1]! / n);
        b[t] = Math.round(sum[t * 3 + 2]! / n);
      }
    return { r, g, b, width: tw, height: th, factor: f };
  }
}

/** The colour thumbnail of interleaved 8-bit samples (3 or 4 channels). */
export function colorThumb(src: Uint8Array, width: number, height: number, channels: 3 | 4): ColorThumb {
  const t = new ColorThumbBuilder(width, height);
  for (let y = 0; y < height; y++) t.row(y, src, y * width * channels, channels);
  return t.finish();
}

// Rec. 601 luma in 16.16 fixed point, the weights cv2, jimp and Pillow use; libvips' own b-w
// conversion goes through linear light, so sharp hands us RGB and the conversion happens here,
// identically for both decoders.
const R = Math.round(0.299 * 65536);
const G = Math.round(0.587 * 65536);
const B = 65536 - R - G;

/**
 * One run of interleaved 8-bit samples (1–4 channels) → gray. Transparent pixels are flattened onto
 * white: a cut-out product photo's transparent surround is its background, and photo backgrounds
 * are light. Shared by every decoder so that they agree to the last bit.
 */
export function grayRun(src: Uint8Array, from: number, out: Uint8Array, at: number, n: number, channels: number): void {
  if (channels === 1) {
    out.set(src.subarray(from, from + n), at);
  } else if (channels === 2) {
    for (let i = 0, j = from; i < n; i++, j += 2) {
      const a = src[j + 1]!;
      out[at + i] = a === 255 ? src[j]! : 255 - ((((255 - src[j]!) * a + 127) / 255) | 0);
    }
  } else if (channels === 3) {
    for (let i = 0, j = from; i < n; i++, j += 3) out[at + i] = (R * src[j]! + G * src[j + 1]! + B * src[j + 2]! + 32768) >>> 16;
  } else if (channels === 4) {
    for (let i = 0, j = from; i < n; i++, j += 4) {
      const y = (R * src[j]! + G * src[j + 1]! + B * src[j + 2]! + 32768) >>> 16;
      const a = src[j + 3]!;
      out[at + i] = a === 255 ? y : 255 - ((((255 - y) * a + 127) / 255) | 0);
    }
  } else {
    throw new Error(`unexpected channel count ${channels}`);
  }
}

export function toGray(src: Uint8Array, width: number, height: number, channels: number): Gray {
  const out = new Uint8Array(width * height);
  grayRun(src, 0, out, 0, width * height, channels);
  return { data: out, width, height, color: channels >= 3 ? once(() => colorThumb(src, width, height, channels as 3 | 4)) : undefined };
}

/** fn, called at most once. */
export function once<T>(fn: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) [value, done] = [fn(), true];
    return value;
  };
}

/** Applies an EXIF orientation (1–8) so the raster is as the camera's viewer would show it. */
export function orient(img: Gray, orientation: number): Gray {
  if (orientation <= 1 || orientation > 8) return img;
  const out = orientPlane(img, orientation);
  const thumb = img.color;
  if (!thumb) return out;
  // The thumbnail's blocks are anchored at the stored image's origin; after a flip they are anchored
  // at the other edge, off by the partial block at most (under one thumbnail pixel).
  out.color = once(() => {
    const c = thumb();
    const planes = [c.r, c.g, c.b].map((data) => orientPlane({ data, width: c.width, height: c.height }, orientation));
    return {
      r: planes[0]!.data,
      g: planes[1]!.data,
      b: planes[2]!.data,
      width: planes[0]!.width,
      height: planes[0]!.height,
      factor: c.factor,
    };
  });
  return out;
}

function orientPlane(img: Gray, orientation: number): Gray {
  const { data, width: w, height: h } = img;
  const swap = orientation >= 5;
  const ow = swap ? h : w;
  const oh = swap ? w : h;
  const out = new Uint8Array(w * h);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      // Source coordinate of display pixel (x, y), per the EXIF orientation table.
      let sx: number, sy: number;
      switch (orientation) {
        case 2:
          sx = w - 1 - x;
          sy = y;
          break;
        case 3:
          sx = w - 1 - x;
          sy = h - 1 - y;
          break;
        case 4:
          sx = x;
          sy = h - 1 - y;
          break;
        case 5:
          sx = y;
          sy = x;
          break;
        case 6:
          sx = y;
          sy = h - 1 - x;
          break;
        case 7:
          sx = w - 1 - y;
          sy = h - 1 - x;
          break;
        default:
          sx = w - 1 - y;
          sy = x;
          break; // 8
      }
      out[y * ow + x] = data[sy * w + sx]!;
    }
  }
  return { data: out, width: ow, height: oh };
}

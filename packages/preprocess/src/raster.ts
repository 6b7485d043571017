/** A decoded, display-oriented, alpha-flattened 8-bit gray image: the hand-off from every decoder. */
export interface Gray {
  data: Uint8Array;
  width: number;
  height: number;
  /** Optional hint from the decoder: sameAsAbove[y] = 1 when row y equals row y − 1 (upscaled
   *  images repeat most rows), so per-row work can be reused. */
  sameAsAbove?: Uint8Array;
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
  return { data: out, width, height };
}

/** Applies an EXIF orientation (1–8) so the raster is as the camera's viewer would show it. */
export function orient(img: Gray, orientation: number): Gray {
  if (orientation <= 1 || orientation > 8) return img;
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

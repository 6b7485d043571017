/**
 * A PNG decoder for the common case — non-interlaced, 8 bits per sample (gray / RGB / RGBA /
 * gray+alpha / palette) or 1–4 bits (gray / palette) — that goes straight from the filtered scanlines to the gray raster, one row at a time,
 * without an RGBA copy of the image. It exists for speed: the sample PNGs are 761×761 RGBA
 * upscales whose rows mostly repeat (filter Up with all-zero deltas), and such a row costs a
 * memcmp and a memcpy here instead of ~3,000 byte operations. Anything else returns undefined and
 * goes to sharp or jimp.
 */
import { inflateSync } from 'node:zlib';
import { ImageError } from './errors.ts';
import { ColorThumbBuilder, grayRun, once, type Gray } from './raster.ts';

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

const chunkIs = (buf: Uint8Array, at: number, type: string) =>
  buf[at] === type.charCodeAt(0) &&
  buf[at + 1] === type.charCodeAt(1) &&
  buf[at + 2] === type.charCodeAt(2) &&
  buf[at + 3] === type.charCodeAt(3);

let zeros = Buffer.alloc(0);

export function decodePngFast(input: Uint8Array): Gray | undefined {
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < 33 || !chunkIs(buf, 12, 'IHDR')) return undefined;
  const width = buf.readUInt32BE(16);
  const height = buf.readUInt32BE(20);
  const depth = buf[24]!;
  const colorType = buf[25]!;
  const interlace = buf[28]!;
  const channels = CHANNELS[colorType];
  const packed = depth < 8 && (colorType === 0 || colorType === 3) && (depth === 1 || depth === 2 || depth === 4);
  if ((depth !== 8 && !packed) || interlace !== 0 || !channels || width === 0 || height === 0) return undefined;

  const idat: Buffer[] = [];
  let palette: Uint8Array | undefined;
  let alpha: Uint8Array | undefined;
  for (let at = 8; at + 12 <= buf.length; ) {
    const len = buf.readUInt32BE(at);
    const body = at + 8;
    if (body + len + 4 > buf.length) throw new ImageError('corrupt', 'PNG is truncated: a chunk runs past the end of the file');
    if (chunkIs(buf, at + 4, 'IDAT')) idat.push(buf.subarray(body, body + len));
    else if (chunkIs(buf, at + 4, 'PLTE')) palette = buf.subarray(body, body + len);
    else if (chunkIs(buf, at + 4, 'tRNS')) alpha = buf.subarray(body, body + len);
    else if (chunkIs(buf, at + 4, 'eXIf'))
      return undefined; // may carry an orientation: leave to sharp
    else if (chunkIs(buf, at + 4, 'IEND')) break;
    at = body + len + 4;
  }
  // A colour-keyed transparent gray/RGB value is rare; the general decoders handle it.
  if (alpha && colorType !== 3) return undefined;
  let lut: Uint8Array | undefined;
  let paletteRgba: Uint8Array | undefined;
  if (colorType === 3) {
    if (!palette || palette.length % 3 !== 0) throw new ImageError('corrupt', 'PNG palette image without a valid PLTE chunk');
    const rgba = new Uint8Array(256 * 4);
    for (let i = 0; i < palette.length / 3; i++) {
      rgba[i * 4] = palette[i * 3]!;
      rgba[i * 4 + 1] = palette[i * 3 + 1]!;
      rgba[i * 4 + 2] = palette[i * 3 + 2]!;
      rgba[i * 4 + 3] = alpha && i < alpha.length ? alpha[i]! : 255;
    }
    lut = new Uint8Array(256);
    grayRun(rgba, 0, lut, 0, 256, 4);
    paletteRgba = rgba;
  } else if (packed) {
    // 1/2/4-bit gray: stretch to 0–255 (exact: ×255, ×85, ×17).
    const max = (1 << depth) - 1;
    lut = new Uint8Array(256);
    for (let v = 0; v <= max; v++) lut[v] = (v * 255) / max;
  }

  const stride = packed ? Math.ceil((width * depth) / 8) : width * channels;
  let raw: Buffer;
  try {
    // Bounded: a deflate bomb cannot inflate past what the header's size needs (plus slack).
    // One output chunk of the expected size: the default 16 KB chunks plus their concatenation
    // cost ~3× the image in short-lived allocations per decode, which the worker's RSS keeps.
    const expected = height * (stride + 1);
    raw = inflateSync(idat.length === 1 ? idat[0]! : Buffer.concat(idat), {
      maxOutputLength: expected + (1 << 20),
      chunkSize: Math.max(64, expected + 1),
    });
  } catch (e) {
    throw new ImageError('corrupt', `PNG image data is corrupt (${(e as Error).message})`);
  }
  if (raw.length < height * (stride + 1))
    throw new ImageError('corrupt', `PNG image data is truncated (${raw.length} of ${height * (stride + 1)} bytes)`);
  if (zeros.length < stride) zeros = Buffer.alloc(stride);
  const zero = zeros.subarray(0, stride);

  const out = new Uint8Array(width * height);
  const sameAsAbove = new Uint8Array(height);
  const bpp = packed ? 1 : channels;
  const unpacked = packed ? new Uint8Array(width) : undefined;
  // Where each row's unfiltered samples are (a repeated row points at the row it repeats), for the
  // colour thumbnail the photo segmentation may ask for later.
  const rowAt = new Int32Array(height);
  // `q` is where the previous row's unfiltered samples are: a repeated row is not copied, the
  // pointer just stays on the last distinct row (identical content).
  let q = -1;
  for (let y = 0; y < height; y++) {
    const p = y * (stride + 1) + 1; // this row's samples, unfiltered in place
    const filter = raw[p - 1]!;
    if (filter === 2 && q >= 0 && raw.subarray(p, p + stride).equals(zero)) {
      out.copyWithin(y * width, (y - 1) * width, y * width);
      sameAsAbove[y] = 1;
      rowAt[y] = q;
      continue;
    }
    unfilter(raw, p, q, stride, bpp, filter, q < 0);
    if (q >= 0 && raw.subarray(p, p + stride).equals(raw.subarray(q, q + stride))) {
      // Repeated with another filter (e.g. None): same outcome, found after unfiltering.
      out.copyWithin(y * width, (y - 1) * width, y * width);
      sameAsAbove[y] = 1;
      rowAt[y] = q;
      continue;
    }
    q = p;
    rowAt[y] = p;
    if (unpacked) {
      unpack(raw, p, depth, unpacked);
      for (let x = 0; x < width; x++) out[y * width + x] = lut![unpacked[x]!]!;
    } else if (lut) for (let x = 0; x < width; x++) out[y * width + x] = lut[raw[p + x]!]!;
    else grayRun(raw, p, out, y * width, width, channels);
  }
  // Colour from RGB(A) rows, or palette rows looked up (8-bit palettes; packed ones are rare and stay gray).
  const hasColour = channels >= 3 || (paletteRgba && !packed);
  const color = hasColour
    ? once(() => {
        const thumb = new ColorThumbBuilder(width, height);
        const paletteRow = paletteRgba ? new Uint8Array(width * 4) : undefined;
        for (let y = 0; y < height; y++) {
          const p = rowAt[y]!;
          if (y > 0 && p === rowAt[y - 1]) thumb.repeat(y);
          else if (paletteRow) {
            for (let x = 0; x < width; x++) paletteRow.set(paletteRgba!.subarray(raw[p + x]! * 4, raw[p + x]! * 4 + 4), x * 4);
            thumb.row(y, paletteRow, 0, 4);
          } else thumb.row(y, raw, p, channels as 3 | 4);
        }
        return thumb.finish();
      })
    : undefined;
  return { data: out, width, height, sameAsAbove, color };
}

/** Sub-byte samples, most significant bits first. */
function unpack(raw: Buffer, p: number, depth: number, out: Uint8Array): void {
  const perByte = 8 / depth;
  const mask = (1 << depth) - 1;
  for (let x = 0; x < out.length; x++) {
    const byte = raw[p + Math.floor(x / perByte)]!;
    out[x] = (byte >> (8 - depth * ((x % perByte) + 1))) & mask;
  }
}

function unfilter(raw: Buffer, p: number, q: number, stride: number, bpp: number, filter: number, first: boolean): void {
  switch (filter) {
    case 0:
      return;
    case 1:
      for (let i = bpp; i < stride; i++) raw[p + i] = raw[p + i]! + raw[p + i - bpp]!;
      return;
    case 2:
      if (!first) for (let i = 0; i < stride; i++) raw[p + i] = raw[p + i]! + raw[q + i]!;
      return;
    case 3:
      if (first) {
        for (let i = bpp; i < stride; i++) raw[p + i] = raw[p + i]! + (raw[p + i - bpp]! >> 1);
      } else {
        for (let i = 0; i < bpp; i++) raw[p + i] = raw[p + i]! + (raw[q + i]! >> 1);
        for (let i = bpp; i < stride; i++) raw[p + i] = raw[p + i]! + ((raw[p + i - bpp]! + raw[q + i]!) >> 1);
      }
      return;
    case 4:
      if (first) {
        // Paeth with no row above is Sub.
        for (let i = bpp; i < stride; i++) raw[p + i] = raw[p + i]! + raw[p + i - bpp]!;
      } else {
        for (let i = 0; i < bpp; i++) raw[p + i] = raw[p + i]! + raw[q + i]!;
        for (let i = bpp; i < stride; i++) {
          const a = raw[p + i - bpp]!;
          const b = raw[q + i]!;
          const c = raw[q + i - bpp]!;
          const pa = Math.abs(b - c);
          const pb = Math.abs(a - c);
          const pc = Math.abs(a + b - 2 * c);
          raw[p + i] = raw[p + i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
        }
      }
      return;
    default:
      throw new ImageError('corrupt', `PNG row uses unknown filter type ${filter}`);
  }
}

/**
 * Header-only checks that run before any decoder: what format, how big, and whether the file is
 * complete. Decoders are slow or lenient on bad input (jpeg-js happily returns half an image), so
 * everything that can be refused from the header is refused here, for both decode paths alike.
 */
import { imageSize } from 'image-size';
import { ImageError } from './errors.ts';

export type Format = 'png' | 'jpeg' | 'webp' | 'gif' | 'bmp' | 'tiff';

export interface Probe {
  format: string;
  width: number;
  height: number;
}

const ascii = (buf: Uint8Array, at: number, s: string) => {
  if (buf.length < at + s.length) return false;
  for (let i = 0; i < s.length; i++) if (buf[at + i] !== s.charCodeAt(i)) return false;
  return true;
};

/** The six formats we decode, recognized by their magic bytes. */
export function sniffFormat(buf: Uint8Array): Format | undefined {
  if (buf.length >= 8 && buf[0] === 0x89 && ascii(buf, 1, 'PNG\r\n\x1a\n')) return 'png';
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'jpeg';
  if (ascii(buf, 0, 'RIFF') && ascii(buf, 8, 'WEBP')) return 'webp';
  if (ascii(buf, 0, 'GIF87a') || ascii(buf, 0, 'GIF89a')) return 'gif';
  if (ascii(buf, 0, 'BM') && buf.length >= 26) return 'bmp';
  if (ascii(buf, 0, 'II*\0') || ascii(buf, 0, 'MM\0*')) return 'tiff';
  return undefined;
}

function sizeOf(buf: Uint8Array): { type?: string; width?: number; height?: number; orientation?: number } | undefined {
  try {
    return imageSize(buf);
  } catch {
    return undefined;
  }
}

export interface Inspected extends Probe {
  format: Format;
  /** EXIF orientation when the header carries one (JPEG), else 1. */
  orientation: number;
}

/** Format, display-oriented size and orientation from the header alone; throws ImageError. */
export function inspectImage(buf: Uint8Array): Inspected {
  if (buf.length === 0) throw new ImageError('empty', 'the file is empty (0 bytes)');
  const format = sniffFormat(buf);
  const size = sizeOf(buf);
  if (!format) {
    if (size?.type)
      throw new ImageError('unsupported', `${size.type.toUpperCase()} images are not supported (PNG, JPEG, WebP, GIF, BMP and TIFF are)`);
    throw new ImageError('not-image', 'not an image (no known image signature)');
  }
  if (!size || !size.width || !size.height) throw new ImageError('corrupt', `${format.toUpperCase()} header is truncated or invalid`);
  const orientation = size.orientation && size.orientation >= 1 && size.orientation <= 8 ? size.orientation : 1;
  const swap = orientation >= 5;
  return { format, width: swap ? size.height : size.width, height: swap ? size.width : size.height, orientation };
}

/** Format and (display-oriented) size from the header alone; throws ImageError. */
export function probeImage(buf: Uint8Array): Probe {
  const { format, width, height } = inspectImage(buf);
  return { format, width, height };
}

/** Refuses images whose header declares more pixels than allowed, before a decoder allocates them. */
export function assertPixels(p: Probe, maxPixels: number): void {
  if (p.width * p.height > maxPixels) {
    throw new ImageError(
      'too-large',
      `${p.format.toUpperCase()} declares ${p.width}×${p.height} = ${((p.width * p.height) / 1e6).toFixed(1)} MP, more than the limit of ${(maxPixels / 1e6).toFixed(1)} MP`,
    );
  }
}

/**
 * Default for {@link assertPlausibleSize}. No real photo or scan comes near it: deflate stops at
 * about 1,030:1, so a single-colour 8-bit RGB PNG needs a byte per ~340 pixels, an 8-bit gray one
 * a byte per ~1,000, a flat JPEG a byte per ~200. Bombs are far past it (a 1,080-byte RLE8 BMP
 * declaring 10000×10000 is ~92,600 pixels a byte).
 */
export const DEFAULT_MAX_PIXELS_PER_BYTE = 4096;

/**
 * Refuses a file whose header declares far more pixels than its bytes can describe (a decompression
 * bomb: an RLE BMP that is one end-of-bitmap marker, a PNG of one repeated zlib run), before any
 * decoder allocates the declared raster.
 */
export function assertPlausibleSize(p: Probe, bytes: number, maxPixelsPerByte = DEFAULT_MAX_PIXELS_PER_BYTE): void {
  const perByte = (p.width * p.height) / Math.max(1, bytes);
  if (perByte > maxPixelsPerByte) {
    throw new ImageError(
      'too-large',
      `${p.format.toUpperCase()} declares ${p.width}×${p.height} in only ${bytes} bytes (${Math.round(perByte)} pixels a byte, at most ${maxPixelsPerByte}): refused as a decompression bomb`,
    );
  }
}

const truncated = (format: string, what: string) => new ImageError('corrupt', `${format.toUpperCase()} is truncated or corrupt: ${what}`);

/** PNG chunks up to IEND must all be present. */
function checkPng(buf: Uint8Array): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 8;
  let idat = false;
  while (at + 12 <= buf.length) {
    const len = view.getUint32(at);
    const end = at + 12 + len;
    if (end > buf.length) throw truncated('png', `chunk at byte ${at} runs past the end of the file`);
    if (ascii(buf, at + 4, 'IDAT')) idat = true;
    if (ascii(buf, at + 4, 'IEND')) {
      if (!idat) throw truncated('png', 'no image data');
      return;
    }
    at = end;
  }
  throw truncated('png', 'no IEND chunk');
}

/** A JPEG must reach its end-of-image marker after the first scan (thumbnails sit before it). */
function checkJpeg(buf: Uint8Array): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 2;
  while (at + 4 <= buf.length) {
    if (buf[at] !== 0xff) throw truncated('jpeg', `bad marker at byte ${at}`);
    const marker = buf[at + 1]!;
    if (marker === 0xff) {
      at++;
      continue;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      at += 2;
      continue;
    }
    const len = view.getUint16(at + 2);
    if (marker === 0xda) {
      const eoi = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).indexOf(EOI, at + 2 + len);
      if (eoi < 0) throw truncated('jpeg', 'no end-of-image marker');
      return;
    }
    at += 2 + len;
  }
  throw truncated('jpeg', 'no image data');
}
const EOI = Buffer.from([0xff, 0xd9]);

function checkBmp(buf: Uint8Array): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 30) throw truncated('bmp', 'header cut short');
  const offset = view.getUint32(10, true);
  const headerSize = view.getUint32(14, true);
  if (headerSize < 40) return; // OS/2 core header: left to the decoder
  const w = view.getInt32(18, true);
  const h = Math.abs(view.getInt32(22, true));
  const bpp = view.getUint16(28, true);
  const compression = view.getUint32(30, true);
  if (compression !== 0 && compression !== 3) return; // RLE: size not known up front
  const stride = Math.ceil((w * bpp) / 32) * 4;
  if (offset + stride * h > buf.length) throw truncated('bmp', `pixel data needs ${offset + stride * h} bytes, file has ${buf.length}`);
}

function checkWebp(buf: Uint8Array): void {
  const riff = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(4, true);
  if (riff + 8 > buf.length) throw truncated('webp', `RIFF declares ${riff + 8} bytes, file has ${buf.length}`);
}

/** Cheap structural completeness check (truncated downloads and copies are the common case). */
export function assertComplete(buf: Uint8Array, format: string): void {
  if (format === 'png') checkPng(buf);
  else if (format === 'jpeg') checkJpeg(buf);
  else if (format === 'bmp') checkBmp(buf);
  else if (format === 'webp') checkWebp(buf);
}

/**
 * Any image → 28×28 uint8 in Fashion-MNIST's form. One implementation for the client and the
 * API's upload route: header checks, decode (png-fast / sharp / jimp), gray, fit to the square.
 */
import { readFile, stat } from 'node:fs/promises';
import { decodeWithSharp, loadSharp } from './decode-sharp.ts';
import { ImageError, fsError } from './errors.ts';
import { fitToSquare, type Kind } from './fit.ts';
import { decodePngFast } from './png-fast.ts';
import { assertComplete, assertPixels, assertPlausibleSize, inspectImage, type Inspected } from './probe.ts';
import type { Gray } from './raster.ts';

export interface PreprocessOptions {
  /** `auto`: png-fast for plain PNGs, else sharp when installed, else jimp. */
  decoder?: 'auto' | 'sharp' | 'jimp';
  /** Images whose header declares more pixels are refused before decoding. Default 100e6. */
  maxPixels?: number;
  /** Files larger than this are refused before reading. Default 256 MiB. */
  maxBytes?: number;
  /** Declared pixels per byte of file above which it is refused as a bomb (probe.ts). Default 4096. */
  maxPixelsPerByte?: number;
}

export type DecoderName = 'sharp' | 'jimp' | 'png-fast';

export interface Preprocessed {
  /** 784 values, row-major; 0 = background, like Fashion-MNIST. */
  pixels: Uint8Array;
  kind: Kind;
  /** Display-oriented size of the image as stored (before any shrink-on-load). */
  width: number;
  height: number;
  format: string;
  decoder: DecoderName;
}

export const DEFAULT_MAX_PIXELS = 100e6;
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
const PNG_FAST_MAX_PIXELS = 16e6;

/** Reads a file, mapping every way a path can fail to `unreadable` and oversize to `too-large`. */
export async function readImageFile(path: string, maxBytes = DEFAULT_MAX_BYTES): Promise<Buffer> {
  // stat before open: opening a FIFO would block until someone writes to it.
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    throw fsError(e, path);
  }
  if (st.isDirectory()) throw new ImageError('unreadable', `${path}: cannot read (is a directory)`);
  if (!st.isFile()) throw new ImageError('unreadable', `${path}: cannot read (not a regular file)`);
  if (st.size > maxBytes) throw new ImageError('too-large', `${path}: ${st.size} bytes, more than the limit of ${maxBytes}`);
  try {
    return await readFile(path);
  } catch (e) {
    throw fsError(e, path);
  }
}

// jimp and its codecs take ~230 ms and several MB to import; only BMP, or a machine without sharp, needs them.
let jimp: Promise<typeof import('./decode-jimp.ts')> | undefined;
const loadJimp = () =>
  (jimp ??= (async () => {
    // A pool worker starts with tsx's CommonJS hooks only; this module and its codecs need the ESM ones.
    await (globalThis as { [k: symbol]: (() => unknown) | undefined })[Symbol.for('refund-vision.preprocess.esm-ts')]?.();
    return import('./decode-jimp.ts');
  })());

async function decode(
  buf: Buffer,
  decoder: PreprocessOptions['decoder'],
  maxPixels: number,
  maxPixelsPerByte: number | undefined,
): Promise<{ gray: Gray; decoder: DecoderName; info: Inspected }> {
  const info = inspectImage(buf);
  assertPixels(info, maxPixels);
  // A truncated file is 'corrupt' (the usual case: a cut-off copy), checked before the bomb test.
  assertComplete(buf, info.format);
  assertPlausibleSize(info, buf.length, maxPixelsPerByte);
  const choice = decoder ?? 'auto';
  const pixels = info.width * info.height;
  try {
    // png-fast holds the whole inflated image; past PNG_FAST_MAX_PIXELS libvips' streaming decode
    // with shrink uses far less memory, so huge PNGs go there when it is installed. Ordinary PNGs
    // never load sharp at all: it costs ~20 MB of RSS per thread that imports it.
    if (choice === 'auto' && info.format === 'png' && (pixels <= PNG_FAST_MAX_PIXELS || !(await loadSharp()))) {
      const gray = decodePngFast(buf);
      if (gray) return { gray, decoder: 'png-fast', info };
    }
    // libvips' prebuilt binaries have no BMP loader (it would need ImageMagick): BMP is jimp's.
    if (choice !== 'jimp' && info.format !== 'bmp') {
      const sharp = await loadSharp();
      if (sharp) return { gray: await decodeWithSharp(sharp, buf, info, maxPixels), decoder: 'sharp', info };
      if (choice === 'sharp') throw new Error("decoder 'sharp' was requested but sharp is not installed");
    }
    const { decodeWithJimp } = await loadJimp();
    return { gray: await decodeWithJimp(buf, info.format, info.orientation, maxPixels), decoder: 'jimp', info };
  } catch (e) {
    throw asImageError(e, info.format);
  }
}

function asImageError(e: unknown, format: string): Error {
  if (e instanceof ImageError) return e;
  const msg = (e as Error)?.message ?? String(e);
  if (/requested but sharp is not installed/.test(msg)) return e as Error;
  if (/pixel limit|exceeds.*(limit|maxResolution)|maxMemoryUsage/i.test(msg))
    return new ImageError('too-large', `${format.toUpperCase()} is too large to decode (${msg})`);
  return new ImageError('corrupt', `${format.toUpperCase()} could not be decoded (${msg.split('\n')[0]})`);
}

export async function preprocessImage(input: Buffer | string, opts: PreprocessOptions = {}): Promise<Preprocessed> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const buf = typeof input === 'string' ? await readImageFile(input, maxBytes) : input;
  if (buf.length > maxBytes) throw new ImageError('too-large', `${buf.length} bytes, more than the limit of ${maxBytes}`);
  const { gray, decoder, info } = await decode(buf, opts.decoder, opts.maxPixels ?? DEFAULT_MAX_PIXELS, opts.maxPixelsPerByte);
  const { pixels, kind } = fitToSquare(gray);
  return { pixels, kind, width: info.width, height: info.height, format: info.format, decoder };
}

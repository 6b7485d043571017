/**
 * Pure-JS decoding with jimp's format codecs (pngjs, jpeg-js, omggif, utif, bmp-js) and libwebp
 * compiled to wasm for WebP. Always available; slow on big photos (a 12 MP JPEG takes seconds).
 * The codecs are used directly rather than through a Jimp instance: only the bitmap is needed.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { defaultFormats } from 'jimp';
import decodeWebp, { init as initWebp } from '@jsquash/webp/decode.js';
import type { Format } from './probe.ts';
import { orient, toGray, type Gray } from './raster.ts';

interface Codec {
  mime: string;
  decode: (
    data: Buffer,
    options?: Record<string, unknown>,
  ) => { data: Uint8Array; width: number; height: number } | Promise<{ data: Uint8Array; width: number; height: number }>;
}

const MIME: Record<Format, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  bmp: 'image/bmp',
  tiff: 'image/tiff',
  webp: 'image/webp',
};

// @jimp/wasm-webp cannot decode in Node: it re-initialises its emscripten module on every call,
// and that module fetch()es its .wasm by URL, which Node's fetch refuses for file: URLs. The same
// codec (@jsquash/webp) is used here, initialised once with the .wasm bytes read from disk.
let webpReady: Promise<void> | undefined;
const webpCodec: Codec = {
  mime: 'image/webp',
  async decode(data) {
    webpReady ??= (async () => {
      const pkg = createRequire(import.meta.url).resolve('@jsquash/webp/package.json');
      const wasm = await readFile(join(dirname(pkg), 'codec', 'dec', 'webp_dec.wasm'));
      await initWebp({ wasmBinary: wasm } as never);
    })();
    await webpReady;
    const img = await decodeWebp(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer);
    return { data: new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength), width: img.width, height: img.height };
  },
};

let codecs: Map<string, Codec> | undefined;
function codecFor(format: Format): Codec {
  codecs ??= new Map([...defaultFormats.map((f) => (f as unknown as () => Codec)()), webpCodec].map((c) => [c.mime, c]));
  const codec = codecs.get(MIME[format]);
  if (!codec) throw new Error(`no jimp codec for ${format}`);
  return codec;
}

export async function decodeWithJimp(buf: Uint8Array, format: Format, orientation: number, maxPixels: number): Promise<Gray> {
  const data = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const options =
    format === 'jpeg' ? { maxResolutionInMP: Math.ceil(maxPixels / 1e6), maxMemoryUsageInMB: 4096, tolerantDecoding: false } : undefined;
  const bitmap = await codecFor(format).decode(data, options);
  return orient(toGray(bitmap.data, bitmap.width, bitmap.height, 4), orientation);
}

/**
 * Item 3: bytes on the wire per image — our /v1/predict body (compact JSON, base64 pixels; and
 * gzipped, as the client sends it by default) vs the old client's pandas DataFrame.to_json() of the
 * same N×784 arrays: the sample PNGs after our preprocessing.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { exists, peerProblem, unavailable, type Ctx } from '../lib/context.ts';
import { samplesDir } from '../lib/images.ts';
import { runPy } from '../lib/python.ts';
import type { Row } from '../lib/table.ts';

interface PandasResult {
  pandas: string;
  images: number;
  bytesPerImage: number;
  gzipBytesPerImage: number;
}

/** The /v1/predict body the client would send for these images (ids, groups, hashes included). */
export function predictBody(files: string[], base: string, pixels: Uint8Array, encode: (b: Uint8Array) => string): string {
  const images = files.map((f) => {
    const id = relative(base, f);
    return { id, group: id.split('/')[0] ?? '', hash: createHash('sha256').update(readFileSync(f)).digest('hex') };
  });
  return JSON.stringify({ runKey: 'bench-wire-2026-01-01T00-00-00', batchIndex: 0, source: 'client', images, pixels: encode(pixels) });
}

export async function measureWire(ctx: Ctx): Promise<Row[]> {
  const item = 3;
  const goal = { kind: 'ratio<=', value: 0.2 } as const;
  if (!exists('packages/preprocess/src/index.ts'))
    return [unavailable(item, 'bytes on the wire', 'B/img', 'not available yet: packages/preprocess', goal)];
  if (!ctx.samples.length) return [unavailable(item, 'bytes on the wire', 'B/img', 'sample images not found', goal)];
  const { preprocessImage } = await import('../../packages/preprocess/src/index.ts');
  const { encodePixels, PredictRequest } = await import('../../packages/shared/src/index.ts');
  const n = ctx.samples.length;
  const pixels = new Uint8Array(n * 784);
  for (let i = 0; i < n; i++) pixels.set((await preprocessImage(ctx.samples[i]!)).pixels, i * 784);
  const body = predictBody(ctx.samples, samplesDir()!, pixels, encodePixels);
  const parsed = PredictRequest.safeParse(JSON.parse(body));
  if (!parsed.success) throw new Error(`bench body does not match PredictRequest: ${parsed.error.issues[0]?.message}`);
  const raw = Buffer.byteLength(body) / n;
  const gz = gzipSync(body).length / n;

  const arrays = join(ctx.tmp, 'wire-pixels.u8');
  writeFileSync(arrays, pixels);
  const problem = peerProblem(ctx, 'pandas');
  let pd: PandasResult | undefined;
  let err = problem;
  if (!problem) {
    try {
      pd = await runPy<PandasResult>('pandas_wire.py', ['--images', arrays]);
    } catch (e) {
      err = (e as Error).message;
    }
  }
  const peerName = pd ? `pandas ${pd.pandas} to_json` : undefined;
  const common = `${n} sample PNGs preprocessed by us; body includes per-image id, group and sha-256${err ? `; ${err}` : ''}`;
  return [
    {
      item,
      metric: 'bytes on the wire, compact JSON',
      unit: 'B/img',
      ours: raw,
      peer: pd?.bytesPerImage ?? null,
      ...(peerName ? { peerName } : {}),
      goal,
      note: common,
    },
    {
      item,
      metric: 'bytes on the wire, compact JSON gzipped (client default)',
      unit: 'B/img',
      ours: gz,
      peer: pd?.bytesPerImage ?? null,
      ...(peerName ? { peerName } : {}),
      goal,
      note: `vs the old format as it was sent (uncompressed)${pd ? `; pandas gzipped would be ${pd.gzipBytesPerImage.toFixed(0)} B/img` : ''}`,
    },
  ];
}

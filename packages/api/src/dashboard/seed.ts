/**
 * Records runs through the real HTTP API (POST /v1/predict, then complete), for the dashboard's
 * browser test and its screenshot. the store's `runs.backdate` moves a recorded run in time, so
 * a few weeks of history can be made in seconds.
 */
import { encodePixels, PIXELS_PER_IMAGE, type RunSummary } from '@refund-vision/shared';

export interface SeedRun {
  runKey: string;
  /** N×784 uint8. */
  pixels: Uint8Array;
  labels?: number[] | undefined;
  ids?: string[] | undefined;
  batchSize?: number;
  /** Close the run (default true) so its health is checked. */
  complete?: boolean;
  processMs?: number;
  /** Sent as Bearer when the server has a key. */
  apiKey?: string;
}

export interface SeededRun {
  run: RunSummary | undefined;
  predictionIds: number[];
  classes: number[];
}

async function post(url: string, body: unknown, apiKey?: string): Promise<any> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok) throw new Error(`POST ${url}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

export async function recordRun(baseUrl: string, r: SeedRun): Promise<SeededRun> {
  const n = r.pixels.length / PIXELS_PER_IMAGE;
  const size = r.batchSize ?? 256;
  const predictionIds: number[] = [];
  const classes: number[] = [];
  for (let start = 0, batchIndex = 0; start < n; start += size, batchIndex++) {
    const end = Math.min(n, start + size);
    const images = Array.from({ length: end - start }, (_, j) => {
      const i = start + j;
      const label = r.labels?.[i];
      return { id: r.ids?.[i] ?? `${r.runKey}/img-${String(i).padStart(4, '0')}.png`, ...(label === undefined ? {} : { label }) };
    });
    const body = await post(
      `${baseUrl}/v1/predict`,
      {
        runKey: r.runKey,
        batchIndex,
        images,
        pixels: encodePixels(r.pixels.subarray(start * PIXELS_PER_IMAGE, end * PIXELS_PER_IMAGE)),
      },
      r.apiKey,
    );
    for (const p of body.predictions) (predictionIds.push(p.predictionId), classes.push(p.classIndex));
  }
  let run: RunSummary | undefined;
  if (r.complete !== false)
    run = await post(
      `${baseUrl}/v1/runs/${encodeURIComponent(r.runKey)}/complete`,
      r.processMs === undefined ? {} : { processMs: r.processMs },
      r.apiKey,
    );
  return { run, predictionIds, classes };
}

/** Copies images `indices` of a dataset into one N×784 array. */
export function pick(images: Uint8Array, indices: number[]): Uint8Array {
  const out = new Uint8Array(indices.length * PIXELS_PER_IMAGE);
  indices.forEach((k, j) => out.set(images.subarray(k * PIXELS_PER_IMAGE, (k + 1) * PIXELS_PER_IMAGE), j * PIXELS_PER_IMAGE));
  return out;
}

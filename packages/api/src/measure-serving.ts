/**
 * Serving latency of POST /v1/predict, batch 1 and batch 100, sequential requests over keep-alive
 * HTTP against a real server (in-process on a temp database, or API_URL when given).
 *   tsx packages/api/src/measure-serving.ts [--requests 200]
 * Prints median and p99 per batch size, and where the server says the time went.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFashionMnist } from '@refund-vision/model';
import { createLogger, encodePixels, loadConfig, PIXELS_PER_IMAGE } from '@refund-vision/shared';
import { startServer } from './server.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const requests = arg('requests', 200);
const dir = mkdtempSync(join(tmpdir(), 'rv-measure-'));
const external = process.env.API_URL;
const handle = external
  ? undefined
  : await startServer({
      config: loadConfig({ overrides: { api: { port: 0, dbPath: join(dir, 'rv.db') }, logs: { dir: join(dir, 'logs'), console: false } } }),
      logger: createLogger('api', { dir: join(dir, 'logs'), console: false }),
    });
const url = external ?? handle!.url;
const ds = await loadFashionMnist('test');
const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

console.log(`engine ${handle?.classifier.engine ?? '?'}, ${requests} sequential requests per size`);
for (const n of [1, 100]) {
  const wall: number[] = [];
  const inference: number[] = [];
  const server: number[] = [];
  let bytes = 0;
  for (let r = -10; r < requests; r++) {
    const start = ((r + 10) * n) % (ds.count - n);
    const body = JSON.stringify({
      runKey: `measure-${n}`,
      batchIndex: r + 10,
      images: Array.from({ length: n }, (_, i) => ({ id: `img-${start + i}.png` })),
      pixels: encodePixels(ds.images.subarray(start * PIXELS_PER_IMAGE, (start + n) * PIXELS_PER_IMAGE)),
    });
    bytes = body.length;
    const t = performance.now();
    const res = await fetch(`${url}/v1/predict`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const json = (await res.json()) as { timing: { inferenceMs: number; totalMs: number } };
    if (r < 0) continue; // warm-up
    wall.push(performance.now() - t);
    inference.push(json.timing.inferenceMs);
    server.push(json.timing.totalMs);
  }
  const f = (x: number) => x.toFixed(2).padStart(7);
  console.log(
    `batch ${String(n).padStart(3)}: wall p50 ${f(pct(wall, 0.5))} ms  p99 ${f(pct(wall, 0.99))} ms | server p50 ${f(pct(server, 0.5))} ms | inference p50 ${f(pct(inference, 0.5))} ms | ${(bytes / n).toFixed(0)} B/image request`,
  );
}
await handle?.close();
rmSync(dir, { recursive: true, force: true });

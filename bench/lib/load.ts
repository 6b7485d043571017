/**
 * Load generation against /v1/predict with autocannon (programmatic): every request carries a
 * fresh batch index, so the API really infers and records it instead of replaying a stored answer.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { encodePixels } from '../../packages/shared/src/contract.ts';
import { ROOT } from './proc.ts';

export interface LoadResult {
  batch: number;
  connections: number;
  seconds: number;
  ok: number;
  non2xx: number;
  errors: number;
  imagesPerSec: number;
  requestsPerSec: number;
  p50: number;
  p99: number;
  /** CPU the load generator itself used, in cores (1 = one core busy the whole time). */
  generatorCores: number;
}

type Autocannon = (
  opts: Record<string, unknown>,
  cb: (err: Error | null, res: any) => void,
) => { on(ev: string, fn: (...a: any[]) => void): void };

export function loadAutocannon(): Autocannon | undefined {
  for (const base of [ROOT, join(ROOT, 'packages', 'api')]) {
    try {
      return createRequire(join(base, 'package.json'))('autocannon') as Autocannon;
    } catch {
      /* try the next place */
    }
  }
  return undefined;
}

/** Pre-built /v1/predict bodies: `variants` distinct pixel blocks of `batch` images each. */
export class BodyFactory {
  private next = 0;
  private readonly pixels: string[];
  private readonly images: string;
  constructor(
    readonly runKey: string,
    readonly batch: number,
    testImages: Uint8Array,
    variants = 16,
  ) {
    const n = testImages.length / 784;
    this.pixels = Array.from({ length: variants }, (_, v) => {
      const out = new Uint8Array(batch * 784);
      for (let k = 0; k < batch; k++) {
        const i = (v * batch + k) % n;
        out.set(testImages.subarray(i * 784, (i + 1) * 784), k * 784);
      }
      return encodePixels(out);
    });
    this.images = JSON.stringify(Array.from({ length: batch }, (_, k) => ({ id: `img${k}.png` })));
  }
  body(): string {
    const i = this.next++;
    if (i > 1_000_000) throw new Error('batch index space exhausted: use a new run key');
    return `{"runKey":"${this.runKey}","batchIndex":${i},"images":${this.images},"pixels":"${this.pixels[i % this.pixels.length]}"}`;
  }
}

export function runLoad(
  ac: Autocannon,
  url: string,
  bodies: BodyFactory,
  opts: { connections: number; seconds?: number; amount?: number; onResponse?: () => void },
): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const inst = ac(
      {
        url: `${url}/v1/predict`,
        connections: opts.connections,
        pipelining: 1,
        ...(opts.amount ? { amount: opts.amount } : { duration: opts.seconds ?? 5 }),
        timeout: 30,
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req: Record<string, unknown>) => ({ ...req, body: bodies.body() }),
          },
        ],
      },
      (err, res) => {
        if (err) return reject(err);
        const secs = res.duration as number;
        const used = process.cpuUsage(cpu0);
        const generatorCores = (used.user + used.system) / 1000 / (performance.now() - t0);
        const ok = res['2xx'] as number;
        resolve({
          batch: bodies.batch,
          connections: opts.connections,
          seconds: secs,
          ok,
          non2xx: res.non2xx as number,
          errors: (res.errors as number) + (res.timeouts as number),
          imagesPerSec: (ok * bodies.batch) / secs,
          requestsPerSec: ok / secs,
          p50: res.latency.p50 as number,
          p99: res.latency.p99 as number,
          generatorCores,
        });
      },
    );
    if (opts.onResponse) inst.on('response', opts.onResponse);
  });
}

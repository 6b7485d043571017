/**
 * Item 11 (issue #11 "Several replicas"): throughput of 1, 2 and 3 API replicas on one PostgreSQL
 * against 1 API process on SQLite, and the end-to-end 1,000-image client run on PostgreSQL.
 *
 * Throughput: the client's own Sender (round-robin over the replicas, as `API_URLS` does) posts
 * precomputed batches of 64 Fashion-MNIST test images to /v1/predict, two requests in flight per
 * replica, every batch a new (run, batch) so each one is classified and written; images per second
 * from the first request to the last answer. The PostgreSQL cluster is a throwaway one (the store's
 * test helper, fsync off), every replica a separate `packages/api/src/main.ts` process on loopback.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sender } from '@refund-vision/client';
import { encodePixels, PIXELS_PER_IMAGE, type PredictRequest } from '@refund-vision/shared';
import { startPostgres, type PostgresCluster } from '@refund-vision/api/testing/postgres';
import { unavailable, type Ctx } from '../lib/context.ts';
import { makeSampleFolder } from '../lib/images.ts';
import { apiAvailable, startApi, type RunningApi } from '../lib/proc.ts';
import { median } from '../lib/stats.ts';
import type { Row } from '../lib/table.ts';
import { runClient } from './e2e.ts';
import { apiEnv } from './serving.ts';

const ITEM = 11;
const BATCH = 64;

async function throughput(ctx: Ctx, urls: string[], batches: number, tag: string): Promise<number> {
  const files = await ctx.data();
  const images = readFileSync(files.testImages);
  const count = images.length / PIXELS_PER_IMAGE;
  const sender = new Sender({
    apiUrl: urls[0]!,
    apiUrls: urls,
    retries: 2,
    retryBaseDelayMs: 100,
    retryMaxDelayMs: 1000,
    timeoutMs: 60_000,
    gzip: true,
  });
  const runKey = `bench-${tag}-${Date.now().toString(36)}`;
  const request = (b: number): PredictRequest => {
    const start = (b * BATCH) % (count - BATCH);
    return {
      runKey,
      batchIndex: b,
      source: 'client',
      images: Array.from({ length: BATCH }, (_, i) => ({ id: `b${b}-${i}` })),
      pixels: encodePixels(images.subarray(start * PIXELS_PER_IMAGE, (start + BATCH) * PIXELS_PER_IMAGE)),
    };
  };
  // warm-up: one batch per replica (engines and connection pools)
  for (let i = 0; i < urls.length; i++) await sender.predict({ ...request(i), runKey: `${runKey}-warm` });
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    for (let b = next++; b < batches; b = next++) await sender.predict(request(b));
  };
  try {
    await Promise.all(Array.from({ length: 2 * urls.length }, worker));
  } finally {
    sender.close();
  }
  return (batches * BATCH) / ((performance.now() - t0) / 1000);
}

async function withApis<T>(ctx: Ctx, n: number, env: Record<string, string>, fn: (urls: string[]) => Promise<T>): Promise<T> {
  const apis: RunningApi[] = [];
  try {
    // one at a time: the first one migrates the store
    for (let i = 0; i < n; i++) apis.push(await startApi({ ...apiEnv(ctx), ...env }, { timeoutMs: 120_000 }));
    return await fn(apis.map((a) => a.url));
  } finally {
    for (const a of apis) await a.stop();
  }
}

export async function measureReplicas(ctx: Ctx): Promise<Row[]> {
  const metricTp = (n: number) => `replicas: /v1/predict throughput, ${n} replica${n > 1 ? 's' : ''} on PostgreSQL`;
  const metricE2e = (n: number) => `replicas: end to end, 1,000 sample images, ${n} replica${n > 1 ? 's' : ''} on PostgreSQL`;
  if (!apiAvailable()) return [unavailable(ITEM, metricTp(1), 'img/s', 'not available yet: API')];
  let pg: PostgresCluster;
  try {
    pg = await startPostgres();
  } catch (e) {
    return [unavailable(ITEM, metricTp(1), 'img/s', (e as Error).message)];
  }
  const rows: Row[] = [];
  try {
    const batches = ctx.quick ? 40 : 120;
    ctx.log(`  SQLite, 1 process: ${batches} batches of ${BATCH} …`);
    const sqlite = await withApis(ctx, 1, {}, (urls) => throughput(ctx, urls, batches, 'sqlite'));
    for (const n of [1, 2, 3]) {
      ctx.log(`  PostgreSQL, ${n} replica(s): ${batches} batches of ${BATCH} …`);
      const databaseUrl = await pg.createDatabase();
      const ours = await withApis(ctx, n, { DATABASE_URL: databaseUrl }, (urls) => throughput(ctx, urls, batches, `pg${n}`));
      rows.push({
        item: ITEM,
        metric: metricTp(n),
        unit: 'img/s',
        ours,
        peer: sqlite,
        peerName: '1 API process on SQLite',
        note: `${batches} batches of ${BATCH}, 2 requests in flight per replica, client Sender round-robin; all processes share this machine's cores`,
      });
    }
    if (!ctx.samples.length) {
      rows.push(unavailable(ITEM, metricE2e(1), 's', 'sample images not found'));
      return rows;
    }
    const folder = join(ctx.tmp, 'replicas-e2e-1000');
    makeSampleFolder(folder, 1000, ctx.samples);
    for (const n of ctx.quick ? [3] : [1, 3]) {
      const databaseUrl = await pg.createDatabase();
      const times: number[] = [];
      const notes: string[] = [];
      await withApis(ctx, n, { DATABASE_URL: databaseUrl }, async (urls) => {
        for (let i = 0; i < (ctx.quick ? 1 : 2); i++) {
          ctx.log(`  pnpm batch over 1,000 images, ${n} replica(s) on PostgreSQL, run ${i + 1} …`);
          const r = await runClient(ctx, urls[0]!, folder, 600_000, { API_URLS: urls.join(',') });
          if (r.code === 0 && r.csvRows >= 1000) times.push(r.ms / 1000);
          else notes.push(`run failed: exit ${r.code}, ${r.csvRows} CSV rows, ${r.tail}`);
        }
      });
      rows.push({
        item: ITEM,
        metric: metricE2e(n),
        unit: 's',
        ours: times.length ? median(times) : null,
        peer: null,
        note: [`median of ${times.length} client run(s), process start to exit, API_URLS over ${n} replica(s)`, ...notes].join('; '),
      });
    }
  } finally {
    pg.stop();
  }
  return rows;
}

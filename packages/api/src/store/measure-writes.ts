/**
 * `tsx packages/api/src/store/measure-writes.ts [--batches 40] [--size 256]` — how long the store
 * takes to record one batch (predictions, class stats, counters, stored reply, in one transaction)
 * on a fresh SQLite file and on a throwaway PostgreSQL cluster (skipped with a message when none
 * can start). Prints the median and range of three rounds per database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pixelStats } from '../pixel-stats.ts';
import { sharedPostgres } from '../testing/postgres.ts';
import { openStore, type OpenStoreOptions, type RecordBatchInput } from './index.ts';

const { values } = parseArgs({ options: { batches: { type: 'string', default: '40' }, size: { type: 'string', default: '256' } } });
const batches = Number(values.batches);
const size = Number(values.size);
const stats = pixelStats(new Uint8Array(size * 784).map((_, i) => i % 251));

const input = (runKey: string, batchIndex: number): RecordBatchInput => ({
  runKey,
  source: 'client',
  batchIndex,
  requestHash: `h${batchIndex}`,
  modelVersion: 'v',
  engine: 'onnx',
  images: Array.from({ length: size }, (_, i) => ({ id: `g/img-${batchIndex}-${i}.png`, group: 'g', hash: 'x'.repeat(64), label: i % 10 })),
  predictions: Array.from({ length: size }, (_, i) => ({
    classIndex: i % 10,
    confidence: 0.9,
    top3: [
      { classIndex: i % 10, className: 'T-shirt/top', confidence: 0.9 },
      { classIndex: 1, className: 'Trouser', confidence: 0.05 },
      { classIndex: 2, className: 'Pullover', confidence: 0.03 },
    ],
  })),
  pixelStats: stats,
  inferenceMs: 1,
  totalMs: 2,
  respond: (ids) => ({ ids }),
});

async function measure(label: string, where: OpenStoreOptions) {
  const store = await openStore(where);
  const perBatch: number[] = [];
  for (let round = 0; round < 3; round++) {
    const t0 = performance.now();
    for (let b = 0; b < batches; b++) await store.runs.recordBatch(input(`round-${round}`, b));
    perBatch.push((performance.now() - t0) / batches);
  }
  await store.close();
  perBatch.sort((a, b) => a - b);
  console.log(
    `${label}: ${perBatch[1]!.toFixed(1)} ms per batch of ${size} (${((perBatch[1]! / size) * 1000).toFixed(0)} µs/image; rounds ${perBatch[0]!.toFixed(1)}–${perBatch[2]!.toFixed(1)} ms)`,
  );
}

const dir = mkdtempSync(join(tmpdir(), 'rv-measure-writes-'));
try {
  await measure('SQLite', { path: join(dir, 'rv.db') });
  let url: string | undefined;
  try {
    url = await (await sharedPostgres()).createDatabase();
  } catch (e) {
    console.log(`PostgreSQL: not measured (${(e as Error).message})`);
  }
  if (url) await measure('PostgreSQL (loopback, fsync off)', { url });
} finally {
  rmSync(dir, { recursive: true, force: true });
}

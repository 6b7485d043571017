/**
 * Item 5 and the client half of 7: a folder of sample-format images → results CSV + SQLite rows.
 * Ours: `pnpm batch <folder>` (the client CLI, as its own process) against a running API. Peer:
 * bench/py/pipeline.py (cv2 + PyTorch + sqlite3 + CSV), start-up included on both sides.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exists, peerProblem, unavailable, type Ctx } from '../lib/context.ts';
import { makeSampleFolder } from '../lib/images.ts';
import { run, startApi, tsxArgs, type RunResult } from '../lib/proc.ts';
import { PY_DIR, PYTHON } from '../lib/python.ts';
import { median } from '../lib/stats.ts';
import type { Row } from '../lib/table.ts';
import { apiEnv } from './serving.ts';

const CLIENT_CLI = 'packages/client/src/cli/batch.ts';
let runCounter = 0;

interface ClientRun {
  ms: number;
  peakRss: number;
  csvRows: number;
  /** Images the API recorded in SQLite for this run (GET /v1/runs/:runKey), when it could say. */
  dbImages?: number;
  code: number | null;
  tail: string;
}

/** One `pnpm batch` run with fresh client state, so every image is new to it. */
export async function runClient(
  ctx: Ctx,
  apiUrl: string,
  folder: string,
  timeoutMs: number,
  extraEnv: Record<string, string> = {},
): Promise<ClientRun> {
  const dir = join(ctx.tmp, `client-${runCounter++}`);
  const results = join(dir, 'results');
  mkdirSync(results, { recursive: true });
  const env = {
    ...process.env,
    API_URL: apiUrl,
    CLIENT_STATE_DIR: join(dir, 'state'),
    RESULTS_DIR: results,
    OUTBOX_DIR: join(dir, 'outbox'),
    LOG_DIR: join(dir, 'logs'),
    LOG_CONSOLE: 'false',
    INBOX_DIR: folder,
    ...extraEnv,
  };
  const r: RunResult = await run(process.execPath, tsxArgs(CLIENT_CLI, [folder]), { env, timeoutMs, rssEveryMs: 50 });
  const csvs = readdirSync(results).filter((f) => f.endsWith('.csv'));
  const csvRows = csvs.reduce((a, f) => a + readFileSync(join(results, f), 'utf8').trim().split('\n').length - 1, 0);
  let dbImages: number | undefined;
  for (const f of csvs) {
    try {
      const run = (await (await fetch(`${apiUrl}/v1/runs/${encodeURIComponent(f.replace(/\.csv$/, ''))}`)).json()) as {
        images?: number;
        run?: { images?: number };
      };
      const n = run.images ?? run.run?.images;
      if (typeof n === 'number') dbImages = (dbImages ?? 0) + n;
    } catch {
      /* the row then says the SQLite count is unknown */
    }
  }
  return {
    ms: r.ms,
    peakRss: r.peakRss ?? 0,
    csvRows,
    dbImages,
    code: r.code,
    tail: `${r.stdout}${r.stderr}`.trim().split('\n').slice(-2).join(' | '),
  };
}

interface PipelineResult {
  images: number;
  threads: number;
  weights: string;
  importSec: number;
  preprocessSec: number;
  inferenceSec: number;
  storeSec: number;
}

async function runPipeline(ctx: Ctx, folder: string): Promise<{ ms: number; res: PipelineResult }> {
  const dir = join(ctx.tmp, `pipeline-${runCounter++}`);
  mkdirSync(dir, { recursive: true });
  const r = await run(
    PYTHON,
    [
      join(PY_DIR, 'pipeline.py'),
      '--model-dir',
      ctx.modelDir,
      '--folder',
      folder,
      '--db',
      join(dir, 'p.db'),
      '--csv',
      join(dir, 'results.csv'),
    ],
    { timeoutMs: 600_000 },
  );
  if (r.code !== 0) throw new Error(`pipeline.py failed: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
  return { ms: r.ms, res: JSON.parse(r.stdout.trim().split('\n').pop()!) as PipelineResult };
}

const mb = (b: number) => b / 2 ** 20;

export async function measureEndToEnd(ctx: Ctx): Promise<{ rows: Row[]; clientPeakRss?: number }> {
  const item = 5;
  const metric = 'end to end, 1,000 sample images → CSV + SQLite';
  const goal = { kind: 'ratio<=', value: 1.0 } as const;
  const missing = !exists(CLIENT_CLI)
    ? `not available yet: ${CLIENT_CLI}`
    : !exists('packages/api/src/main.ts')
      ? 'not available yet: API'
      : !exists('models/fashion-cnn/model.json')
        ? 'not available yet: model'
        : undefined;
  if (missing) return { rows: [unavailable(item, metric, 's', missing, goal)] };
  if (!ctx.samples.length) return { rows: [unavailable(item, metric, 's', 'sample images not found', goal)] };
  const n = 1000;
  const folder = join(ctx.tmp, 'e2e-1000');
  makeSampleFolder(folder, n, ctx.samples);
  const runs = ctx.quick ? 1 : 3;
  const ours: ClientRun[] = [];
  const peer: { ms: number; res: PipelineResult }[] = [];
  const pyProblem = peerProblem(ctx, 'torch', 'cv2');
  let pyErr = pyProblem;
  const api = await startApi(apiEnv(ctx));
  try {
    for (let i = 0; i < runs; i++) {
      ctx.log(`  pnpm batch, run ${i + 1}/${runs} …`);
      ours.push(await runClient(ctx, api.url, folder, 300_000));
      if (!pyErr) {
        ctx.log(`  pipeline.py, run ${i + 1}/${runs} …`);
        try {
          peer.push(await runPipeline(ctx, folder));
        } catch (e) {
          pyErr = (e as Error).message;
        }
      }
    }
  } finally {
    await api.stop();
  }
  const failed = ours.filter((r) => r.code !== 0 || r.csvRows < n || (r.dbImages !== undefined && r.dbImages < n));
  const p = peer[0]?.res;
  const row: Row = {
    item,
    metric,
    unit: 's',
    ours: failed.length === ours.length ? null : median(ours.filter((r) => !failed.includes(r)).map((r) => r.ms)) / 1000,
    peer: peer.length ? median(peer.map((r) => r.ms)) / 1000 : null,
    ...(p ? { peerName: `Python cv2+PyTorch (${p.threads} thread${p.threads > 1 ? 's' : ''})+sqlite3` } : {}),
    goal,
    note: [
      `median of ${runs} runs, process start to exit, API already running (1 process, started once); SQLite rows recorded per run (GET /v1/runs/:key): ${ours.map((r) => r.dbImages ?? '?').join(', ')}`,
      failed.length
        ? `${failed.length} client run(s) failed or wrote < ${n} CSV rows: exit ${failed[0]!.code}, ${failed[0]!.csvRows} rows, ${failed[0]!.tail}`
        : '',
      p
        ? `python phases: imports ${p.importSec.toFixed(2)} s, cv2 ${p.preprocessSec.toFixed(2)} s, torch ${p.inferenceSec.toFixed(2)} s, store ${p.storeSec.toFixed(2)} s, ${p.weights} weights`
        : `peer: ${pyErr}`,
    ]
      .filter(Boolean)
      .join('; '),
  };
  return { rows: [row], clientPeakRss: Math.max(...ours.map((r) => r.peakRss)) };
}

export async function measureClientMemory(ctx: Ctx, fromE2e?: number): Promise<Row[]> {
  const item = 7;
  const goal = { kind: 'ours<=', value: 300 } as const;
  if (ctx.quick) {
    return [
      fromE2e
        ? {
            item,
            metric: 'client peak RSS, 1,000-image folder (quick)',
            unit: 'MB',
            ours: mb(fromE2e),
            peer: null,
            goal,
            note: 'quick mode: peak of the end-to-end runs (client + its workers); the full run uses 10,000 images',
          }
        : unavailable(item, 'client peak RSS', 'MB', 'end-to-end run did not produce a measurement', goal),
    ];
  }
  const metric = 'client peak RSS, 10,000-image folder';
  if (!exists(CLIENT_CLI)) return [unavailable(item, metric, 'MB', `not available yet: ${CLIENT_CLI}`, goal)];
  if (!ctx.samples.length) return [unavailable(item, metric, 'MB', 'sample images not found', goal)];
  const folder = join(ctx.tmp, 'mem-10000');
  ctx.log('  writing 10,000 sample-format images …');
  makeSampleFolder(folder, 10_000, ctx.samples, 1000);
  const api = await startApi(apiEnv(ctx));
  let r: ClientRun;
  try {
    ctx.log('  pnpm batch over 10,000 images …');
    r = await runClient(ctx, api.url, folder, 900_000);
  } finally {
    await api.stop();
  }
  return [
    {
      item,
      metric,
      unit: 'MB',
      ours: r.code === 0 ? mb(r.peakRss) : null,
      peer: null,
      goal,
      note: `client process tree (workers included) sampled every 50 ms; ${r.csvRows} CSV rows in ${(r.ms / 1000).toFixed(1)} s (${((r.csvRows / r.ms) * 1000).toFixed(0)} img/s)${r.code !== 0 ? `; client exit ${r.code}: ${r.tail}` : ''}`,
    },
  ];
}

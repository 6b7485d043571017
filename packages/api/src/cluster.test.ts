import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { predictBody, send, spawnApi, testBatch } from './test-support.ts';

interface Cluster {
  url: string;
  dir: string;
  child: ChildProcess;
  output: () => string;
  /** SIGKILL if still running; removes the folder. */
  dispose(): void;
}

/** `pnpm api` with API_WORKERS=2 in a child process on a free port, once /readyz answers 200. */
async function startCluster(): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'rv-cluster-'));
  let api;
  try {
    api = await spawnApi({ API_WORKERS: '2', DB_PATH: join(dir, 'rv.db'), LOG_DIR: join(dir, 'logs') });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const { url, child, output } = api;
  return {
    url,
    dir,
    child,
    output,
    dispose() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Each test stands on its own (the fixture is built in `before`, and the test that stops the
// process has a cluster of its own), so any one of them can run alone, in any order.
describe('pnpm api with two worker processes (cluster)', function () {
  this.timeout(90_000);
  let cluster: Cluster;
  /** Per batch, the status and body of each of its 5 concurrent copies. */
  const answers: { status: number; body: any }[][] = [];
  let completed: any;

  before(async () => {
    cluster = await startCluster();
    for (let b = 0; b < 4; b++) {
      const { pixels } = await testBatch(10, b * 10);
      const body = predictBody(pixels, { runKey: 'cluster-run', batchIndex: b });
      answers.push(await Promise.all(Array.from({ length: 5 }, () => send(`${cluster.url}/v1/predict`, { json: body }))));
    }
    completed = (await send(`${cluster.url}/v1/runs/cluster-run/complete`, { json: { failures: 0 } })).body;
  });

  after(() => cluster?.dispose());

  it('records each batch once even when its copies land on different workers', async () => {
    expect(answers).to.have.length(4);
    for (const copies of answers) {
      expect(copies.map((a) => a.status)).to.deep.equal([200, 200, 200, 200, 200]);
      expect(new Set(copies.map((a) => JSON.stringify(a.body.predictions))).size).to.equal(1);
    }
    expect(completed).to.deep.include({ images: 40, status: 'completed' });
  });

  it('answers /metrics with the sum over both workers', async () => {
    const text = await (await fetch(`${cluster.url}/metrics`)).text();
    const m = /refund_vision_http_requests_total\{method="POST",route="\/v1\/predict",status="200"\} (\d+)/.exec(text);
    expect(Number(m?.[1])).to.equal(20);
    expect(text.match(/refund_vision_model_info\{[^}]*\} 1/g)).to.have.length(1);
    const predicted = [...text.matchAll(/refund_vision_predictions_total\{class="[^"]+"\} (\d+)/g)].reduce((a, x) => a + Number(x[1]), 0);
    expect(predicted).to.equal(40);
  });
});

describe('pnpm api with two worker processes: SIGTERM', function () {
  this.timeout(90_000);
  let cluster: Cluster;
  before(async () => (cluster = await startCluster()));
  after(() => cluster?.dispose());

  it('drains and exits 0 on SIGTERM, leaving a consistent database', async () => {
    for (let b = 0; b < 2; b++) {
      const { pixels } = await testBatch(10, b * 10);
      const res = await send(`${cluster.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'sigterm-run', batchIndex: b }) });
      expect(res.status).to.equal(200);
    }
    const exited = new Promise<number | null>((resolve) => cluster.child.once('exit', (code) => resolve(code)));
    cluster.child.kill('SIGTERM');
    expect(await exited, cluster.output()).to.equal(0);
    const db = new Database(join(cluster.dir, 'rv.db'), { readonly: true });
    try {
      expect(db.prepare('SELECT COUNT(*) AS n FROM batches').get()).to.deep.equal({ n: 2 });
      expect(db.prepare('SELECT COUNT(*) AS n FROM predictions').get()).to.deep.equal({ n: 20 });
      expect(db.pragma('integrity_check', { simple: true })).to.equal('ok');
    } finally {
      db.close();
    }
  });

  it('exits 0 on a SIGTERM that arrives while the workers are still loading their model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rv-cluster-early-'));
    try {
      const api = await spawnApi({ API_WORKERS: '2', DB_PATH: join(dir, 'rv.db'), LOG_DIR: join(dir, 'logs') }, 0, false);
      const exited = new Promise<number | null>((resolve) => api.child.once('exit', (code) => resolve(code)));
      // The primary migrates the database, then forks; the workers need seconds to load: stop them mid-start.
      while (!existsSync(join(dir, 'rv.db'))) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 300));
      expect(
        await fetch(`${api.url}/readyz`).then(
          (r) => r.status,
          () => 'no answer',
        ),
      ).to.not.equal(200);
      api.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([exited, new Promise((r) => (timer = setTimeout(() => r('still running after 30 s'), 30_000)))]);
      clearTimeout(timer);
      if (code !== 0) api.child.kill('SIGKILL');
      expect(code, api.output()).to.equal(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

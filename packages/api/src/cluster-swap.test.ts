import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelRegistry } from '@refund-vision/model';
import { BUNDLED_MODEL_DIR, makeVariant } from '@refund-vision/model/testing/model-variant';
import { request } from 'node:http';
import { predictBody, spawnApi, testBatch } from './test-support.ts';

describe('hot swap with several API processes (API_WORKERS=2): each one switches', function () {
  this.timeout(120_000);
  let dir: string;
  let child: ChildProcess | undefined;

  before(() => (dir = mkdtempSync(join(tmpdir(), 'rv-cluster-swap-'))));
  after(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  /** POST /v1/predict on a new connection each time, so the cluster's round robin spreads them over the workers. */
  function predictOnNewConnection(url: string, body: unknown): Promise<{ status: number; version: string }> {
    return new Promise((resolve, reject) => {
      const req = request(`${url}/v1/predict`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, version: JSON.parse(text).modelVersion }));
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  }

  /** Asks until `streak` answers in a row, on new connections (so from both workers), name `version`. */
  async function servedEverywhere(url: string, version: string, streak = 24, withinMs = 30_000): Promise<number> {
    const { pixels } = await testBatch(4);
    const t0 = Date.now();
    let run = 0;
    let batch = 0;
    while (run < streak) {
      const r = await predictOnNewConnection(url, predictBody(pixels, { runKey: `probe-${version}`, batchIndex: batch++ }));
      expect(r.status).to.equal(200);
      run = r.version === version ? run + 1 : 0;
      if (Date.now() - t0 > withinMs) throw new Error(`not every worker serves ${version} after ${withinMs} ms`);
    }
    return Date.now() - t0;
  }

  it('a promotion reaches both workers without a restart; a rollback too', async () => {
    const registryDir = join(dir, 'registry');
    const registry = new ModelRegistry({ root: registryDir, bundledDir: BUNDLED_MODEL_DIR });
    const champion = registry.resolveAlias('champion')!.version;
    const next = await makeVariant(join(dir, 'candidate'), 3, { withOnnx: true });
    await registry.add(join(dir, 'candidate'), { by: 'test' });
    const api = await spawnApi({
      API_WORKERS: '2',
      DB_PATH: join(dir, 'rv.db'),
      LOG_DIR: join(dir, 'logs'),
      MODEL_REGISTRY: registryDir,
      MODEL_REGISTRY_POLL_MS: '100',
    });
    child = api.child;
    await servedEverywhere(api.url, champion);
    await registry.move('champion', next, { by: 'test', reason: 'cluster swap', kind: 'promote', forced: true });
    await servedEverywhere(api.url, next);
    await registry.rollback({ by: 'test' });
    await servedEverywhere(api.url, champion);
  });
});

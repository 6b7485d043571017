import { expect } from 'chai';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportOnnx, weightsVersion } from '@refund-vision/model';
import { predictBody, send, testBatch, useTestServer } from './test-support.ts';

/** Another real version of the committed model (one weight byte nudged), exported to ONNX like a trained one. */
async function nudgedModel(from: string, to: string): Promise<string> {
  cpSync(from, to, { recursive: true });
  const w = readFileSync(join(to, 'weights.bin'));
  w[64] = w[64]! ^ 1;
  writeFileSync(join(to, 'weights.bin'), w);
  const card = { ...JSON.parse(readFileSync(join(to, 'model-card.json'), 'utf8')), version: weightsVersion(w) };
  writeFileSync(join(to, 'model-card.json'), JSON.stringify(card));
  await exportOnnx(to);
  return card.version;
}

describe('hot swap: a promotion in the registry changes the served model without a restart', function () {
  this.timeout(120_000);
  const api = useTestServer({ model: { registryPollMs: 0 } });

  it('under concurrent load: no failed request, readiness stays up, every answer names the version that made it; rollback returns', async () => {
    const before = api.classifier.version;
    const next = await nudgedModel(api.config.model.dir, join(api.dir, 'candidate'));
    await api.registry.add(join(api.dir, 'candidate'), { by: 'test' });
    const { pixels } = await testBatch(16);
    let stop = false;
    let batch = 0;
    const answers: Array<{ status: number; version: string; batchIndex: number }> = [];
    const ready: number[] = [];
    const clients = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const batchIndex = batch++;
        const r = await send(`${api.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'swap-run', batchIndex }) });
        answers.push({ status: r.status, version: r.body.modelVersion, batchIndex });
      }
    });
    const probe = (async () => {
      while (!stop) {
        ready.push((await send(`${api.url}/readyz`)).status);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    await api.registry.move('champion', next, { by: 'test', reason: 'hot swap test', kind: 'promote' });
    await api.modelWatcher.check();
    expect(api.classifier.version).to.equal(next);
    await new Promise((r) => setTimeout(r, 150));
    stop = true;
    await Promise.all([...clients, probe]);

    expect(answers.filter((a) => a.status !== 200)).to.deep.equal([]);
    expect(ready.every((s) => s === 200)).to.equal(true);
    const versions = new Set(answers.map((a) => a.version));
    expect([...versions].sort()).to.deep.equal([before, next].sort());
    await api.registry.rollback({ by: 'test' });
    await api.modelWatcher.check();
    const after = await send(`${api.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'after-rollback' }) });
    expect(after.status).to.equal(200);
    expect(after.body.modelVersion).to.equal(before);
  });
});

import { expect } from 'chai';
import { join } from 'node:path';
import { makeVariant } from '@refund-vision/model/testing/model-variant';
import { predictBody, send, testBatch, useTestServer } from './test-support.ts';

describe('hot swap: a promotion in the registry changes the served model without a restart', function () {
  this.timeout(120_000);
  const api = useTestServer({ model: { registryPollMs: 0 } });

  it('under concurrent load: no failed request, readiness stays up, every answer and stored prediction names the version that made it; rollback returns', async () => {
    const before = api.classifier.version;
    const next = await makeVariant(join(api.dir, 'candidate'), 1, { from: api.config.model.dir, withOnnx: true });
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
    // every stored prediction names the model version that made it, batch by batch
    const run = await send(`${api.url}/v1/runs/swap-run?limit=1000`);
    expect(run.status).to.equal(200);
    const byBatch = new Map(answers.map((a) => [a.batchIndex, a.version]));
    expect(run.body.predictions.length).to.equal(Math.min(1000, answers.length * 16));
    for (const p of run.body.predictions) expect(p.modelVersion).to.equal(byBatch.get(p.batchIndex));

    await api.registry.rollback({ by: 'test' });
    await api.modelWatcher.check();
    const after = await send(`${api.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'after-rollback' }) });
    expect(after.status).to.equal(200);
    expect(after.body.modelVersion).to.equal(before);
  });
});

describe('shadow: a challenger answers live traffic beside the champion; its answers are recorded, never returned', function () {
  this.timeout(120_000);
  const api = useTestServer({ model: { registryPollMs: 0 } });

  it('records the challenger per prediction and reports agreement and both accuracies on labelled items', async () => {
    const challenger = await makeVariant(join(api.dir, 'challenger'), 40, { from: api.config.model.dir, withOnnx: true });
    await api.registry.add(join(api.dir, 'challenger'), { by: 'test' });
    await api.registry.move('challenger', challenger, { by: 'test', reason: 'shadow test', kind: 'challenge' });
    await api.modelWatcher.check();
    const { pixels, labels } = await testBatch(64, 100);
    const r = await send(`${api.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'shadow-run', labels }) });
    expect(r.status).to.equal(200);
    expect(r.body.modelVersion).to.equal(api.classifier.version); // the champion answers
    await api.shadow.idle();
    const models = await send(`${api.url}/v1/models`);
    expect(models.status).to.equal(200);
    expect(models.body.challenger.version).to.equal(challenger);
    const cmp = models.body.shadow.comparisons.find((c: any) => c.challengerVersion === challenger);
    expect(cmp).to.include({ compared: 64, withTruth: 64 });
    const right = r.body.predictions.filter((p: any, i: number) => p.classIndex === labels[i]).length;
    expect(cmp.championAccuracy).to.be.closeTo(right / 64, 1e-9);
    expect(cmp.agreement).to.be.within(0.8, 1); // one weight byte apart: nearly always the same answer
    expect(cmp.challengerAccuracy).to.be.within(0.7, 1);
    expect(models.body.history[0]).to.include({ alias: 'challenger', to: challenger, kind: 'challenge', by: 'test' });
    // clearing the challenger stops the shadow
    await api.registry.move('challenger', null, { by: 'test', reason: 'done', kind: 'retire' });
    await api.modelWatcher.check();
    expect((await send(`${api.url}/v1/models`)).body.challenger).to.equal(null);
  });
});

import { expect } from 'chai';
import { RunSummary } from '@refund-vision/shared';
import { predictBody, send, startTestServer, testBatch, type TestServer } from '../test-support.ts';

describe('runs history: /v1/runs', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer();
    for (let r = 0; r < 5; r++) {
      for (let b = 0; b < 2; b++) {
        const { pixels, labels } = await testBatch(10, r * 100 + b * 10);
        const res = await send(`${srv.url}/v1/predict`, { json: predictBody(pixels, { runKey: `hist-${r}`, batchIndex: b, labels }) });
        expect(res.status).to.equal(200);
      }
    }
  });
  after(async () => srv?.stop());

  it('lists runs newest first, page by page with the cursor', async () => {
    const seen: string[] = [];
    let url = `${srv.url}/v1/runs?limit=2`;
    for (;;) {
      const res = await send(url);
      expect(res.status).to.equal(200);
      for (const r of res.body.runs) RunSummary.parse(r);
      seen.push(...res.body.runs.map((r: any) => r.runKey));
      if (!res.body.nextCursor) break;
      url = `${srv.url}/v1/runs?limit=2&cursor=${encodeURIComponent(res.body.nextCursor)}`;
    }
    expect(seen).to.deep.equal(['hist-4', 'hist-3', 'hist-2', 'hist-1', 'hist-0']);
    const future = await send(`${srv.url}/v1/runs?from=2999-01-01`);
    expect(future.body.runs).to.deep.equal([]);
    // The day is the last run's own, not `new Date()`'s: runs recorded just before UTC midnight and
    // a query just after would otherwise ask for the wrong day.
    const started = await Promise.all([0, 1, 2, 3, 4].map(async (r) => (await srv.store.runs.getRunByKey(`hist-${r}`))!.startedAt));
    const day = started[4]!.slice(0, 10);
    const byDay = (await send(`${srv.url}/v1/runs?from=${day}&to=${day}`)).body.runs.map((r: any) => r.runKey);
    expect(byDay).to.deep.equal(['hist-4', 'hist-3', 'hist-2', 'hist-1', 'hist-0'].filter((_, i) => started[4 - i]!.startsWith(day)));
    expect(byDay[0]).to.equal('hist-4');
  });

  it('shows one run by id or key with per-class breakdown and paged predictions', async () => {
    const byKey = await send(`${srv.url}/v1/runs/hist-2?limit=15`);
    expect(byKey.status).to.equal(200);
    const run = RunSummary.parse(byKey.body.run);
    expect(run.images).to.equal(20);
    expect(run.perClass.reduce((s, c) => s + c.count, 0)).to.equal(20);
    expect(run.accuracy).to.be.a('number');
    expect(byKey.body.predictions).to.have.length(15);
    const rest = await send(`${srv.url}/v1/runs/${run.id}?limit=15&cursor=${encodeURIComponent(byKey.body.nextCursor)}`);
    expect(rest.body.predictions).to.have.length(5);
    expect(rest.body.nextCursor).to.equal(null);
    expect(rest.body.run.runKey).to.equal('hist-2');
    expect((await send(`${srv.url}/v1/runs/nope`)).status).to.equal(404);
  });

  it('completes a run with health checks, idempotently', async () => {
    const res = await send(`${srv.url}/v1/runs/hist-1/complete`, { json: { failures: 1, processMs: 500, imagesSeen: 21 } });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    const run = RunSummary.parse(res.body);
    expect(run).to.deep.include({ status: 'completed', failures: 1, processMs: 500, msPerPrediction: 25 });
    expect(run.health).to.be.oneOf(['OK', 'WARN', 'ALERT']);
    expect(run.checks!.length).to.be.greaterThan(0);
    const again = await send(`${srv.url}/v1/runs/hist-1/complete`, { json: { failures: 7 } });
    expect(again.body).to.deep.equal(res.body);
    const noBody = await send(`${srv.url}/v1/runs/hist-0/complete`, { method: 'POST' });
    expect(noBody.status).to.equal(200);
    expect(noBody.body.failures).to.equal(0);
    expect((await send(`${srv.url}/v1/runs/hist-9/complete`, { json: {} })).status).to.equal(404);
  });

  it('answers bad queries with 400', async () => {
    for (const q of ['limit=0', 'limit=abc', 'from=yesterday', 'cursor=zzz', 'bogus=1', 'limit=1&limit=2']) {
      const res = await send(`${srv.url}/v1/runs?${q}`);
      expect(res.status, q).to.equal(400);
      expect(res.body.error.code).to.be.a('string');
    }
    expect((await send(`${srv.url}/v1/runs/hist-2/complete`, { json: { failures: -1 } })).status).to.equal(400);
    expect((await send(`${srv.url}/v1/runs/hist-2/complete`, { json: { extra: 1 } })).status).to.equal(400);
  });
});

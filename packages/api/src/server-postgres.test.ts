/**
 * The API end to end on PostgreSQL: two real servers ("replicas") on one real database, as several
 * API replicas behind a Service run. Exactly-once must hold between them, and everything one
 * records, the other reads. The metrics CLI reads the same database through DATABASE_URL.
 */
import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { PIXELS_PER_IMAGE, RunSummary } from '@refund-vision/shared';
import { freshPostgresUrl } from './testing/postgres.ts';
import { predictBody, runCli, send, startTestServer, testBatch, type TestServer } from './test-support.ts';

const METRICS_CLI = fileURLToPath(new URL('./cli/metrics.ts', import.meta.url));

describe('the API on PostgreSQL: two replicas, one database', function () {
  this.timeout(120_000);
  let databaseUrl: string;
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    databaseUrl = await freshPostgresUrl();
    a = await startTestServer({ api: { databaseUrl } });
    b = await startTestServer({ api: { databaseUrl } });
    expect(a.store.kind).to.equal('postgres');
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
  });

  it('records every batch once when both replicas get it at the same moment, and replays the stored answer', async () => {
    const size = 32;
    const batches = 6;
    const sent = [];
    for (let i = 0; i < batches; i++) {
      const { pixels, labels } = await testBatch(size, i * size);
      const body = predictBody(pixels, { runKey: 'pg-run', batchIndex: i, labels, ids: labels.map((_, j) => `b${i}/img-${j}.png`) });
      // the same batch to both replicas at once, with the client's Idempotency-Key
      sent.push(...[a, b].map((s) => send(`${s.url}/v1/predict`, { json: body, headers: { 'idempotency-key': `pg-run:${i}` } })));
    }
    const answers = await Promise.all(sent);
    expect(answers.map((r) => r.status)).to.deep.equal(new Array(2 * batches).fill(200));
    expect(answers.filter((r) => r.body.replayed === false)).to.have.length(batches);
    for (let i = 0; i < batches; i++) {
      const [x, y] = [answers[2 * i]!.body, answers[2 * i + 1]!.body];
      expect({ ...x, replayed: null, timing: null }).to.deep.equal({ ...y, replayed: null, timing: null });
    }
    const run = RunSummary.parse((await send(`${b.url}/v1/runs/pg-run`)).body.run);
    expect(run.images).to.equal(size * batches);
    expect(run.labelled).to.equal(size * batches);
    expect(run.perClass.reduce((s, c) => s + c.count, 0)).to.equal(size * batches);
    // a different body under a used key is refused by either replica
    const { pixels } = await testBatch(2, 5000);
    const conflict = await send(`${a.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'pg-run', batchIndex: 0 }) });
    expect(conflict.status).to.equal(409);
  });

  it('completes the run on one replica and serves it, its predictions, feedback and history from the other', async () => {
    const done = await send(`${a.url}/v1/runs/pg-run/complete`, { json: { processMs: 900, imagesSeen: 192 } });
    expect(done.status, JSON.stringify(done.body)).to.equal(200);
    const run = RunSummary.parse(done.body);
    expect(run).to.deep.include({ status: 'completed', processMs: 900 });
    expect(run.health).to.be.oneOf(['OK', 'WARN', 'ALERT']);
    expect((await send(`${b.url}/v1/runs/pg-run/complete`, { json: { processMs: 1 } })).body).to.deep.equal(done.body);

    const first = await send(`${b.url}/v1/runs/${run.id}?limit=100`);
    expect(first.body.predictions).to.have.length(100);
    const rest = await send(`${b.url}/v1/runs/${run.id}?limit=100&cursor=${encodeURIComponent(first.body.nextCursor)}`);
    expect(rest.body.predictions).to.have.length(92);
    expect(rest.body.nextCursor).to.equal(null);
    const ids = [...first.body.predictions, ...rest.body.predictions].map((p: { id: string }) => p.id);
    expect(new Set(ids).size).to.equal(192);

    const p = first.body.predictions[0];
    const fb = await send(`${a.url}/v1/predictions/${p.predictionId}/feedback`, { json: { correctClass: (p.classIndex + 1) % 10 } });
    expect(fb.status, JSON.stringify(fb.body)).to.equal(200);
    expect(fb.body).to.deep.include({ correct: false, runFeedbackCount: 1, runFeedbackAccuracy: 0 });

    const summary = (await send(`${b.url}/v1/summary`)).body;
    expect(summary).to.deep.include({ runs: 1, completedRuns: 1, images: 192 });
    expect(summary.accuracy.labelled).to.equal(192);
    expect(summary.feedbackAccuracy).to.deep.equal({ value: 0, count: 1 });
    const history = (await send(`${a.url}/v1/history?days=7`)).body;
    expect(history.runs).to.equal(1);
    expect(history.images).to.deep.equal([192]);
    const csv = await send(`${b.url}/v1/runs.csv`);
    expect(csv.status).to.equal(200);
    expect(csv.text.trim().split('\n')).to.have.length(2);
  });

  it('records one-shot runs (V2) on Postgres too', async () => {
    const { pixels } = await testBatch(3, 7000);
    const res = await send(`${b.url}/v2/models/fashion-cnn/infer`, {
      json: { inputs: [{ name: 'images', shape: [3, PIXELS_PER_IMAGE], datatype: 'UINT8', data: Array.from(pixels) }] },
    });
    expect(res.status, res.text).to.equal(200);
    const runs = (await send(`${a.url}/v1/runs`)).body.runs as RunSummary[];
    expect(runs.find((r) => r.source === 'v2')).to.deep.include({ images: 3, status: 'completed' });
  });

  it('pnpm metrics reads the Postgres store through DATABASE_URL, read-only', async () => {
    const r = await runCli(METRICS_CLI, ['--format', 'json'], { DATABASE_URL: databaseUrl });
    expect(r.code, r.err).to.equal(0);
    const { summary, runs } = JSON.parse(r.out);
    expect(summary.images).to.equal(195);
    expect(runs.map((x: RunSummary) => x.runKey)).to.include('pg-run');
    expect(r.out).to.not.include('password');
  });
});

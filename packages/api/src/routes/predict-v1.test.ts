import { expect } from 'chai';
import { PIXELS_PER_IMAGE, PredictResponse, RunSummary } from '@refund-vision/shared';
import { liveTensors, predictBody, send, useTestServer, startTestServer, testBatch } from '../test-support.ts';

describe('POST /v1/predict', () => {
  const srv = useTestServer();

  it('classifies a labelled batch of test images, records it, and reports accuracy from the labels', async () => {
    const { pixels, labels } = await testBatch(100);
    const res = await send(`${srv.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'acc-run', labels }) });
    expect(res.status).to.equal(200);
    const body = PredictResponse.parse(res.body);
    expect(body.replayed).to.equal(false);
    expect(body.modelVersion).to.equal(srv.classifier.version);
    expect(body.predictions).to.have.length(100);
    const right = body.predictions.filter((p, i) => p.classIndex === labels[i]).length;
    expect(right).to.be.greaterThan(80);
    for (const p of body.predictions) {
      expect(p.top3).to.have.length(3);
      expect(p.top3[0]!.classIndex).to.equal(p.classIndex);
      expect(p.top3[0]!.confidence).to.be.at.least(p.top3[1]!.confidence);
      expect(p.predictionId).to.be.a('number');
    }
    const run = RunSummary.parse(await srv.store.runs.getRun('acc-run'));
    expect(run.images).to.equal(100);
    expect(run.labelled).to.equal(100);
    expect(run.accuracy).to.equal(right / 100);
    expect(run.meanConfidence).to.not.equal(run.accuracy);
  });

  it('accepts a gzip body and answers the same as plain JSON', async () => {
    const { pixels } = await testBatch(10, 200);
    const plain = await send(`${srv.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'gz', batchIndex: 0 }) });
    const zipped = await send(`${srv.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'gz', batchIndex: 1 }), gzip: true });
    expect(zipped.status).to.equal(200);
    expect(zipped.body.predictions.map((p: any) => p.top3)).to.deep.equal(plain.body.predictions.map((p: any) => p.top3));
  });

  it('records the same batch sent five times at once exactly once, with identical answers', async () => {
    const { pixels } = await testBatch(20, 300);
    const body = predictBody(pixels, { runKey: 'dup-run', batchIndex: 3 });
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => send(`${srv.url}/v1/predict`, { json: body, headers: { 'idempotency-key': 'dup-run/3' } })),
    );
    expect(answers.map((a) => a.status)).to.deep.equal([200, 200, 200, 200, 200]);
    expect(answers.filter((a) => a.body.replayed === false)).to.have.length(1);
    const strip = (b: any) => ({ ...b, replayed: undefined });
    for (const a of answers) expect(strip(a.body)).to.deep.equal(strip(answers[0]!.body));
    const rows = await srv.store.db
      .selectFrom('batches as b')
      .innerJoin('runs as r', 'r.id', 'b.run_id')
      .select('b.id')
      .where('r.run_key', '=', 'dup-run')
      .execute();
    expect(rows).to.have.length(1);
    expect((await srv.store.runs.getRun('dup-run'))!.images).to.equal(20);
    // and later, sequentially: still the stored answer
    const later = await send(`${srv.url}/v1/predict`, { json: body });
    expect(later.body.replayed).to.equal(true);
    expect(strip(later.body)).to.deep.equal(strip(answers[0]!.body));
  });

  it('refuses a different body under a used batch index or Idempotency-Key with 409', async () => {
    const a = await testBatch(2, 400);
    const b = await testBatch(2, 402);
    expect(
      (
        await send(`${srv.url}/v1/predict`, {
          json: predictBody(a.pixels, { runKey: 'conf', batchIndex: 0 }),
          headers: { 'idempotency-key': 'key-0' },
        })
      ).status,
    ).to.equal(200);
    const sameIndex = await send(`${srv.url}/v1/predict`, { json: predictBody(b.pixels, { runKey: 'conf', batchIndex: 0 }) });
    expect(sameIndex.status).to.equal(409);
    expect(sameIndex.body.error.code).to.equal('idempotency-conflict');
    const sameKey = await send(`${srv.url}/v1/predict`, {
      json: predictBody(b.pixels, { runKey: 'conf', batchIndex: 1 }),
      headers: { 'idempotency-key': 'key-0' },
    });
    expect(sameKey.status).to.equal(409);
    expect((await srv.store.runs.getRun('conf'))!.images).to.equal(2);
    // the same race while both are in flight: one is recorded, the other refused
    const race = await Promise.all(
      [a, b].map((x) => send(`${srv.url}/v1/predict`, { json: predictBody(x.pixels, { runKey: 'race', batchIndex: 0 }) })),
    );
    expect(race.map((r) => r.status).sort()).to.deep.equal([200, 409]);
    expect((await srv.store.runs.getRun('race'))!.images).to.equal(2);
  });

  it('answers malformed batches with 4xx JSON and leaves no tensors behind', async () => {
    const before = liveTensors(srv.classifier);
    const { pixels } = await testBatch(2);
    const good = predictBody(pixels, { runKey: 'bad' });
    const cases: [unknown, number, string, RegExp?][] = [
      [{ ...good, images: [] }, 400, 'invalid-request'],
      [{ ...good, pixels: good.pixels.slice(4) }, 400, 'invalid-request'],
      [{ ...good, batchIndex: -1 }, 400, 'invalid-request'],
      [{ ...good, runKey: '../x' }, 400, 'invalid-request'],
      [{ ...good, pixels: 12 }, 400, 'invalid-request'],
      // right length, valid base64, but of 1,569 bytes: the contract counts the padding
      [
        { ...good, pixels: `${good.pixels.slice(0, -4)}AAAA`.replace(/=/g, 'A') },
        400,
        'invalid-request',
        /^pixels: not base64 of 1568 bytes/,
      ],
      [{ ...good, pixels: `${good.pixels.slice(0, -5)}-AAA=` }, 400, 'invalid-request', /^pixels: not base64: character "-"/],
    ];
    for (const [json, status, code, message] of cases) {
      const res = await send(`${srv.url}/v1/predict`, { json });
      expect(res.status, JSON.stringify(res.body)).to.equal(status);
      expect(res.body.error.code).to.equal(code);
      if (message) expect(res.body.error.message).to.match(message);
    }
    const tooMany = predictBody(new Uint8Array(1025 * PIXELS_PER_IMAGE), { runKey: 'big' });
    const big = await send(`${srv.url}/v1/predict`, { json: tooMany });
    expect(big.status).to.equal(400);
    expect(
      (await send(`${srv.url}/v1/predict`, { body: '{"runKey":', headers: { 'content-type': 'application/json' } })).body.error.code,
    ).to.equal('invalid-json');
    expect(
      (await send(`${srv.url}/v1/predict`, { body: JSON.stringify(good), headers: { 'content-type': 'text/plain' } })).status,
    ).to.equal(415);
    expect(
      (
        await send(`${srv.url}/v1/predict`, {
          body: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]',
          headers: { 'content-type': 'application/json' },
        })
      ).body.error.code,
    ).to.equal('too-deep');
    expect(liveTensors(srv.classifier)).to.equal(before);
    expect(await srv.store.runs.getRun('bad')).to.equal(undefined);
  });

  it('refuses a body over the limit with 413, also when it only grows that big after gunzip', async () => {
    const limited = await startTestServer({ api: { bodyLimitBytes: 64 * 1024 } });
    try {
      const { pixels } = await testBatch(100);
      const res = await send(`${limited.url}/v1/predict`, { json: predictBody(pixels) });
      expect(res.status).to.equal(413);
      expect(res.body.error.code).to.equal('body-too-large');
      const bomb = await send(`${limited.url}/v1/predict`, { json: { runKey: 'x', pad: 'A'.repeat(1_000_000) }, gzip: true });
      expect(bomb.status).to.equal(413);
    } finally {
      await limited.stop();
    }
  });
});

/**
 * The review queue through the real API and the real model: items from /v1/predict (labels that
 * contradict the answer are mismatches), claims by two reviewers, decisions, the audit trail, the
 * CSV export, saliency, thumbnails and the training-set contract `pnpm train --with-reviews` reads.
 */
import { expect } from 'chai';
import { NUM_CLASSES, PIXELS_PER_IMAGE, parseCsv, RunDetailResponse, TrainingSetResponse } from '@refund-vision/shared';
import { predictBody, send, sharedClassifier, testBatch, useTestServer } from '../test-support.ts';

const XSS = '<img src=x onerror=alert(1)>.png';

describe('review queue API', function () {
  this.timeout(60_000);
  const srv = useTestServer();
  let ids: number[];
  let predicted: number[];

  before(async () => {
    const { pixels } = await testBatch(8, 40);
    const probs = await (await sharedClassifier()).predict(pixels, 8);
    predicted = Array.from({ length: 8 }, (_, i) => {
      const row = probs.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES);
      return row.indexOf(Math.max(...row));
    });
    // Orders that say another class for images 0–3: four mismatches; the other four agree.
    const labels = predicted.map((p, i) => (i < 4 ? (p + 1 + i) % NUM_CLASSES : p));
    const ids_ = Array.from({ length: 8 }, (_, i) => (i === 1 ? XSS : `q/item-${i}.png`));
    const res = await send(`${srv.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'queue-run', labels, ids: ids_ }) });
    expect(res.status).to.equal(200);
    ids = res.body.predictions.map((p: { predictionId: number }) => p.predictionId);
  });

  it('lists mismatches first, lowest probability of the ordered class first, with what the model saw', async () => {
    const res = await send(`${srv.url}/v1/reviews?reason=mismatch`);
    expect(res.status).to.equal(200);
    expect(res.body.total).to.equal(4);
    const items = res.body.items as { id: number; priority: number; expected: number; imageId: string }[];
    expect(items.map((i) => i.id).sort()).to.deep.equal(ids.slice(0, 4).sort());
    for (let k = 1; k < items.length; k++) expect(items[k]!.priority).to.be.at.least(items[k - 1]!.priority);
    const one = await send(`${srv.url}/v1/reviews/${ids[1]}`);
    expect(one.body).to.include({ imageId: XSS, reason: 'mismatch', thumbnail: null, decided: false });
    const { pixels } = await testBatch(8, 40);
    expect(Buffer.from(one.body.pixels, 'base64')).to.deep.equal(Buffer.from(pixels.subarray(PIXELS_PER_IMAGE, 2 * PIXELS_PER_IMAGE)));
    expect((await send(`${srv.url}/v1/reviews/999999`)).status).to.equal(404);
    expect((await send(`${srv.url}/v1/reviews/abc`)).status).to.equal(404);
    expect((await send(`${srv.url}/v1/reviews?status=maybe`)).status).to.equal(400);
  });

  it('two reviewers claiming at once get different items; a claimed item refuses the other', async () => {
    const claim = (reviewer: string) => send(`${srv.url}/v1/reviews/claim`, { json: { reviewer } });
    const [a, b] = await Promise.all([claim('ann'), claim('bob')]);
    expect(a.body.item.id).to.not.equal(b.body.item.id);
    const taken = await send(`${srv.url}/v1/reviews/${a.body.item.id}/claim`, { json: { reviewer: 'bob' } });
    expect(taken.status).to.equal(409);
    expect(taken.body.error.code).to.equal('claimed');
    const refused = await send(`${srv.url}/v1/reviews/${a.body.item.id}/decision`, { json: { decision: 'none', reviewer: 'bob' } });
    expect(refused.status).to.equal(409);
    for (const [r, who] of [
      [a, 'ann'],
      [b, 'bob'],
    ] as const)
      expect((await send(`${srv.url}/v1/reviews/${r.body.item.id}/release`, { json: { reviewer: who } })).body.released).to.equal(true);
  });

  it('decisions: confirm, class, none, undo — an audit trail, a CSV, and the training set', async () => {
    const decide = (id: number, body: object) => send(`${srv.url}/v1/reviews/${id}/decision`, { json: { reviewer: 'cy', ...body } });
    expect((await decide(ids[0]!, { decision: 'confirm', secondsSpent: 3 })).body.decision).to.include({
      decision: 'class',
      classIndex: predicted[0],
      decidedBy: 'cy',
      secondsSpent: 3,
    });
    expect((await decide(ids[1]!, { decision: 'class', classIndex: 4 })).status).to.equal(200);
    expect((await decide(ids[2]!, { decision: 'none' })).status).to.equal(200);
    expect((await decide(ids[2]!, { decision: 'undo' })).status).to.equal(200);
    expect((await decide(ids[3]!, { decision: 'undo' })).status).to.equal(409);
    expect((await decide(ids[3]!, { decision: 'class' })).status).to.equal(400);
    expect((await decide(ids[3]!, { decision: 'none', classIndex: 2 })).status).to.equal(400);

    expect((await decide(ids[3]!, { decision: 'none' })).status).to.equal(200);

    const trail = (await send(`${srv.url}/v1/reviews/decisions`)).body.decisions as { decision: string; imageId: string }[];
    expect(trail.map((d) => d.decision)).to.deep.equal(['none', 'undo', 'none', 'class', 'class']);
    expect(trail[3]!.imageId).to.equal(XSS);

    const detail = RunDetailResponse.parse((await send(`${srv.url}/v1/runs/queue-run`)).body);
    // the latest decisions: one confirmed (right), one corrected to class 4 (wrong unless it said 4),
    // one "none of these" (wrong); the undone "none" is no feedback
    expect(detail.run.feedbackAccuracy).to.be.closeTo(predicted[1] === 4 ? 2 / 3 : 1 / 3, 1e-12);
    expect(detail.predictions.slice(0, 5).map((p) => [p.feedbackClass, p.feedbackNone])).to.deep.equal([
      [predicted[0], false],
      [4, false],
      [null, false],
      [null, true],
      [null, false],
    ]);

    const csv = await send(`${srv.url}/v1/reviews?status=all&format=csv`);
    expect(csv.headers.get('content-type')).to.match(/^text\/csv/);
    const rows = parseCsv(csv.text);
    expect(rows[0]).to.include.members(['id', 'reason', 'file', 'decision', 'decided_by']);
    expect(rows).to.have.length(1 + (await send(`${srv.url}/v1/reviews?status=all`)).body.total);

    const training = TrainingSetResponse.parse((await send(`${srv.url}/v1/reviews/training-set`)).body);
    expect(training.items.map((t) => [t.id, t.classIndex])).to.deep.equal([
      [String(ids[0]), predicted[0]],
      [String(ids[1]), 4],
      [String(ids[3]), null],
    ]);
    expect(Buffer.from(training.items[0]!.pixels, 'base64')).to.have.length(PIXELS_PER_IMAGE);
    expect(training.items[0]!.modelVersion).to.equal(srv.classifier.version);
  });

  it('saliency: an occlusion map over the 28×28, computed once and then cached', async () => {
    const first = await send(`${srv.url}/v1/reviews/${ids[3]}/saliency`);
    expect(first.status).to.equal(200);
    expect(first.body.values).to.have.length(PIXELS_PER_IMAGE);
    expect(Math.max(...first.body.values)).to.equal(1);
    expect(Math.min(...first.body.values)).to.be.at.least(0);
    expect(first.body.cached).to.equal(false);
    const again = await send(`${srv.url}/v1/reviews/${ids[3]}/saliency`);
    expect(again.body).to.deep.include({ cached: true, values: first.body.values });
  });

  it('thumbnails: stored for known items, unknown ids reported, bad bodies refused', async () => {
    const data = Buffer.from('RIFF\0\0\0\0WEBPVP8 ').toString('base64');
    const ok = await send(`${srv.url}/v1/reviews/thumbnails`, {
      json: {
        items: [
          { predictionId: ids[3], type: 'image/webp', data },
          { predictionId: 999_999, type: 'image/webp', data },
        ],
      },
    });
    expect(ok.body).to.deep.equal({ stored: 1, missing: [999_999] });
    expect((await send(`${srv.url}/v1/reviews/${ids[3]}`)).body.thumbnail).to.deep.equal({ type: 'image/webp', data });
    for (const bad of [
      { items: [] },
      { items: [{ predictionId: ids[3], type: 'image/png', data }] },
      { items: [{ predictionId: ids[3], type: 'image/webp', data: 'not base64!' }] },
      { items: [{ predictionId: ids[3], type: 'image/webp', data: 'A'.repeat(200_000) }] },
    ]) {
      const res = await send(`${srv.url}/v1/reviews/thumbnails`, { json: bad });
      expect(res.status, JSON.stringify(bad).slice(0, 80)).to.equal(400);
      expect(res.body.error.code).to.be.a('string');
    }
  });
});

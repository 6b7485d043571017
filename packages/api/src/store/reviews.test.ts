import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReviewReason } from '@refund-vision/shared';
import { freshPostgresUrl } from '../testing/postgres.ts';
import { pixelStats } from '../pixel-stats.ts';
import { openStore, type RecordBatchInput, type Store } from './index.ts';

/** Six predictions: one trusted, the rest to review with given reasons and priorities. */
function batch(runKey: string, batchIndex = 0): RecordBatchInput {
  const reasons: [ReviewReason | null, number][] = [
    [null, 0],
    ['low-confidence', 0.3],
    ['mismatch', 0.2],
    ['out-of-scope', 0.4],
    ['low-confidence', 0.1],
    ['mismatch', 0.05],
  ];
  const n = reasons.length;
  const pixels = new Uint8Array(n * 784).map((_, i) => Math.floor(i / 784) * 10);
  return {
    runKey,
    source: 'client',
    batchIndex,
    requestHash: `h-${runKey}-${batchIndex}`,
    modelVersion: 'm1',
    engine: 'onnx',
    images: reasons.map((_, i) => ({ id: `<b>img-${i}</b>.png`, label: i === 2 || i === 5 ? 3 : undefined })),
    predictions: reasons.map(([review, priority]) => ({
      classIndex: 1,
      confidence: 0.6,
      top3: [],
      review,
      ...(review ? { priority } : {}),
    })),
    pixels,
    pixelStats: pixelStats(pixels),
    inferenceMs: 1,
    totalMs: 2,
    respond: (ids) => ({ ids }),
  };
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`review queue on ${kind}`, function () {
    this.timeout(30_000);
    let dir: string;
    let store: Store;
    let ids: number[];
    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'rv-reviews-'));
      store = await openStore(kind === 'sqlite' ? { path: join(dir, 'rv.db') } : { url: await freshPostgresUrl() });
      const r = await store.runs.recordBatch(batch('run-a'));
      ids = (r as { response: { ids: number[] } }).response.ids;
    });
    afterEach(async () => {
      await store?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('lists flagged predictions in queue order with what the model saw', async () => {
      const { items, total } = await store.reviews.list();
      expect(total).to.equal(5);
      // mismatches (lowest priority first), out-of-scope, low confidence (smallest margin first)
      expect(items.map((i) => i.id)).to.deep.equal([ids[5], ids[2], ids[3], ids[4], ids[1]]);
      expect(items[0]).to.include({ reason: 'mismatch', expected: 3, imageId: '<b>img-5</b>.png', runKey: 'run-a', decided: false });
      const detail = (await store.reviews.get(ids[3]!))!;
      expect(Buffer.from(detail.pixels, 'base64')).to.deep.equal(Buffer.alloc(784, 30));
      expect(detail.thumbnail).to.equal(null);
      expect(await store.reviews.setThumbnail(ids[3]!, 'image/webp', 'AAAA')).to.equal(true);
      expect((await store.reviews.get(ids[3]!))!.thumbnail).to.deep.equal({ type: 'image/webp', data: 'AAAA' });
      expect((await store.reviews.list({ reason: 'mismatch' })).total).to.equal(2);
    });

    it('two reviewers claiming at once never get the same item; an expired lease frees it', async () => {
      const now = new Date();
      const claims = await Promise.all(
        ['ann', 'bob', 'cy', 'dee', 'eve', 'fay', 'gus'].map((who) => store.reviews.claimNext(who, 60, [], now)),
      );
      const got = claims.filter((c) => c).map((c) => c!.id);
      expect(got).to.have.length(5);
      expect(new Set(got).size).to.equal(5);
      // a held item cannot be claimed by someone else until the lease expires
      const held = claims[0]!;
      expect(await store.reviews.claim(held.id, 'zed', 60, now)).to.equal(false);
      expect(await store.reviews.claim(held.id, 'zed', 60, new Date(now.getTime() + 61_000))).to.equal(true);
      // and a decision by someone else is refused while the lease runs
      const refused = await store.reviews.decide(held.id, { decision: 'none', by: held.claimedBy! }, new Date(now.getTime() + 62_000));
      expect(refused.outcome).to.equal('claimed-by-other');
    });

    it('decisions are an append-only trail; accuracy follows the latest; undo puts the item back', async () => {
      const id = ids[2]!;
      const first = await store.reviews.decide(id, { decision: 'class', classIndex: 3, by: 'ann', secondsSpent: 4.5 });
      expect(first.outcome).to.equal('decided');
      expect((await store.runs.getRun('run-a'))!.feedbackAccuracy).to.equal(0); // predicted 1, really 3
      const fix = await store.reviews.decide(id, { decision: 'class', classIndex: 1, by: 'bob' });
      expect((await store.runs.getRun('run-a'))!.feedbackAccuracy).to.equal(1);
      const undo = await store.reviews.decide(id, { decision: 'undo', by: 'bob' });
      expect((await store.runs.getRun('run-a'))!.feedbackAccuracy).to.equal(null);
      expect((await store.reviews.decide(id, { decision: 'undo', by: 'bob' })).outcome).to.equal('nothing-to-undo');
      const trail = await store.reviews.decisions({ itemId: id });
      expect(trail.map((d) => [d.decision, d.classIndex, d.decidedBy])).to.deep.equal([
        ['undo', null, 'bob'],
        ['class', 1, 'bob'],
        ['class', 3, 'ann'],
      ]);
      const firstId = (first as { decision: { id: number } }).decision.id;
      expect(trail[1]!.previousId).to.equal(firstId);
      expect(trail[0]!.previousId).to.equal((fix as { decision: { id: number } }).decision.id);
      expect(trail[2]).to.include({ secondsSpent: 4.5, modelVersion: 'm1', previousId: null });
      expect(undo.outcome).to.equal('decided');
      expect((await store.reviews.list()).items.map((i) => i.id)).to.include(id);
      // the training set holds standing decisions only; "none of these" has no class
      await store.reviews.decide(ids[3]!, { decision: 'none', by: 'cy' });
      await store.reviews.decide(ids[4]!, { decision: 'class', classIndex: 7, by: 'cy' });
      const training = await store.reviews.trainingSet();
      expect(training.map((t) => [t.id, t.classIndex, t.decidedBy])).to.deep.equal([
        [ids[3], null, 'cy'],
        [ids[4], 7, 'cy'],
      ]);
      expect((await store.reviews.list({ status: 'decided' })).total).to.equal(2);
    });

    it('"none of these classes" is feedback that the answer was wrong: in every accuracy, and undone by undo', async () => {
      // Every answer here is class 1; ids[2] and ids[5] were ordered as class 3.
      const run = (await store.runs.getRun('run-a'))!;
      await store.reviews.decide(ids[1]!, { decision: 'class', classIndex: 1, by: 'ann' });
      await store.reviews.decide(ids[3]!, { decision: 'class', classIndex: 1, by: 'ann' });
      await store.reviews.decide(ids[4]!, { decision: 'class', classIndex: 6, by: 'ann' });
      await store.reviews.decide(ids[5]!, { decision: 'none', by: 'ann' });
      const stored = await store.db.selectFrom('feedback').select(['prediction_id', 'correct_class']).orderBy('prediction_id').execute();
      expect(stored.map((f) => [f.prediction_id, f.correct_class])).to.deep.equal([
        [ids[1], 1],
        [ids[3], 1],
        [ids[4], 6],
        [ids[5], null],
      ]);
      expect(await store.feedback.correctClassOf(ids[5]!)).to.equal(null);
      expect(await store.feedback.correctClassOf(ids[2]!)).to.equal(undefined);
      // two right of four judged, not two of three
      expect((await store.runs.getRun('run-a'))!.feedbackAccuracy).to.equal(0.5);
      expect(await store.history.feedbackTotals({})).to.deep.equal({ n: 4, right: 2 });
      expect(await store.history.seriesFeedback({})).to.deep.equal([{ run_id: run.id, n: 4, right: 2 }]);
      const preds = (await store.runs.runPredictions(run.id)).items;
      expect(preds.map((p) => [p.feedbackClass, p.feedbackNone])).to.deep.equal([
        [null, false],
        [1, false],
        [null, false],
        [1, false],
        [6, false],
        [null, true],
      ]);
      // The shadow summary: "none" is a known truth no answer matches, even where a label says 3.
      await store.shadow.record('chal', [
        { predictionId: ids[1]!, classIndex: 1, confidence: 0.9 }, // feedback 1: both right
        { predictionId: ids[2]!, classIndex: 3, confidence: 0.9 }, // label 3: challenger right
        { predictionId: ids[4]!, classIndex: 6, confidence: 0.9 }, // feedback 6: challenger right
        { predictionId: ids[5]!, classIndex: 3, confidence: 0.9 }, // none (label 3): both wrong
      ]);
      expect((await store.shadow.summary())[0]).to.include({
        compared: 4,
        withTruth: 4,
        championAccuracy: 1 / 4,
        challengerAccuracy: 3 / 4,
      });

      // Undo of the "none": no feedback on that prediction again, two right of three; the shadow
      // summary falls back to its label.
      expect((await store.reviews.decide(ids[5]!, { decision: 'undo', by: 'ann' })).outcome).to.equal('decided');
      expect(await store.feedback.correctClassOf(ids[5]!)).to.equal(undefined);
      expect((await store.runs.getRun('run-a'))!.feedbackAccuracy).to.be.closeTo(2 / 3, 1e-12);
      expect(await store.history.feedbackTotals({})).to.deep.equal({ n: 3, right: 2 });
      expect((await store.shadow.summary())[0]).to.include({ withTruth: 4, championAccuracy: 1 / 4, challengerAccuracy: 1 });

      // "none" again, then a confirmation through the feedback API: its run accuracy counts the miss.
      await store.reviews.decide(ids[5]!, { decision: 'none', by: 'bob' });
      const fb = (await store.feedback.recordFeedback(ids[0]!, 'predicted'))!;
      expect(fb).to.deep.include({ runFeedbackCount: 5, runFeedbackAccuracy: 3 / 5 });
      // and a class decision after "none" replaces it
      await store.reviews.decide(ids[5]!, { decision: 'class', classIndex: 1, by: 'cy' });
      expect((await store.runs.getRun('run-a'))!.feedbackAccuracy).to.equal(4 / 5);
    });
  });
}

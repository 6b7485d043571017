/**
 * Review reasons through the real API and the real model: /v1/predict, V2 and the upload route
 * answer with them, the run counts them by reason. The card's policy here is a test policy whose
 * thresholds are set from the model's own answers on the chosen images, so the test keeps meaning
 * the same thing when the committed model is retrained.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NUM_CLASSES, PIXELS_PER_IMAGE, normalisedEntropy, type ReviewPolicy } from '@refund-vision/shared';
import { encodeGrayPng, HEAD_LABEL_SETS, loadClassifier, type Classifier } from '@refund-vision/model';
import { makeHeadedNet } from '@refund-vision/model/testing/model-variant';
import { predictBody, send, sharedClassifier, startTestServer, testBatch, withCard, type TestServer } from '../test-support.ts';
import { reviewPolicyOf, reviewReasonAt } from './reasons.ts';

/** A bright disc: no Fashion-MNIST class looks like it (a hat seen from above). */
function disc(): Uint8Array {
  const px = new Uint8Array(PIXELS_PER_IMAGE);
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) px[y * 28 + x] = (x - 13.5) ** 2 + (y - 13.5) ** 2 < 100 ? 200 : 0;
  return px;
}

const maxOf = (p: Float32Array) => Math.max(...p);

describe('review reasons', () => {
  it('fall back to the config low-confidence rule when the card has no policy, and put a mismatch first', () => {
    const policy = reviewPolicyOf({}, { lowConfidence: 0.5, leaseSeconds: 60 });
    expect(policy.outOfScope).to.equal(null);
    expect(policy.lowConfidence).to.deep.equal({ score: 'maxProb', threshold: 0.5 });
    const own: ReviewPolicy = {
      outOfScope: { score: 'entropy', threshold: 0.5 },
      lowConfidence: { score: 'margin', threshold: 0.1 },
      target: 't',
    };
    expect(reviewPolicyOf({ review: own }, { lowConfidence: 0.5, leaseSeconds: 60 })).to.equal(own);
    const probs = new Float32Array([0.96, 0.04, 0, 0, 0, 0, 0, 0, 0, 0, ...new Array(NUM_CLASSES).fill(0.1)]);
    expect(reviewReasonAt(probs, 0, 0, undefined, policy)).to.equal(null);
    expect(reviewReasonAt(probs, 0, 0, 0, policy)).to.equal(null);
    expect(reviewReasonAt(probs, 0, 0, 3, policy)).to.equal('mismatch');
    expect(reviewReasonAt(probs, 1, 0, undefined, policy)).to.equal('low-confidence');
    expect(reviewReasonAt(probs, 1, 0, undefined, own)).to.equal('out-of-scope');
    expect(reviewReasonAt(probs, 1, 0, 5, own)).to.equal('mismatch');
  });

  describe('served by the real API with a card policy', function () {
    this.timeout(60_000);
    let srv: TestServer;
    let pixels: Uint8Array;
    let labels: number[];
    const ids = ['sure.png', 'wrong-order.png', 'hat.png', 'doubtful.png'];
    let policy: ReviewPolicy;

    before(async () => {
      const classifier = await sharedClassifier();
      const test = await testBatch(2000);
      const probs = await classifier.predict(test.pixels, 2000);
      const row = (i: number) => probs.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES);
      const hat = disc();
      const hatProbs = await classifier.predict(hat, 1);
      const hatEntropy = normalisedEntropy(hatProbs);
      // The disc is spread over several classes under any model worth serving.
      expect(hatEntropy, 'entropy of the disc').to.be.greaterThan(0.2);
      const outOfScope = hatEntropy - 0.01;
      let sure = -1;
      let doubtful = -1;
      for (let i = 0; i < 2000 && (sure < 0 || doubtful < 0); i++) {
        const m = maxOf(row(i));
        const right = row(i).indexOf(m) === test.labels[i];
        if (sure < 0 && right && m > 0.99) sure = i;
        if (doubtful < 0 && right && m < 0.6 && normalisedEntropy(row(i)) < outOfScope - 0.05) doubtful = i;
      }
      expect(sure).to.be.at.least(0);
      expect(doubtful).to.be.at.least(0);
      policy = {
        outOfScope: { score: 'entropy', threshold: outOfScope },
        lowConfidence: { score: 'maxProb', threshold: 0.6 },
        target: 'test policy',
      };
      const item = (i: number) => test.pixels.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE);
      pixels = new Uint8Array(4 * PIXELS_PER_IMAGE);
      [item(sure), item(sure), hat, item(doubtful)].forEach((p, k) => pixels.set(p, k * PIXELS_PER_IMAGE));
      const s = test.labels[sure]!;
      labels = [s, (s + 1) % NUM_CLASSES, 0, test.labels[doubtful]!];
      srv = await startTestServer({}, { classifier: withCard(classifier, { review: policy }) });
    });
    after(async () => srv?.stop());

    it('/v1/predict: trusted, mismatch, out-of-scope, low-confidence; the run counts them', async () => {
      const body = predictBody(pixels, { runKey: 'review-run', ids, labels });
      // the disc comes without a label: nobody ordered a hat
      delete (body.images[2] as { label?: number }).label;
      const res = await send(`${srv.url}/v1/predict`, { json: body });
      expect(res.status).to.equal(200);
      expect(res.body.predictions.map((p: { review: unknown }) => p.review)).to.deep.equal([
        null,
        'mismatch',
        'out-of-scope',
        'low-confidence',
      ]);
      // the stored answer (replay) carries them too
      const again = await send(`${srv.url}/v1/predict`, { json: body });
      expect(again.body.predictions.map((p: { review: unknown }) => p.review)).to.deep.equal([
        null,
        'mismatch',
        'out-of-scope',
        'low-confidence',
      ]);
      const done = await send(`${srv.url}/v1/runs/review-run/complete`, { json: {} });
      expect(done.status).to.equal(200);
      const detail = await send(`${srv.url}/v1/runs/review-run`);
      const run = detail.body.run;
      expect(detail.body.predictions.map((p: { review: unknown }) => p.review)).to.deep.equal([
        null,
        'mismatch',
        'out-of-scope',
        'low-confidence',
      ]);
      expect(run.reviews).to.deep.equal({ mismatch: 1, 'out-of-scope': 1, 'low-confidence': 1 });
      expect(run.estimatedAccuracy).to.be.closeTo(run.meanConfidence, 1e-12);
      expect(run.accuracy).to.equal(2 / 3); // the wrong order is wrong; the disc has no label
    });

    it('V2 returns the reasons as an extra BYTES output, or only what was asked for', async () => {
      const input = { name: 'input', shape: [4, 784], datatype: 'UINT8', data: Array.from(pixels) };
      const res = await send(`${srv.url}/v2/models/fashion-cnn/infer`, { json: { inputs: [input] } });
      expect(res.status).to.equal(200);
      const review = res.body.outputs.find((o: { name: string }) => o.name === 'review');
      expect(review).to.deep.equal({ name: 'review', datatype: 'BYTES', shape: [4], data: ['', '', 'out-of-scope', 'low-confidence'] });
      const only = await send(`${srv.url}/v2/models/fashion-cnn/infer`, {
        json: { inputs: [input], outputs: [{ name: 'probabilities' }] },
      });
      expect(only.body.outputs.map((o: { name: string }) => o.name)).to.deep.equal(['probabilities']);
    });

    it('the upload route answers each file with its reason', async () => {
      const form = new FormData();
      form.append('f', new Blob([encodeGrayPng(pixels.subarray(0, PIXELS_PER_IMAGE), 28, 28)]), 'sure.png');
      form.append('f', new Blob([encodeGrayPng(pixels.subarray(2 * PIXELS_PER_IMAGE, 3 * PIXELS_PER_IMAGE), 28, 28)]), 'hat.png');
      const res = await fetch(`${srv.url}/v1/predict/image`, { method: 'POST', body: form });
      const body = (await res.json()) as { files: { file: string; review: string | null }[] };
      expect(res.status).to.equal(200);
      expect(body.files.map((f) => f.file)).to.deep.equal(['sure.png', 'hat.png']);
      // preprocessing re-centres and rescales the disc, so only the certain answer is pinned down here
      expect(body.files[0]!.review).to.equal(null);
      for (const f of body.files) expect(f.review === null || ['out-of-scope', 'low-confidence'].includes(f.review)).to.equal(true);
    });
  });

  describe('a model with a label head, its policy scoring by the head', function () {
    this.timeout(120_000);
    let dir: string;
    let classifier: Classifier;
    let srv: TestServer;
    const policy: ReviewPolicy = {
      outOfScope: { score: 'labelHead', threshold: 0.5 },
      lowConfidence: { score: 'labelHead', threshold: 0.15 },
      labelSets: HEAD_LABEL_SETS.map((s) => [...s]),
      target: 'test policy',
    };
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'rv-headed-'));
      await makeHeadedNet(dir);
      classifier = await loadClassifier({ dir, backend: 'onnx' });
      // the server serves (and watches) this model's folder, not the committed one
      srv = await startTestServer({ model: { dir } }, { classifier: withCard(classifier, { review: policy }) });
    });
    after(async () => {
      await srv?.stop();
      await classifier?.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    it('/v1/predict reads the label probabilities: an answer few labels can be goes to a person', async () => {
      const n = 64;
      const { pixels } = await testBatch(n);
      const res = await send(`${srv.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'headed-run' }) });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      // by hand, from the classifier's own rows: the labels whose classes hold the answer, together
      const { probs, labels } = await classifier.predictRows(pixels, n);
      const L = HEAD_LABEL_SETS.length;
      const want = Array.from({ length: n }, (_, i) => {
        const row = probs.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES);
        const answer = row.indexOf(maxOf(row));
        let right = 0;
        HEAD_LABEL_SETS.forEach((set, l) => {
          if (set.includes(answer)) right += labels![i * L + l]!;
        });
        return right < 0.15 ? 'low-confidence' : null;
      });
      const got = res.body.predictions.map((p: { review: unknown }) => p.review);
      expect(got).to.deep.equal(want);
      expect(got, 'both outcomes occur').to.include('low-confidence').and.to.include(null);
    });
  });
});

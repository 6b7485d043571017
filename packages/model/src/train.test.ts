import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelCard } from '@refund-vision/shared';
import { loadClassifier } from './classifier.ts';
import { HEAD_LABEL_SETS, HEAD_LABELS, VALIDATION_SPLIT, validationSplitOf } from './clothing-photos.ts';
import { labelColumns } from './label-head.ts';
import { exportOnnx } from './onnx-export.ts';
import { loadModel } from './io.ts';
import { quarterTurn, train } from './train.ts';

/** a split other than the default, so that keeping it shows */
const HALF_CAP = { share: 0.2, maxSenderShare: 0.5 };

const onDiskPhotos = (dir: string) => ModelCard.parse(JSON.parse(readFileSync(join(dir, 'model-card.json'), 'utf8'))).monitoring.photos!;

describe('quarterTurn', () => {
  it('turns clockwise (k = 1) and anticlockwise (k = 3), and the two undo each other', () => {
    const img = new Uint8Array(2 * 784);
    const at = (r: number, c: number) => 784 + r * 28 + c; // the second image of the buffer
    img[at(0, 0)] = 1; // top left
    img[at(0, 5)] = 2; // on the top row
    img[at(27, 27)] = 3; // bottom right
    const cw = quarterTurn(img, 784, 1);
    expect([cw[0 * 28 + 27], cw[5 * 28 + 27], cw[27 * 28 + 0]]).to.deep.equal([1, 2, 3]);
    const ccw = quarterTurn(img, 784, 3);
    expect([ccw[27 * 28 + 0], ccw[22 * 28 + 0], ccw[0 * 28 + 27]]).to.deep.equal([1, 2, 3]);
    expect(quarterTurn(cw, 0, 3)).to.deep.equal(img.subarray(784));
  });
});

describe('training (tiny runs on the wasm engine)', function () {
  this.timeout(120_000);
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'rv-train-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const opts = (out: string) => ({
    arch: 'fast',
    epochs: 2,
    batchSize: 50,
    seed: 7,
    learningRate: 0.002,
    validation: 200,
    flip: true,
    limit: 1000,
    testLimit: 2000,
    out,
    progress: () => {},
  });
  const quick = (out: string, seed: number) => ({ ...opts(out), epochs: 1, limit: 300, validation: 50, testLimit: 100, seed });
  /** 80 photos from the clothing photos, held out by HALF_CAP, arrays cached in the run's temp folder */
  const tinyPhotos = () => ({
    share: 0.25,
    oosWeight: 0.5,
    variants: 1,
    validationSplit: HALF_CAP,
    limit: 80,
    cacheDir: join(tmp, 'photo-cache'),
  });

  it('writes model.json, weights and a model card valid against the shared schema, and learns', async () => {
    const out = join(tmp, 'a');
    const { card, model } = await train(opts(out));
    model.dispose();
    const onDisk = ModelCard.parse(JSON.parse(readFileSync(join(out, 'model-card.json'), 'utf8')));
    expect(onDisk.version).to.equal(card.version);
    expect(card.training.trainImages).to.equal(1000);
    expect(card.training.validationImages).to.equal(200);
    expect(card.training.backend).to.equal('wasm');
    expect(card.evaluation.testImages).to.equal(2000);
    expect(card.evaluation.accuracy).to.be.above(0.5); // 2 epochs on 1,000 images; chance is 0.1
    expect(card.evaluation.confusion.flat().reduce((a, b) => a + b, 0)).to.equal(2000);
    expect(card.monitoring.classDistribution.reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-3);
    expect(card.monitoring.pixelMean).to.be.within(0.2, 0.4);
    expect(card.monitoring.imageMeanStd).to.be.above(0);
    const history = (card.training as unknown as { history: { valAccuracy: number }[] }).history;
    expect(history).to.have.length(2);
    const clf = await loadClassifier({ dir: out, backend: 'wasm' });
    expect(clf.version).to.equal(card.version);
    await clf.dispose();
  });

  it('with photos: mixes them into batches, calibrates on the validation photos and writes the review policy', async () => {
    const out = join(tmp, 'p');
    const photoOpts = { ...tinyPhotos(), rotate: 0.25 };
    const { card, model } = await train({
      ...quick(out, 7),
      workers: 1, // the in-thread path (the other runs here use the default: 2 workers on 2 cores)
      photos: { ...photoOpts },
    });
    model.dispose();
    const c = card as Record<string, any>;
    expect(c.training.photos.trainPhotos).to.be.within(70, 80);
    expect(c.training.photos.validationPhotos).to.be.within(70, 80);
    expect(c.data.photos.checksums.SHA256SUMS).to.match(/^sha256:[0-9a-f]{64}$/);
    expect(c.calibration.temperature).to.be.within(0.25, 8);
    // the map of the served confidence is in the card serving reads, and it can only lower the
    // log-loss it is fitted to (the identity map is one of its choices)
    expect(card.inference!.confidenceMap!.a).to.be.above(0);
    expect(card.inference!.confidenceMap!.perClass).to.have.length(10);
    expect(c.calibration.confidenceMap).to.equal('inference.confidenceMap');
    expect(c.calibration.photoAnswerNllAfter).to.be.at.most(c.calibration.photoAnswerNllAfterTemperature + 1e-3);
    // the same calibration and thresholds, fitted on half the validation senders and measured on the rest
    expect(c.photoEvaluation.senderCrossValidation.repeats).to.equal(10);
    expect(c.photoEvaluation.senderCrossValidation.autoAcceptedAccuracy.mean).to.be.within(0, 1);
    expect(c.photoEvaluation.photos).to.equal(c.training.photos.validationPhotos);
    // evaluate and the gate read back the split this model was held out by
    expect(validationSplitOf(c)).to.deep.equal(HALF_CAP);
    expect(c.photoEvaluation.review.inScopeAutoAccepted).to.be.within(0, 1);
    // intervals by resampling the validation senders hold the point figure
    expect(c.photoEvaluation.bySender95.senders).to.equal(c.data.photos.validation.senders);
    expect(c.photoEvaluation.bySender95.strictAccuracy[0]).to.be.at.most(c.photoEvaluation.strictAccuracy);
    expect(c.photoEvaluation.bySender95.strictAccuracy[1]).to.be.at.least(c.photoEvaluation.strictAccuracy);
    expect(card.review!.lowConfidence.threshold).to.be.within(0, 1);
    // the photo baselines the API's health checks read
    expect(onDiskPhotos(out).meanConfidence).to.be.within(0.1, 1);
    expect(onDiskPhotos(out).classDistribution.reduce((a: number, b: number) => a + b, 0)).to.be.closeTo(1, 1e-3);
    expect(c.training.command).to.contain('--photo-share 0.25');
    expect(c.training.command).to.contain('--photo-rotate 0.25');
    expect(c.training.augmentation).to.contain('a quarter turn either way (p=0.25)');
    // the card on disk is what the API reads: the schema accepts it and keeps the review policy
    const onDisk = ModelCard.parse(JSON.parse(readFileSync(join(out, 'model-card.json'), 'utf8')));
    expect(onDisk.review).to.deep.equal(card.review);

    // --epochs 0 --init: only recalibrates. On the same validation photos the folded model is
    // already calibrated, so the new temperature is ~1 and the thresholds stay put.
    // No split asked: it keeps the one the model was held out by (the default would differ).
    const { validationSplit: _, ...noSplit } = photoOpts;
    const again = await train({ ...quick(join(tmp, 'p0'), 7), epochs: 0, init: out, photos: noSplit });
    again.model.dispose();
    const a = again.card as Record<string, any>;
    expect(validationSplitOf(a)).to.deep.equal(HALF_CAP);
    // asking for another split would validate on photos it trained on: refused
    let err: Error | undefined;
    await train({ ...quick(join(tmp, 'p1'), 7), epochs: 0, init: out, photos: { ...noSplit, validationSplit: VALIDATION_SPLIT } }).catch(
      (e: Error) => (err = e),
    );
    expect(err?.message).to.match(/would validate it on photos it trained on/);
    expect(a.calibration.temperature).to.be.within(0.97, 1.03);
    expect(a.photoEvaluation.setAccuracy).to.equal(c.photoEvaluation.setAccuracy);
    expect(a.training.totalEpochs).to.equal(1);
  });

  it('--label-head: the net also names the photo label; the card says so, serving answers ten classes, a recalibration keeps it', async () => {
    const out = join(tmp, 'lh');
    const photos = { ...tinyPhotos(), labelHead: 1 };
    const { card, model } = await train({ ...quick(out, 9), photos });
    expect(labelColumns(model)).to.equal(HEAD_LABELS.length);
    model.dispose();
    expect(card.inference!.labelHead).to.deep.equal({ labels: [...HEAD_LABELS], weight: 1 });
    expect(HEAD_LABELS).to.include.members(['T-Shirt', 'Shoes', 'Hat']).and.not.include('Not sure');
    expect((card as Record<string, any>).training.command).to.contain('--label-head 1');
    // the review thresholds were chosen with the head's two scores on offer; the policy states its label sets
    expect(card.review!.labelSets).to.deep.equal(HEAD_LABEL_SETS);
    await exportOnnx(out);
    const c = await loadClassifier({ dir: out, backend: 'onnx' });
    const n = 5;
    const probs = await c.predict(new Uint8Array(n * 784).fill(90), n);
    await c.dispose();
    expect(probs.length).to.equal(n * 10);
    for (let r = 0; r < n; r++) expect(probs.subarray(r * 10, r * 10 + 10).reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-4);
    // --epochs 0 from it: the head stays, with its weight, though this run did not ask for one
    const { labelHead: _, validationSplit: __, ...plain } = photos;
    const again = await train({ ...quick(join(tmp, 'lh0'), 9), epochs: 0, init: out, photos: plain });
    expect(labelColumns(again.model)).to.equal(HEAD_LABELS.length);
    again.model.dispose();
    expect(again.card.inference!.labelHead!.weight).to.equal(1);
    expect(again.card.review!.labelSets).to.deep.equal(HEAD_LABEL_SETS);
  });

  it('--freeze-convs trains only the dense layers', async () => {
    const init = join(tmp, 'a'); // the model of the first test
    const before = await loadModel(init);
    const { model } = await train({ ...quick(join(tmp, 'f'), 9), init, freezeConvs: true });
    const same = (i: number) => {
      const a = before.layers[i]!.getWeights()[0]!.dataSync();
      const b = model.layers[i]!.getWeights()[0]!.dataSync();
      return a.every((v, k) => v === b[k]);
    };
    model.layers.forEach((l, i) => {
      if (l.getClassName() === 'Conv2D') expect(same(i), `${l.name} unchanged`).to.equal(true);
      if (l.getClassName() === 'Dense') expect(same(i), `${l.name} trained`).to.equal(false);
    });
    before.dispose();
    model.dispose();
  });

  it('is reproducible: the same seed gives the same weights', async () => {
    const a = await train(quick(join(tmp, 'b1'), 7));
    const b = await train(quick(join(tmp, 'b2'), 7));
    a.model.dispose();
    b.model.dispose();
    expect(b.card.version).to.equal(a.card.version);
    const c = await train(quick(join(tmp, 'b3'), 8));
    c.model.dispose();
    expect(c.card.version).to.not.equal(a.card.version);
    // --fm-shift 0 keeps the random sequence; shifted Fashion-MNIST images train other weights
    const none = await train({ ...quick(join(tmp, 'b4'), 7), fmShift: 0 });
    const shifted = await train({ ...quick(join(tmp, 'b5'), 7), fmShift: 2 });
    none.model.dispose();
    shifted.model.dispose();
    expect(none.card.version).to.equal(a.card.version);
    expect(shifted.card.version).to.not.equal(a.card.version);
    expect(shifted.card.training.command).to.contain('--fm-shift 2');
    expect(shifted.card.training.augmentation).to.contain('Fashion-MNIST: random horizontal flip (p=0.5), ±2 px shifts');
  });
});

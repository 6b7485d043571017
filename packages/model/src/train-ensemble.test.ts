import { expect } from 'chai';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePixels, ModelCard, NUM_CLASSES, PIXELS_PER_IMAGE } from '@refund-vision/shared';
import { readReviewHoldout, REVIEW_HOLDOUT_FILE } from './gate-sets.ts';
import { applyTemperature } from './calibration.ts';
import { loadClassifier, readCard } from './classifier.ts';
import { HEAD_LABEL_SETS, HEAD_LABELS, photoSplitOf, VALIDATION_SPLIT } from './clothing-photos.ts';
import { applyConfidenceMap } from './confidence-map.ts';
import { loadFashionMnist } from './fashion-mnist.ts';
import { loadModel, saveModel } from './io.ts';
import { withLabelHead } from './label-head.ts';
import { architectureOf } from './architectures.ts';
import { predictTf } from './predict-tf.ts';
import { isHeldBack } from './reviews-data.ts';
import { train } from './train.ts';
import { ensembleMembersOf } from './ensemble-members.ts';
import { splitEnsemble, trainEnsemble } from './train-ensemble.ts';

describe('train:ensemble (two tiny deep members)', function () {
  this.timeout(300_000);
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'rv-ens-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const member = async (name: string, seed: number, arch = 'deep') => {
    const { model } = await train({
      arch,
      epochs: 1,
      batchSize: 50,
      seed,
      learningRate: 0.002,
      validation: 50,
      flip: true,
      limit: 300,
      testLimit: 100,
      out: join(tmp, name),
      workers: 1,
      progress: () => {},
    });
    model.dispose();
    return join(tmp, name);
  };

  const tinyPhotos = () => ({
    share: 0.25,
    oosWeight: 0.5,
    variants: 0,
    validationSplit: VALIDATION_SPLIT,
    limit: 40,
    cacheDir: join(tmp, 'photo-cache'),
  });

  /** A tiny member with a label head of HEAD_LABELS, as `train --label-head 1` records it. */
  const headed = async (name: string, seed: number) => {
    const dir = await member(name, seed);
    const wide = await withLabelHead(await loadModel(dir), HEAD_LABELS.length, seed);
    const hdir = join(tmp, `${name}-head`);
    const { version } = await saveModel(wide, hdir);
    wide.dispose();
    const card = JSON.parse(readFileSync(join(dir, 'model-card.json'), 'utf8'));
    const inference = { flipAverage: false, ...card.inference, labelHead: { labels: [...HEAD_LABELS], weight: 1 } };
    writeFileSync(join(hdir, 'model-card.json'), JSON.stringify({ ...card, version, inference }));
    return { plain: dir, head: hdir };
  };

  it('members with a label head: the combined model keeps it, and its review policy may score by it', async () => {
    const [a, b] = [await headed('h', 3), await headed('i', 4)];
    let err: Error | undefined;
    await trainEnsemble({ members: [a.plain, b.head], out: join(tmp, 'h-mixed'), progress: () => {} }).catch((e: Error) => (err = e));
    expect(err?.message, err?.message).to.match(/do not all name the same labels .*h: no label head.*i-head: 18 labels/);

    const out = join(tmp, 'h-ens');
    const { card, model } = await trainEnsemble({
      members: [a.head, b.head],
      out,
      photos: tinyPhotos(),
      testLimit: 100,
      validation: 50,
      progress: () => {},
    });
    model.dispose();
    expect(card.inference!.labelHead).to.deep.equal({ labels: [...HEAD_LABELS], weight: 1 });
    // the chooser was given the head's probabilities: the policy states the label sets it would read
    expect(card.review!.labelSets).to.deep.equal(HEAD_LABEL_SETS);
    const clf = await loadClassifier({ dir: out, backend: 'wasm' });
    const test = await loadFashionMnist('test');
    const rows = await clf.predictRows(test.images.subarray(0, 4 * PIXELS_PER_IMAGE), 4);
    await clf.dispose();
    expect(rows.probs.length).to.equal(4 * NUM_CLASSES);
    expect(rows.labels!.length).to.equal(4 * HEAD_LABELS.length);
    expect(rows.labels!.subarray(0, HEAD_LABELS.length).reduce((s, v) => s + v, 0)).to.be.closeTo(1, 1e-4);
  });

  it('writes one calibrated model whose answers are the members’ mean logits over T, with the members on its card', async () => {
    const dirs = [await member('a', 1), await member('b', 2)];
    const out = join(tmp, 'ens');
    const { card, model } = await trainEnsemble({
      members: dirs,
      out,
      photos: tinyPhotos(),
      testLimit: 200,
      validation: 50,
      progress: () => {},
    });
    model.dispose();
    const onDisk = ModelCard.parse(JSON.parse(readFileSync(join(out, 'model-card.json'), 'utf8')));
    expect(onDisk.version).to.equal(card.version);
    expect(onDisk.architecture.summary[0]).to.match(/^deep-ensemble: M deep nets side by side/);
    const training = onDisk.training as Record<string, any>;
    const memberCards = dirs.map((d) => ModelCard.parse(JSON.parse(readFileSync(join(d, 'model-card.json'), 'utf8'))));
    expect(training.initFrom.training.members.map((m: { version: string }) => m.version)).to.deep.equal(memberCards.map((c) => c.version));
    expect(training.initFrom.testAccuracy).to.equal(onDisk.evaluation.accuracy);
    expect(training.command).to.match(/^pnpm train:ensemble <dir of \w{12}> <dir of \w{12}>$/);
    expect(onDisk.evaluation.testImages).to.equal(200);
    const t = (onDisk as Record<string, any>).calibration.temperature as number;
    expect(t).to.be.within(0.25, 8);
    expect(onDisk.review?.lowConfidence).to.be.an('object');
    expect(readReviewHoldout(out)).to.equal(null); // no member trained on reviews

    // the served answers: softmax(mean of the member logits / T), then the card's confidence map
    const test = await loadFashionMnist('test');
    const n = 32;
    const px = test.images.subarray(0, n * PIXELS_PER_IMAGE);
    const members = await Promise.all(dirs.map((d) => loadModel(d)));
    const probs = members.map((m) => predictTf(m, px, n));
    members.forEach((m) => m.dispose());
    const mean = new Float32Array(n * NUM_CLASSES);
    for (let i = 0; i < mean.length; i++) mean[i] = Math.exp((Math.log(probs[0]![i]!) + Math.log(probs[1]![i]!)) / 2);
    // applyTemperature renormalises the geometric mean first
    const want = applyConfidenceMap(applyTemperature(mean, t), onDisk.inference!.confidenceMap!);
    const clf = await loadClassifier({ dir: out, backend: 'wasm' });
    const got = await clf.predict(px, n);
    await clf.dispose();
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    expect(worst).to.be.below(1e-4);
  });

  it('--split writes the members of the combined model back as deep models that train --init continues', async () => {
    const ens = join(tmp, 'ens'); // written by the first test
    const out = join(tmp, 'split');
    // as if it had been trained --with-reviews: its held-back reviews stay held back by its members
    // (an id the share holds back: ids are held back by their hash)
    const id = Array.from({ length: 100 }, (_, k) => `r${k}`).find((x) => isHeldBack(x, 0.2))!;
    const holdout = {
      createdAt: '2026-11-29T00:00:00.000Z',
      share: 0.2,
      items: [{ id, pixels: encodePixels(new Uint8Array(784)), classIndex: 3 }],
    };
    writeFileSync(join(ens, REVIEW_HOLDOUT_FILE), JSON.stringify(holdout));
    const dirs = await splitEnsemble({ dir: ens, out, testLimit: 100 });
    for (const d of dirs) expect(readReviewHoldout(d)).to.deep.equal(holdout);
    expect(dirs).to.deep.equal([join(out, 'member-1'), join(out, 'member-2')]);
    const ensCard = readCard(ens);
    const cards = dirs.map((d) => readCard(d)); // valid against the schema
    for (const [i, c] of cards.entries()) {
      expect(architectureOf(c)).to.equal('deep');
      // the split the combined model was held out by, so a fine-tune validates on the same senders
      expect(photoSplitOf(c)).to.deep.equal(photoSplitOf(ensCard));
      expect((c.training as Record<string, any>).splitFrom).to.deep.include({ version: ensCard.version, member: i + 1 });
      expect(c.evaluation.testImages).to.equal(100);
      expect(c.review).to.equal(undefined);
      expect(c.inference?.confidenceMap).to.equal(undefined);
    }
    // a member is the member it came from with the combined temperature folded in and the members'
    // mean last bias: its logits are (z − b_own) / T + b_part
    const n = 32;
    const px = (await loadFashionMnist('test')).images.subarray(0, n * PIXELS_PER_IMAGE);
    const [orig, part] = await Promise.all([loadModel(join(tmp, 'a')), loadModel(dirs[0]!)]);
    const bias = (m: typeof orig) => m.layers.at(-1)!.getWeights()[1]!.dataSync() as Float32Array;
    const t = (ensCard as Record<string, any>).calibration.temperature as number;
    const p0 = predictTf(orig, px, n);
    const want = new Float32Array(n * NUM_CLASSES);
    for (let r = 0; r < n; r++) {
      const z = Array.from({ length: NUM_CLASSES }, (_, c) => (Math.log(p0[r * NUM_CLASSES + c]!) - bias(orig)[c]!) / t + bias(part)[c]!);
      const e = z.map((v) => Math.exp(v - Math.max(...z)));
      e.forEach((v, c) => (want[r * NUM_CLASSES + c] = v / e.reduce((x, y) => x + y, 0)));
    }
    const got = predictTf(part, px, n);
    expect(Math.max(...got.map((v, i) => Math.abs(v - want[i]!)))).to.be.below(1e-4);
    orig.dispose();
    part.dispose();
    // combined again, the model carries them for the gate
    const again = await trainEnsemble({
      members: dirs,
      out: join(tmp, 'again'),
      photos: { share: 0.25, oosWeight: 0.5, variants: 0, limit: 40, cacheDir: join(tmp, 'photo-cache') },
      testLimit: 100,
      validation: 50,
      progress: () => {},
    });
    again.model.dispose();
    expect(readReviewHoldout(join(tmp, 'again'))!.items.map((x) => x.id)).to.deep.equal([id]);
    // a model that records no members is not a combined one
    expect(ensembleMembersOf(readCard(join(tmp, 'a')))).to.equal(undefined);
    let err: Error | undefined;
    await splitEnsemble({ dir: join(tmp, 'a'), out: join(tmp, 'nope') }).catch((e: Error) => (err = e));
    expect(err?.message).to.match(/records no members: it is not a combined model/);
  });

  it('refuses members held out by different photo splits (one would validate on photos another trained on)', async () => {
    const a = join(tmp, 'a'); // the members of the first test: trained without photos
    const b = join(tmp, 'b-photos');
    cpSync(join(tmp, 'b'), b, { recursive: true });
    const card = JSON.parse(readFileSync(join(b, 'model-card.json'), 'utf8'));
    writeFileSync(join(b, 'model-card.json'), JSON.stringify({ ...card, photoEvaluation: { validationSplit: VALIDATION_SPLIT } }));
    let err: Error | undefined;
    await trainEnsemble({ members: [a, b], out: join(tmp, 'mixed') }).catch((e: Error) => (err = e));
    expect(err?.message).to.match(/not held out by one photo split .*: no photos, .*"maxSenderShare":0\.1/);
  });

  it('refuses members that are not deep models, naming what it got', async () => {
    const dirs = [await member('f1', 3, 'fast'), await member('f2', 4, 'fast')];
    let err: Error | undefined;
    await trainEnsemble({ members: dirs, out: join(tmp, 'no') }).catch((e: Error) => (err = e));
    expect(err?.message).to.match(/members must all be 'deep' models, got fast/);
  });
});

import { expect } from 'chai';
import { loadClothingPhotos, splitBySender, UNCAPPED_SPLIT, VALIDATION_SPLIT } from './clothing-photos.ts';
import { encodePixels, modelReviewReason, type ReviewPolicy } from '@refund-vision/shared';
import { readCard } from './classifier.ts';
import { photoValidationSets, reviewHoldoutSet } from './gate-sets.ts';
import { loadClassifier } from './classifier.ts';
import { BUNDLED_MODEL_DIR } from './testing/model-variant.ts';

describe('gate sets', () => {
  it('compares two models on the photos held out from both when their cards name different splits', async () => {
    const data = await loadClothingPhotos();
    const held = (s: typeof VALIDATION_SPLIT) => new Set(splitBySender(data.photos, s).validation.map((p) => p.id));
    const [capped, uncapped] = [held(VALIDATION_SPLIT), held(UNCAPPED_SPLIT)];
    const both = [...capped].filter((id) => uncapped.has(id)).length;
    const one = (await photoValidationSets({ splits: [VALIDATION_SPLIT] }))[0]!;
    const pair = (await photoValidationSets({ splits: [VALIDATION_SPLIT, UNCAPPED_SPLIT] }))[0]!;
    // a photo that cannot be preprocessed is left out of either (a handful in the real data)
    expect(one.n).to.be.within(capped.size * 0.97, capped.size);
    expect(pair.n).to.be.within(both * 0.97, both);
    expect(pair.n).to.be.below(one.n);
    expect(pair.pixels.length).to.equal(pair.n * 784);
  });

  it('judges the same photos three ways: the answers, the right ones accepted, no wrong one accepted', async function () {
    this.timeout(60_000);
    const [answers, acceptedRight, noWrongAccepted] = await photoValidationSets({ limit: 120, splits: [UNCAPPED_SPLIT] });
    expect([answers!.n, acceptedRight!.n, noWrongAccepted!.n]).to.deep.equal([answers!.n, answers!.n, answers!.n]);
    // the answers are judged; what the cards' policies accept is reported beside them (gate-sets.ts says why)
    expect([answers!.reportedOnly, acceptedRight!.reportedOnly, noWrongAccepted!.reportedOnly]).to.deep.equal([undefined, true, true]);
    const clf = await loadClassifier({ dir: BUNDLED_MODEL_DIR, backend: 'onnx' });
    try {
      const probs = await clf.predict(answers!.pixels, answers!.n);
      const judge = (set: typeof answers, model: object) =>
        Array.from({ length: set!.n }, (_, i) => set!.isCorrect({ probs }, i, model as never));
      const card = clf.card;
      const everyone = { card: { ...card, review: { ...card.review!, lowConfidence: { score: 'maxProb', threshold: 1.01 } } } };
      const nobody = { card: { ...card, review: undefined } };
      // every answer to a person: nothing accepted, so nothing wrong accepted
      expect(judge(acceptedRight, everyone).some(Boolean)).to.equal(false);
      expect(judge(noWrongAccepted, everyone).every(Boolean)).to.equal(true);
      // nothing to a person: both say what the answers' set says of in-scope photos, and an
      // out-of-scope photo is accepted wrongly
      const plain = judge(answers, nobody);
      expect(judge(acceptedRight, nobody)).to.deep.equal(plain);
      expect(judge(noWrongAccepted, nobody)).to.deep.equal(plain);
      // the card's own policy lies between: some right answers accepted, some wrong ones kept back
      const own = [judge(answers, clf), judge(acceptedRight, clf), judge(noWrongAccepted, clf)];
      const count = (xs: boolean[]) => xs.filter(Boolean).length;
      expect(count(own[1]!)).to.be.above(0).and.below(count(plain));
      expect(count(own[2]!)).to.be.above(count(plain));
      own[1]!.forEach((ok, i) => ok && expect(own[0]![i]).to.equal(true));
    } finally {
      await clf.dispose();
    }
  });

  it('an item no class fits is right when the card policy sends it to a person, for either reason', () => {
    const policy: ReviewPolicy = {
      outOfScope: { score: 'entropy', threshold: 0.45 },
      lowConfidence: { score: 'maxProb', threshold: 0.86 },
      target: 'test',
    };
    const model = { card: { ...readCard(BUNDLED_MODEL_DIR), review: policy } };
    const blank = encodePixels(new Uint8Array(784));
    const set = reviewHoldoutSet({
      createdAt: new Date().toISOString(),
      share: 0.2,
      items: [null, null, null, 3].map((classIndex, k) => ({ id: `r${k}`, pixels: blank, classIndex })),
    });
    const row = (top: number, p: number, second = -1) =>
      Array.from({ length: 10 }, (_, c) => (c === top ? p : second < 0 ? (1 - p) / 9 : c === second ? 1 - p : 0));
    // flat: "out-of-scope"; split 0.8 / 0.2 between two classes: "low-confidence"; 0.99: auto-accepted
    const probs = Float32Array.from([...row(0, 0.1), ...row(2, 0.8, 6), ...row(2, 0.99), ...row(3, 0.5)]);
    const reasons = [0, 1, 2].map((i) => modelReviewReason(probs.subarray(i * 10, i * 10 + 10), policy));
    expect(reasons).to.deep.equal(['out-of-scope', 'low-confidence', undefined]);
    // the first two are right, the auto-accepted one is not; a decided class is judged by the top-1
    expect([0, 1, 2, 3].map((i) => set.isCorrect({ probs }, i, model as never))).to.deep.equal([true, true, false, true]);
    // without a review policy nothing is sent to a person
    const none = { card: { ...model.card, review: undefined } };
    expect(set.isCorrect({ probs }, 0, none as never)).to.equal(false);
  });
});

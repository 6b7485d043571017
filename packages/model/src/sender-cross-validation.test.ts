import { expect } from 'chai';
import { seededRandom } from '@refund-vision/shared';
import { photoEce, type LabelledPhoto } from './photo-metrics.ts';
import { accuracyAim, senderCrossValidation } from './sender-cross-validation.ts';
import { drawnAnswer } from './testing/drawn-answer.ts';

const K = 10;

/**
 * `senders` senders of `each` photos: a quarter out of scope (flat answers), the rest in scope with
 * logits z uniform in ±8 (testing/drawn-answer.ts).
 */
function photosOf(seed: number, senders: number, each: number, sharpen: number) {
  const rand = seededRandom(seed);
  const probs = new Float32Array(senders * each * K);
  const photos: (LabelledPhoto & { senderId: string })[] = [];
  for (let s = 0; s < senders; s++)
    for (let j = 0; j < each; j++) {
      const i = photos.length;
      const outOfScope = rand() < 0.25;
      const { answer, y } = drawnAnswer(rand, outOfScope ? 0.5 : 16, sharpen);
      probs.set(answer, i * K);
      photos.push({ label: outOfScope ? 'Hat' : 'x', classes: outOfScope ? [] : [y], outOfScope, senderId: `s${s}` });
    }
  return { probs, photos };
}

describe('sender cross-validation of the calibration and the review thresholds', () => {
  it('fits on one half of the senders and measures on the other: an overconfident net comes out calibrated', () => {
    const { probs, photos } = photosOf(3, 40, 50, 2.5);
    expect(photoEce(probs, photos)).to.be.above(0.1);
    const cv = senderCrossValidation(probs, photos, { repeats: 3 })!;
    expect(cv.repeats).to.equal(3);
    // photos alike across senders: what is fitted on one half holds on the other
    expect(cv.ece.max).to.be.below(0.05);
    expect(cv.eceTemperatureOnly.max).to.be.below(0.06);
    expect(cv.outOfScopeFlagged.min).to.be.at.least(0.6);
    // thresholds chosen for 95 % on one half give about that on the other (measured 0.946)
    expect(cv.autoAcceptedAccuracy.mean).to.be.within(0.92, 0.97);
    expect(cv.inScopeAutoAccepted.mean).to.be.above(0.1);
    expect(cv.ece.min).to.be.at.most(cv.ece.mean);
    expect(cv.ece.mean).to.be.at.most(cv.ece.max);
  });

  it('raises the aim on the split until thresholds keep 95 % on the senders they were not chosen on', () => {
    const { probs, photos } = photosOf(3, 40, 50, 2.5);
    // demanding 95 % on one half gives a little less on the other (0.946, the test above)
    expect(senderCrossValidation(probs, photos, { repeats: 3, aim: 0.95 })!.autoAcceptedAccuracy.mean).to.be.below(0.95);
    const { aim, crossValidation } = accuracyAim(probs, photos, 0.95, { repeats: 3 });
    expect(aim).to.be.above(0.95);
    expect(crossValidation!.autoAcceptedAccuracy.mean).to.be.at.least(0.95);
    // and it is the lowest such aim on the half-point grid
    expect(senderCrossValidation(probs, photos, { repeats: 3, aim: aim - 0.005 })!.autoAcceptedAccuracy.mean).to.be.below(0.95);
    expect(crossValidation!.method).to.contain(`demanding ${Math.round(aim * 1000) / 10} %`);
  });

  it("carries a label head's scores into the thresholds chosen on each half", () => {
    const { probs, photos } = photosOf(5, 40, 50, 1);
    // a head of eleven labels, one per class and one out of scope, that knows each photo's label
    const sets = [...Array.from({ length: K }, (_, c) => [c]), []];
    const rand = seededRandom(9);
    const labels = new Float32Array(photos.length * sets.length);
    photos.forEach((p, i) => {
      const sure = 0.7 + 0.29 * rand();
      const own = p.outOfScope ? K : p.classes[0]!;
      for (let l = 0; l < sets.length; l++) labels[i * sets.length + l] = l === own ? sure : (1 - sure) / (sets.length - 1);
    });
    const plain = senderCrossValidation(probs, photos, { repeats: 3 })!;
    const headed = senderCrossValidation(probs, photos, { repeats: 3, head: { probs: labels, sets } })!;
    expect(headed.inScopeAutoAccepted.mean).to.be.above(plain.inScopeAutoAccepted.mean + 0.1);
    expect(headed.autoAcceptedAccuracy.mean).to.be.at.least(0.95);
    expect(headed.outOfScopeFlagged.min).to.be.at.least(0.7);
  });

  it('is undefined when no split gives both halves in-scope and out-of-scope photos', () => {
    const { probs, photos } = photosOf(4, 6, 20, 1);
    // every out-of-scope photo belongs to one sender
    photos.forEach((p, i) => (photos[i] = { ...p, outOfScope: p.senderId === 's0', classes: p.senderId === 's0' ? [] : [0] }));
    expect(senderCrossValidation(probs, photos)).to.equal(undefined);
  });
});

import { expect } from 'chai';
import { labelHeadScores, modelReviewReason, normalisedEntropy, type ReviewPolicy } from './review.ts';

const policy: ReviewPolicy = {
  outOfScope: { score: 'entropy', threshold: 0.8 },
  lowConfidence: { score: 'maxProb', threshold: 0.6 },
  target: 'test',
};

describe('review policy', () => {
  it('normalised entropy is 0 for one-hot and 1 for uniform', () => {
    expect(normalisedEntropy([1, 0, 0, 0])).to.equal(0);
    expect(normalisedEntropy([0.25, 0.25, 0.25, 0.25])).to.be.closeTo(1, 1e-12);
  });
  it('flags a spread answer out-of-scope, a doubtful one low-confidence, a sure one not at all', () => {
    expect(modelReviewReason(new Array(10).fill(0.1), policy)).to.equal('out-of-scope');
    expect(modelReviewReason([0.5, 0.45, 0.05, 0, 0, 0, 0, 0, 0, 0], policy)).to.equal('low-confidence');
    expect(modelReviewReason([0.95, 0.05, 0, 0, 0, 0, 0, 0, 0, 0], policy)).to.equal(undefined);
  });
  it('margin and maxProb scores, and no out-of-scope rule', () => {
    const margin: ReviewPolicy = {
      outOfScope: { score: 'maxProb', threshold: 0.3 },
      lowConfidence: { score: 'margin', threshold: 0.2 },
      target: 't',
    };
    expect(modelReviewReason([0.25, 0.2, 0.2, 0.35 - 0.0, 0, 0, 0, 0, 0, 0], margin)).to.equal('low-confidence');
    expect(modelReviewReason([0.29, 0.28, 0.43 - 0.2, 0.2, 0, 0, 0, 0, 0, 0], margin)).to.equal('out-of-scope');
    expect(modelReviewReason(new Array(10).fill(0.1), { ...policy, outOfScope: null })).to.equal('low-confidence');
  });
  it('labelHead scores: the labels whose classes hold the answer, and the out-of-scope labels, together', () => {
    // labels: Shoes (5, 7, 9), Sandal-only (5), Longsleeve (0, 2, 6), Hat (out of scope)
    const sets = [[5, 7, 9], [5], [0, 2, 6], []];
    const labels = [0.5, 0.2, 0.1, 0.2];
    expect(labelHeadScores(7, labels, sets).right).to.be.closeTo(0.5, 1e-12);
    expect(labelHeadScores(5, labels, sets).right).to.be.closeTo(0.7, 1e-12);
    expect(labelHeadScores(5, labels, sets).outOfScope).to.be.closeTo(0.2, 1e-12);
    expect(() => labelHeadScores(5, [0.5, 0.5], sets)).to.throw(/2 label probabilities for 4 label sets/);
    const head: ReviewPolicy = {
      outOfScope: { score: 'labelHead', threshold: 0.3 },
      lowConfidence: { score: 'labelHead', threshold: 0.6 },
      labelSets: sets,
      target: 't',
    };
    // a Sneaker answer spread over the shoe classes: its own probability is low, the head is sure
    const spreadShoe = [0, 0, 0, 0, 0, 0.3, 0, 0.4, 0, 0.3];
    expect(modelReviewReason(spreadShoe, head, [0.9, 0.05, 0, 0.05])).to.equal(undefined);
    expect(modelReviewReason(spreadShoe, { ...head, lowConfidence: { score: 'maxProb', threshold: 0.6 } }, [0.9, 0.05, 0, 0.05])).to.equal(
      'low-confidence',
    );
    expect(modelReviewReason(spreadShoe, head, [0.3, 0.05, 0.3, 0.35])).to.equal('out-of-scope');
    expect(modelReviewReason(spreadShoe, head, [0.5, 0, 0.3, 0.2])).to.equal('low-confidence');
    expect(() => modelReviewReason(spreadShoe, head)).to.throw(/no label probabilities/);
  });
});

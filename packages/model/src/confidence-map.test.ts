import { expect } from 'chai';
import { seededRandom } from '@refund-vision/shared';
import { applyConfidenceMap, fitConfidenceMap, mapTop1 } from './confidence-map.ts';
import { CalibrationBins } from './metrics.ts';

describe('confidence map (Platt scaling of the top-1 probability)', () => {
  it('maps the top-1 probability by hand and rescales the rest to sum to 1, keeping the order', () => {
    const map = { method: 'platt-top1' as const, a: 0.5, b: 0.5 };
    // top-1 0.4: logit = ln(0.4/0.6) = −0.405465; 0.5·(−0.405465) + 0.5 = 0.297267; σ = 0.573774
    const row = new Float32Array([0.1, 0.4, 0.3, 0.2, 0, 0, 0, 0, 0, 0]);
    applyConfidenceMap(row, map);
    expect(row[1]).to.be.closeTo(0.573774, 1e-6);
    // the others share 1 − 0.573774 = 0.426226 in their old proportions 1 : 3 : 2
    expect(row[0]).to.be.closeTo(0.426226 / 6, 1e-6);
    expect(row[2]).to.be.closeTo((0.426226 * 3) / 6, 1e-6);
    expect(row[3]).to.be.closeTo((0.426226 * 2) / 6, 1e-6);
    expect(row.reduce((s, v) => s + v, 0)).to.be.closeTo(1, 1e-6);
  });

  it('never lets the runner-up overtake the answer, and handles a one-hot row', () => {
    // a map that pushes every confidence towards 0.1 would put the runner-up (0.33) above 0.1
    const harsh = { method: 'platt-top1' as const, a: 0.05, b: -2.2 };
    const row = new Float32Array([0.34, 0.33, 0.33, 0, 0, 0, 0, 0, 0, 0]);
    applyConfidenceMap(row, harsh);
    expect(row[0]).to.be.above(row[1]!);
    expect(row[0]).to.be.above(row[2]!);
    expect(row.reduce((s, v) => s + v, 0)).to.be.closeTo(1, 1e-6);
    const sure = new Float32Array([0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
    applyConfidenceMap(sure, { method: 'platt-top1', a: 0.7, b: 0 });
    expect(sure[7]).to.be.closeTo(mapTop1(1, { method: 'platt-top1', a: 0.7, b: 0 }), 1e-7);
    expect(sure[7]).to.be.below(1);
    expect(sure.reduce((s, v) => s + v, 0)).to.be.closeTo(1, 1e-6);
    expect(sure[0]).to.be.closeTo(sure[9]!, 1e-9);
  });

  it('recovers a known map from drawn outcomes and brings the ECE down', () => {
    // confidences uniform in 0.15–0.99, right with probability σ(0.6·logit p + 0.5): unsure answers
    // are right more often than they say, sure ones less
    const rand = seededRandom(21);
    const n = 6000;
    const top1 = new Float64Array(n);
    const correct = new Uint8Array(n);
    const truth = { method: 'platt-top1' as const, a: 0.6, b: 0.5 };
    for (let i = 0; i < n; i++) {
      top1[i] = 0.15 + 0.84 * rand();
      correct[i] = rand() < mapTop1(top1[i]!, truth) ? 1 : 0;
    }
    const fit = fitConfidenceMap(top1, correct);
    expect(fit.a).to.be.closeTo(0.6, 0.08);
    expect(fit.b).to.be.closeTo(0.5, 0.12);
    const before = new CalibrationBins(15);
    const after = new CalibrationBins(15);
    for (let i = 0; i < n; i++) {
      before.add(top1[i]!, correct[i] === 1);
      after.add(mapTop1(top1[i]!, fit), correct[i] === 1);
    }
    expect(before.ece()).to.be.above(0.08);
    expect(after.ece()).to.be.below(0.03);
  });

  it('fits a pair per answered class when told the classes; a rarely answered class keeps about the shared pair', () => {
    // class 4 answers are right less often than they say (σ(0.8·logit p − 1)), class 1 answers more
    // often (σ(0.8·logit p + 1)); class 9 is answered 6 times
    const rand = seededRandom(5);
    const truth = { method: 'platt-top1' as const, a: 0.8, b: 0, perClass: Array.from({ length: 10 }, () => ({ a: 0.8, b: 0 })) };
    truth.perClass[4] = { a: 0.8, b: -1 };
    truth.perClass[1] = { a: 0.8, b: 1 };
    const top1: number[] = [];
    const correct: number[] = [];
    const classes: number[] = [];
    for (let i = 0; i < 4006; i++) {
      const c = i < 4000 ? [1, 4][i % 2]! : 9;
      top1.push(0.2 + 0.79 * rand());
      classes.push(c);
      correct.push(rand() < mapTop1(top1[i]!, truth, c) ? 1 : 0);
    }
    const fit = fitConfidenceMap(top1, correct, classes);
    expect(fit.perClass).to.have.length(10);
    expect(fit.perClass![4]!.b).to.be.closeTo(-1, 0.25);
    expect(fit.perClass![1]!.b).to.be.closeTo(1, 0.25);
    // the shared pair sits between; six answers barely move class 9 off it; unanswered classes are it
    expect(fit.b).to.be.within(fit.perClass![4]!.b, fit.perClass![1]!.b);
    expect(Math.abs(fit.perClass![9]!.b - fit.b)).to.be.below(0.3);
    expect(fit.perClass![0]).to.deep.equal({ a: fit.a, b: fit.b });
    // and a row is mapped by its answer's class
    const row = new Float32Array([0, 0, 0, 0, 0.7, 0.1, 0.1, 0.1, 0, 0]);
    applyConfidenceMap(row, fit);
    expect(row[4]).to.be.closeTo(mapTop1(0.7, fit, 4), 1e-6);
    expect(row[4]).to.be.below(mapTop1(0.7, fit, 1));
  });

  it('refuses mismatched inputs', () => {
    expect(() => fitConfidenceMap([0.5, 0.6], [1])).to.throw(/2 confidences for 1 outcomes/);
    expect(() => fitConfidenceMap([0.5, 0.6], [1, 0], [3])).to.throw(/2 confidences for 1 classes/);
  });
});

import { expect } from 'chai';
import { binomialUpperTail, formatGateReport, gate, mcnemar } from './gate.ts';

const outcomes = (pairs: Array<[boolean, boolean, number]>) => {
  const champion: boolean[] = [];
  const candidate: boolean[] = [];
  for (const [ch, ca, k] of pairs) for (let i = 0; i < k; i++) (champion.push(ch), candidate.push(ca));
  return { champion, candidate };
};

describe('evaluation gate (McNemar exact)', () => {
  it('binomial tails match hand-computed values', () => {
    expect(binomialUpperTail(5, 5)).to.be.closeTo(1 / 32, 1e-15);
    // P(X ≥ 8 | n = 10): (C(10,8)+C(10,9)+C(10,10)) / 1024 = 56/1024
    expect(binomialUpperTail(10, 8)).to.be.closeTo(56 / 1024, 1e-15);
    expect(binomialUpperTail(10, 0)).to.equal(1);
    expect(binomialUpperTail(0, 0)).to.equal(1);
    // large n stays finite and symmetric: P(X ≥ 1000 | 2000) is just over one half
    expect(binomialUpperTail(2000, 1000)).to.be.within(0.5, 0.51);
  });

  it('counts discordant pairs and accuracies', () => {
    const m = mcnemar(
      outcomes([
        [true, true, 80],
        [true, false, 2],
        [false, true, 8],
        [false, false, 10],
      ]),
    );
    expect(m).to.include({ n: 100, championOnly: 2, candidateOnly: 8 });
    expect(m.championAccuracy).to.be.closeTo(0.82, 1e-12);
    expect(m.candidateAccuracy).to.be.closeTo(0.88, 1e-12);
    expect(m.pBetter).to.be.closeTo(56 / 1024, 1e-12);
    expect(m.pWorse).to.be.closeTo(1013 / 1024, 1e-12); // P(X ≥ 2 | 10) = 1 − 11/1024
  });

  it('passes a candidate better on one set and not worse on another; fails one that is worse anywhere', () => {
    const better = {
      name: 'photos',
      ...outcomes([
        [true, true, 50],
        [false, true, 12],
        [true, false, 1],
      ]),
    };
    const same = {
      name: 'fm',
      ...outcomes([
        [true, true, 900],
        [false, true, 5],
        [true, false, 6],
      ]),
    };
    const worse = {
      name: 'reviews',
      ...outcomes([
        [true, true, 10],
        [true, false, 9],
      ]),
    };
    const ok = gate([same, better]);
    expect(ok.passed).to.equal(true);
    expect(ok.sets.map((s) => s.verdict)).to.deep.equal(['no significant difference', 'better']);
    const bad = gate([same, better, worse]);
    expect(bad.passed).to.equal(false);
    expect(bad.reason).to.match(/worse beyond sampling noise on reviews/);
    const flat = gate([same]);
    expect(flat.passed).to.equal(false);
    expect(flat.reason).to.equal('not better beyond sampling noise on any set');
    // a set reported only is measured and shown, and changes no verdict either way
    const shown = gate([same, { ...better, reportedOnly: true }]);
    expect(shown.passed).to.equal(false);
    expect(shown.sets[1]).to.include({ verdict: 'better', reportedOnly: true });
    expect(gate([same, better, { ...worse, reportedOnly: true }]).passed).to.equal(true);
    expect(formatGateReport(shown)).to.contain('→ better (reported, not judged)');
  });

  it('refuses unpaired sets', () => {
    expect(() => mcnemar({ champion: [true], candidate: [] })).to.throw(/differ in length/);
  });
});

import { expect } from 'chai';
import { percentile } from './percentile.ts';

describe('percentile', () => {
  it('interpolates between ranks, by hand', () => {
    expect(percentile([10, 20, 30, 40, 50], 0.5)).to.equal(30);
    expect(percentile([10, 20, 30, 40], 0.5)).to.equal(25);
    expect(percentile([10, 20, 30, 40, 50], 0.025)).to.be.closeTo(11, 1e-12); // pos 0.1
    expect(percentile([10, 20, 30, 40, 50], 1)).to.equal(50);
    expect(percentile([7], 0.95)).to.equal(7);
    expect(percentile([], 0.5)).to.equal(null);
  });
});

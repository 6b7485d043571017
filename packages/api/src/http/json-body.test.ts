import { expect } from 'chai';
import { NEAR_ZERO_THRESHOLD } from '@refund-vision/shared';
import { pixelStats } from '../pixel-stats.ts';
import { jsonDepth } from './json-body.ts';

describe('jsonDepth', () => {
  const d = (s: string, limit?: number) => jsonDepth(Buffer.from(s), limit);
  it('counts nesting of arrays and objects, not brackets inside strings', () => {
    expect(d('1')).to.equal(0);
    expect(d('{"a":[1,{"b":[]}]}')).to.equal(4);
    expect(d('{"a":"[[[[{{{{"}')).to.equal(1);
    expect(d('{"a":"x\\"[[[[","b":[[1]]}')).to.equal(3);
    expect(d('{"a":"x\\\\","b":[[1]]}')).to.equal(3);
    expect(d('["unterminated [[[')).to.equal(1);
  });
  it('stops early once past the limit', () => {
    expect(d('['.repeat(100000), 16)).to.equal(17);
  });
});

describe('pixelStats', () => {
  it('sums pixels on the 0–1 scale, their squares and the near-zero share', () => {
    const px = new Uint8Array([0, 255, NEAR_ZERO_THRESHOLD - 1, NEAR_ZERO_THRESHOLD, 51]);
    const s = pixelStats(px);
    expect(s.count).to.equal(5);
    expect(s.nearZero).to.equal(2);
    expect(s.sum).to.be.closeTo((255 + 9 + 10 + 51) / 255, 1e-12);
    expect(s.sumSq).to.be.closeTo((255 ** 2 + 81 + 100 + 51 ** 2) / 255 ** 2, 1e-12);
  });
});

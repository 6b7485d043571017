import { expect } from 'chai';
import { PIXELS_PER_IMAGE } from '@refund-vision/shared';
import { Batcher } from './batcher.ts';

const px = (v: number) => new Uint8Array(PIXELS_PER_IMAGE).fill(v);

describe('Batcher', () => {
  it('hands out batches of the configured size with pixels in image order', () => {
    const b = new Batcher(2);
    for (let i = 0; i < 5; i++) b.add({ id: `f${i}` }, { path: `/x/f${i}` }, px(i));
    expect(b.full).to.equal(true);
    const first = b.take()!;
    expect(first.images.map((m) => m.id)).to.deep.equal(['f0', 'f1']);
    expect(first.pixels.length).to.equal(2 * PIXELS_PER_IMAGE);
    expect(first.pixels[0]).to.equal(0);
    expect(first.pixels[PIXELS_PER_IMAGE]).to.equal(1);
    expect(b.take()!.images.map((m) => m.id)).to.deep.equal(['f2', 'f3']);
    const last = b.take()!;
    expect(last.images).to.have.length(1);
    expect(last.pixels.every((v) => v === 4)).to.equal(true);
    expect(b.take()).to.equal(undefined);
  });

  it('refuses a wrong pixel count and a bad size', () => {
    expect(() => new Batcher(0)).to.throw(RangeError);
    expect(() => new Batcher(1).add({ id: 'x' }, { path: 'x' }, new Uint8Array(10))).to.throw(/784/);
  });
});

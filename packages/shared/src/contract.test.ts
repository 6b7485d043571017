import { expect } from 'chai';
import { PredictRequest, encodePixels, decodePixels, classIndexOf, PIXELS_PER_IMAGE } from './index.ts';

describe('wire contract', () => {
  const pixels = new Uint8Array(2 * PIXELS_PER_IMAGE).map((_, i) => i % 256);
  const body = { runKey: 'run-1', batchIndex: 0, images: [{ id: 'a.png' }, { id: 'b.png', label: 3 }], pixels: encodePixels(pixels) };

  it('round-trips pixels through base64', () => {
    expect(Buffer.from(decodePixels(encodePixels(pixels))).equals(Buffer.from(pixels))).to.equal(true);
  });

  it('accepts a well-formed batch and defaults the source', () => {
    const parsed = PredictRequest.parse(body);
    expect(parsed.source).to.equal('client');
  });

  it('rejects a pixel payload of the wrong length, unknown keys and bad labels', () => {
    expect(PredictRequest.safeParse({ ...body, images: [{ id: 'a.png' }] }).success).to.equal(false);
    expect(PredictRequest.safeParse({ ...body, extra: 1 }).success).to.equal(false);
    expect(PredictRequest.safeParse({ ...body, images: [{ id: 'a' }, { id: 'b', label: 10 }] }).success).to.equal(false);
    expect(PredictRequest.safeParse({ ...body, runKey: '../etc' }).success).to.equal(false);
  });

  it('reads class names in every spelling users write', () => {
    expect(classIndexOf('T-shirt/Top')).to.equal(0);
    expect(classIndexOf('ankle_boot')).to.equal(9);
    expect(classIndexOf('Sneaker')).to.equal(7);
    expect(classIndexOf('7')).to.equal(7);
    expect(classIndexOf('hat')).to.equal(undefined);
  });
});

import { expect } from 'chai';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, inflateSync } from 'node:zlib';
import { CLASS_NAMES, PIXELS_PER_IMAGE } from '@refund-vision/shared';
import { loadFashionMnist } from './fashion-mnist.ts';
import { PNG_SIGNATURE } from './png.ts';
import { writeSamples } from './samples.ts';

/** Independent decoder for 8-bit grayscale PNGs: checks chunk CRCs, inflates, undoes filters 0–4. */
function decodeGrayPng(buf: Buffer): { width: number; height: number; pixels: Uint8Array } {
  expect(buf.subarray(0, 8).equals(PNG_SIGNATURE)).to.equal(true);
  let pos = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('ascii', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    expect(buf.readUInt32BE(pos + 8 + len)).to.equal(crc32(buf.subarray(pos + 4, pos + 8 + len)));
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([data[8], data[9], data[12]]).to.deep.equal([8, 0, 0]);
    } else if (type === 'IDAT') idat.push(data);
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const px = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (width + 1)]!;
    for (let x = 0; x < width; x++) {
      const v = raw[y * (width + 1) + 1 + x]!;
      const a = x > 0 ? px[y * width + x - 1]! : 0;
      const b = y > 0 ? px[(y - 1) * width + x]! : 0;
      const c = x > 0 && y > 0 ? px[(y - 1) * width + x - 1]! : 0;
      const p = a + b - c;
      const pred = [
        0,
        a,
        b,
        (a + b) >> 1,
        Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c,
      ][f]!;
      px[y * width + x] = (v + pred) & 0xff;
    }
  }
  return { width, height, pixels: px };
}

describe('samples: Fashion-MNIST test images as PNG files', () => {
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'rv-samples-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('writes PNGs that decode to the dataset pixels, and labels.csv with class names', async () => {
    const files = await writeSamples({ out: tmp, count: 12, offset: 100 });
    expect(files).to.have.length(12);
    expect(readdirSync(tmp).filter((f) => f.endsWith('.png'))).to.have.length(12);
    const test = await loadFashionMnist('test');
    for (const s of files) {
      const png = decodeGrayPng(readFileSync(join(tmp, s.file)));
      expect([png.width, png.height]).to.deep.equal([28, 28]);
      const want = test.images.subarray(s.index * PIXELS_PER_IMAGE, (s.index + 1) * PIXELS_PER_IMAGE);
      expect(Buffer.from(png.pixels).equals(Buffer.from(want)), s.file).to.equal(true);
    }
    const lines = readFileSync(join(tmp, 'labels.csv'), 'utf8').trim().split('\n');
    expect(lines[0]).to.equal('file,label');
    expect(lines[1]).to.equal(`test-00100.png,${CLASS_NAMES[test.labels[100]!]}`);
    expect(lines).to.have.length(13);
  });

  it('refuses a range outside the test set', async () => {
    let err: unknown;
    try {
      await writeSamples({ out: tmp, count: 5, offset: 9998 });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(RangeError);
  });
});

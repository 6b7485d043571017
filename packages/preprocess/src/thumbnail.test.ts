import { expect } from 'chai';
import sharp from 'sharp';
import { makeThumbnail, THUMBNAIL_SIDE } from './thumbnail.ts';

describe('review thumbnails', () => {
  it('shrinks a 12 MP photo to a WebP of at most 160 px and a few KB', async () => {
    const photo = await sharp({ create: { width: 4000, height: 3000, channels: 3, background: '#d8d2c8' } })
      .composite([{ input: Buffer.from('<svg width="4000" height="3000"><circle cx="2000" cy="1500" r="900" fill="#333"/></svg>') }])
      .jpeg()
      .toBuffer();
    const t = (await makeThumbnail(photo))!;
    expect(t.type).to.equal('image/webp');
    const meta = await sharp(t.data).metadata();
    expect(meta.format).to.equal('webp');
    expect(Math.max(meta.width!, meta.height!)).to.equal(THUMBNAIL_SIDE);
    expect(meta.width! / meta.height!).to.be.closeTo(4 / 3, 0.02);
    expect(t.data.length).to.be.below(8 * 1024);
  });

  it('never enlarges a small image', async () => {
    const small = await sharp({ create: { width: 28, height: 28, channels: 3, background: '#000' } })
      .png()
      .toBuffer();
    const meta = await sharp((await makeThumbnail(small))!.data).metadata();
    expect([meta.width, meta.height]).to.deep.equal([28, 28]);
  });
});

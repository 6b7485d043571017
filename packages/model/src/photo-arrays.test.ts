import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { preprocessImage, PREPROCESS_VERSION } from '@refund-vision/preprocess';
import { photoCandidateDirs, readClothingPhotos, type Photo } from './clothing-photos.ts';
import { photoArrays, photoCacheKey } from './photo-arrays.ts';

describe('photo arrays (preprocessed through @refund-vision/preprocess, cached on disk)', function () {
  this.timeout(120_000);
  let tmp: string;
  let photos: Photo[];
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'rv-photo-arrays-'));
    const dir = photoCandidateDirs().find((d) => existsSync(join(d, 'labels.csv')));
    if (!dir) throw new Error('clothing photos not found; set CLOTHING_PHOTOS_DIR');
    photos = readClothingPhotos(dir, { verify: false }).photos.slice(0, 4);
    const bad = join(tmp, 'broken.jpg');
    writeFileSync(bad, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
    photos.push({ ...photos[0]!, id: 'broken', file: bad, sha256: '0'.repeat(64) });
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('gives exactly preprocessImage’s pixels, records a broken photo without failing, and reuses the cache', async () => {
    const cacheDir = join(tmp, 'cache');
    const a = await photoArrays(photos, { variants: 2, cacheDir });
    expect(a.cached).to.equal(false);
    expect(a.key.startsWith(PREPROCESS_VERSION)).to.equal(true);
    expect(Array.from(a.ok)).to.deep.equal([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    expect(a.failures.map((f) => f.id)).to.deep.equal(['broken', 'broken']);
    for (const i of [0, 3]) {
      const direct = await preprocessImage(photos[i]!.file);
      expect(Buffer.from(a.pixels.subarray(i * 2 * 784, (i * 2 + 1) * 784)).equals(Buffer.from(direct.pixels))).to.equal(true);
    }
    // the augmented variant is a different image of the same item
    const orig = a.pixels.subarray(0, 784);
    const aug = a.pixels.subarray(784, 1568);
    expect(Buffer.from(orig).equals(Buffer.from(aug))).to.equal(false);
    expect(readdirSync(cacheDir).some((f) => f === `${a.key}.bin`)).to.equal(true);
    const b = await photoArrays(photos, { variants: 2, cacheDir });
    expect(b.cached).to.equal(true);
    expect(Buffer.from(b.pixels).equals(Buffer.from(a.pixels))).to.equal(true);
    expect(b.failures).to.deep.equal(a.failures);
  });

  it('keys the cache by preprocessing version, photo contents and variants', () => {
    const k = photoCacheKey(photos, 1);
    expect(photoCacheKey(photos, 3)).to.not.equal(k);
    expect(photoCacheKey([{ ...photos[0]!, sha256: 'f'.repeat(64) }, ...photos.slice(1)], 1)).to.not.equal(k);
    expect(photoCacheKey(photos.slice(0, 4), 1)).to.not.equal(k);
  });
});

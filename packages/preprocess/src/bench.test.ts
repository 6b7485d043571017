import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchPreprocess, writeLargePhoto } from './bench.ts';
import { probeImage } from './probe.ts';
import { datasetPng, requireSharp } from './test-images.ts';
import { readFileSync } from 'node:fs';

describe('benchPreprocess', function () {
  this.timeout(60000);
  let dir: string;
  const files: string[] = [];
  before(async () => {
    await requireSharp();
    dir = mkdtempSync(join(tmpdir(), 'rv-preprocess-bench-'));
    for (let i = 0; i < 3; i++) {
      const p = join(dir, `s${i}.png`);
      writeFileSync(p, await datasetPng(new Uint8Array(784).fill(40 * i + 20), 120));
      files.push(p);
    }
    const bad = join(dir, 'bad.png');
    writeFileSync(bad, 'not a png');
    files.push(bad);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const pool of [false, 2]) {
    it(`counts images, failures and decoders (${pool ? 'pool' : 'single'})`, async () => {
      const r = await benchPreprocess({ files, pool, repeat: 2, warmup: 2 });
      expect(r.images).to.equal(4);
      expect(r.failed).to.equal(1);
      expect(r.decoders).to.deep.equal({ 'png-fast': 3 });
      expect(r.mode).to.equal(pool ? 'pool ×2' : 'single');
      expect(r.msPerImage).to.be.above(0);
      expect(r.imagesPerSec).to.be.closeTo(1000 / r.msPerImage, 1e-6);
    });
  }

  it('writeLargePhoto writes a camera-sized JPEG', async () => {
    const p = join(dir, 'big.jpg');
    await writeLargePhoto(p, { width: 1600, height: 1200 });
    expect(probeImage(readFileSync(p))).to.deep.equal({ format: 'jpeg', width: 1600, height: 1200 });
  });
});

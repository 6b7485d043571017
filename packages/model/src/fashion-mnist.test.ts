import { expect } from 'chai';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DatasetError, FILES, candidateDirs, loadFashionMnist, readIdx } from './fashion-mnist.ts';

describe('Fashion-MNIST loader', () => {
  let tmp: string;
  let source: string;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'fmnist-'));
    source = (await loadFashionMnist('test')).source;
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('finds and verifies the test split: 10,000 images, 1,000 per class', async () => {
    const t = await loadFashionMnist('test');
    expect(t.count).to.equal(10000);
    expect(t.images.length).to.equal(10000 * 784);
    expect(t.labels.length).to.equal(10000);
    const perClass = new Array(10).fill(0);
    for (const y of t.labels) perClass[y]++;
    expect(perClass).to.deep.equal(new Array(10).fill(1000));
    expect(candidateDirs()).to.include(t.source);
  });

  it('loads the training split (60,000 images) and caches decoded arrays', async () => {
    const a = await loadFashionMnist('train');
    const b = await loadFashionMnist('train');
    expect(a.count).to.equal(60000);
    expect(b).to.equal(a);
  });

  it('looks in FASHION_MNIST_DIR first', () => {
    const old = process.env.FASHION_MNIST_DIR;
    process.env.FASHION_MNIST_DIR = tmp;
    try {
      expect(candidateDirs()[0]).to.equal(tmp);
    } finally {
      if (old === undefined) delete process.env.FASHION_MNIST_DIR;
      else process.env.FASHION_MNIST_DIR = old;
    }
  });

  it('accepts a copy with another gzip header (as Debian ships) and an uncompressed copy', async () => {
    const dir = join(tmp, 'regz');
    mkdirSync(dir);
    const spec = FILES.test;
    const raw = gunzipSync(readFileSync(join(source, `${spec.images.name}.gz`)));
    writeFileSync(join(dir, `${spec.images.name}.gz`), gzipSync(raw, { level: 1 }));
    writeFileSync(join(dir, spec.labels.name), gunzipSync(readFileSync(join(source, `${spec.labels.name}.gz`))));
    const t = await loadFashionMnist('test', { dir });
    const ref = await loadFashionMnist('test');
    expect(Buffer.compare(Buffer.from(t.images), Buffer.from(ref.images))).to.equal(0);
    expect(Buffer.compare(Buffer.from(t.labels), Buffer.from(ref.labels))).to.equal(0);
  });

  it('rejects a truncated file with an error naming it', () => {
    const p = join(tmp, `${FILES.test.labels.name}.gz`);
    const full = readFileSync(join(source, `${FILES.test.labels.name}.gz`));
    writeFileSync(p, full.subarray(0, full.length - 100));
    expect(() => readIdx(p, FILES.test.labels)).to.throw(DatasetError, p);
  });

  it('rejects a file whose content is corrupt (one pixel changed) with an error naming it', () => {
    const p = join(tmp, FILES.test.images.name);
    const raw = gunzipSync(readFileSync(join(source, `${FILES.test.images.name}.gz`)));
    raw[5000] = raw[5000]! ^ 0xff;
    writeFileSync(p, raw);
    let err: unknown;
    try {
      readIdx(p, FILES.test.images);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(DatasetError);
    expect((err as Error).message)
      .to.contain(p)
      .and.to.contain('checksum');
  });

  it('fails the whole split clearly when a folder holds a corrupt file', async () => {
    const dir = join(tmp, 'corrupt');
    mkdirSync(dir);
    copyFileSync(join(source, `${FILES.test.labels.name}.gz`), join(dir, `${FILES.test.labels.name}.gz`));
    writeFileSync(join(dir, `${FILES.test.images.name}.gz`), Buffer.from('not gzip at all'));
    // The rejection is taken out of the promise: expect.fail inside a try would be caught by its own
    // catch, whose checks its message ('corrupt file accepted') half meets.
    const err = await loadFashionMnist('test', { dir }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err, 'corrupt file accepted').to.be.instanceOf(DatasetError);
    expect((err as Error).message)
      .to.contain(`${FILES.test.images.name}.gz`)
      .and.to.match(/corrupt|truncated/);
  });
});

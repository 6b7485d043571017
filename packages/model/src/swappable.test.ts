import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadClassifier, type Classifier } from './classifier.ts';
import { SwappableClassifier } from './swappable.ts';
import { BUNDLED_MODEL_DIR, makeVariant } from './testing/model-variant.ts';

describe('hot-swappable classifier', function () {
  this.timeout(120_000);
  let tmp: string;
  let variantDir: string;
  let variantVersion: string;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'rv-swap-'));
    variantDir = join(tmp, 'v2');
    variantVersion = await makeVariant(variantDir, 7, { withOnnx: true });
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('switches under concurrent load with no failed prediction; each answer names its model; the old one is released after its last request', async () => {
    const first = await loadClassifier({ dir: BUNDLED_MODEL_DIR, backend: 'onnx' });
    const slot = new SwappableClassifier(first);
    const pixels = new Uint8Array(784 * 32).map((_, i) => (i * 37) % 256);
    let stop = false;
    const seen: string[] = [];
    const load = Array.from({ length: 6 }, async () => {
      while (!stop) seen.push((await slot.predictTagged(pixels, 32)).model.version);
    });
    await new Promise((r) => setTimeout(r, 50));
    const next = await loadClassifier({ dir: variantDir, backend: 'onnx' });
    const old = await slot.swap(next);
    expect(old).to.equal(first);
    expect(slot.version).to.equal(variantVersion);
    await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await Promise.all(load); // any failed prediction rejects here
    expect(seen).to.include(first.version).and.to.include(variantVersion);
    // once switched, every later answer comes from the new model
    expect(seen.slice(seen.lastIndexOf(first.version) + 1).every((v) => v === variantVersion)).to.equal(true);
    let err: Error | undefined;
    await first.predict(pixels, 32).catch((e: Error) => (err = e));
    expect(err?.message).to.equal('classifier disposed');
    // swapping back (a rollback) is the same move
    await slot.swap(await loadClassifier({ dir: BUNDLED_MODEL_DIR, backend: 'onnx' }));
    expect((await slot.predictTagged(pixels, 32)).model.version).to.equal(first.version);
    await slot.dispose();
  });

  it('a swap to the version already served changes nothing and releases the duplicate', async () => {
    const a = await loadClassifier({ dir: BUNDLED_MODEL_DIR, backend: 'onnx' });
    const slot = new SwappableClassifier(a);
    const dup: Classifier = await loadClassifier({ dir: BUNDLED_MODEL_DIR, backend: 'onnx' });
    expect(await slot.swap(dup)).to.equal(null);
    expect(slot.current).to.equal(a);
    let err: Error | undefined;
    await dup.predict(new Uint8Array(784), 1).catch((e: Error) => (err = e));
    expect(err?.message).to.equal('classifier disposed');
    await slot.dispose();
  });
});

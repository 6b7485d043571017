import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARCHITECTURES } from './architectures.ts';
import { initTf, tf } from './engine.ts';
import { MODEL_JSON, WEIGHTS_FILE, loadModel, readArtifacts, saveModel, weightsVersion } from './io.ts';

describe('model save/load without tfjs-node', () => {
  let tmp: string;
  before(async () => {
    await initTf('wasm');
    tmp = mkdtempSync(join(tmpdir(), 'rv-io-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('round-trips a model to disk with identical predictions', async () => {
    const model = ARCHITECTURES.ref!.build(3);
    const saved = await saveModel(model, tmp);
    const weights = readFileSync(join(tmp, WEIGHTS_FILE));
    expect(saved.version)
      .to.equal(weightsVersion(weights))
      .and.to.match(/^[0-9a-f]{12}$/);
    expect(weights.byteLength).to.equal(model.countParams() * 4);
    const json = JSON.parse(readFileSync(join(tmp, MODEL_JSON), 'utf8'));
    expect(json.weightsManifest[0].paths).to.deep.equal([WEIGHTS_FILE]);

    const back = await loadModel(tmp);
    const x = tf.randomUniform([5, 28, 28, 1], 0, 1, 'float32', 1);
    const a = model.predict(x) as tf.Tensor;
    const b = back.predict(x) as tf.Tensor;
    expect(Array.from(await b.data())).to.deep.equal(Array.from(await a.data()));
    tf.dispose([x, a, b]);
    model.dispose();
    back.dispose();
  });

  it('refuses weights that do not match the manifest', () => {
    const dir = join(tmp, 'short');
    const model = ARCHITECTURES.fast!.build(1);
    return saveModel(model, dir).then(() => {
      model.dispose();
      const w = readFileSync(join(dir, WEIGHTS_FILE));
      writeFileSync(join(dir, WEIGHTS_FILE), w.subarray(0, w.length - 8));
      expect(() => readArtifacts(dir)).to.throw(/weights hold .* bytes/);
    });
  });

  it('names the file when model.json is missing', () => {
    expect(() => readArtifacts(join(tmp, 'nowhere'))).to.throw(/nowhere.*model\.json/);
  });
});

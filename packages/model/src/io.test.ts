import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARCHITECTURES } from './architectures.ts';
import { initTf, tf } from './engine.ts';
import { MODEL_JSON, WEIGHTS_FILE, loadModel, readArtifacts, saveModel, weightsVersion } from './io.ts';
import { GZIPPED_WEIGHTS_FILE, weightFiles } from './model-files.ts';
import { gunzipSync } from 'node:zlib';

/** The loaded model answers exactly as the saved one on random images. */
async function expectSameAnswers(model: tf.LayersModel, back: tf.LayersModel): Promise<void> {
  const x = tf.randomUniform([5, 28, 28, 1], 0, 1, 'float32', 1);
  const a = model.predict(x) as tf.Tensor;
  const b = back.predict(x) as tf.Tensor;
  expect(Array.from(await b.data())).to.deep.equal(Array.from(await a.data()));
  tf.dispose([x, a, b]);
}

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
    await expectSameAnswers(model, back);
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

  it('stores mostly-zero weights (a combined ensemble) gzipped, with the version of the weights themselves', async () => {
    const dir = join(tmp, 'zeros');
    const model = ARCHITECTURES.fast!.build(2);
    // zero all but the last layer: well over half of the values
    for (const l of model.layers.slice(0, -1)) if (l.getWeights().length) l.setWeights(l.getWeights().map((w) => tf.zerosLike(w)));
    const dense = await saveModel(ARCHITECTURES.fast!.build(2), join(tmp, 'dense'));
    const saved = await saveModel(model, dir);
    expect(weightFiles(dir)).to.deep.equal([GZIPPED_WEIGHTS_FILE]);
    expect(existsSync(join(dir, WEIGHTS_FILE))).to.equal(false);
    const raw = gunzipSync(readFileSync(join(dir, GZIPPED_WEIGHTS_FILE)));
    expect(saved.version).to.equal(weightsVersion(raw));
    expect(readFileSync(join(dir, GZIPPED_WEIGHTS_FILE)).byteLength).to.be.below(raw.byteLength / 2);
    expect(weightFiles(dense.dir)).to.deep.equal([WEIGHTS_FILE]);
    const back = await loadModel(dir);
    await expectSameAnswers(model, back);
    // saving dense weights into the same folder leaves no stale gzipped file behind
    await saveModel(back, dir);
    expect(weightFiles(dir)).to.deep.equal([GZIPPED_WEIGHTS_FILE]);
    const other = ARCHITECTURES.fast!.build(5);
    await saveModel(other, dir);
    expect(weightFiles(dir)).to.deep.equal([WEIGHTS_FILE]);
    expect(existsSync(join(dir, GZIPPED_WEIGHTS_FILE))).to.equal(false);
    // a damaged gzip file is an error naming it
    await saveModel(model, dir);
    writeFileSync(join(dir, GZIPPED_WEIGHTS_FILE), Buffer.from('not gzip'));
    expect(() => readArtifacts(dir)).to.throw(/cannot read weights .*weights\.bin\.gz/);
    for (const m of [model, back, other]) m.dispose();
  });

  it('names the file when model.json is missing', () => {
    expect(() => readArtifacts(join(tmp, 'nowhere'))).to.throw(/nowhere.*model\.json/);
  });
});

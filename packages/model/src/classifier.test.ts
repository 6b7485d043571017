import { expect } from 'chai';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelCard, PIXELS_PER_IMAGE, projectRoot } from '@refund-vision/shared';
import { applyTemperature } from './calibration.ts';
import { loadClassifier, type Classifier } from './classifier.ts';
import { EngineUnavailableError, tensorCount, tf } from './engine.ts';
import { loadFashionMnist } from './fashion-mnist.ts';
import { argmaxRow, evaluate } from './metrics.ts';
import { readArtifacts, weightFiles, writeWeights } from './model-files.ts';
import { saveModel } from './io.ts';
import { exportOnnx } from './onnx-export.ts';
import { predictTf } from './predict-tf.ts';

const MODEL_DIR = join(projectRoot(), 'models', 'fashion-cnn');

describe('classifier on the committed model', () => {
  let onnx: Classifier;
  let wasm: Classifier;
  let test: Awaited<ReturnType<typeof loadFashionMnist>>;
  before(async () => {
    test = await loadFashionMnist('test');
    onnx = await loadClassifier({ dir: MODEL_DIR, backend: 'auto' });
    wasm = await loadClassifier({ dir: MODEL_DIR, backend: 'wasm' });
  });
  after(async () => {
    await onnx?.dispose();
    await wasm?.dispose();
  });

  it('has a model card valid against the shared schema whose version is the weights hash', () => {
    const card = ModelCard.parse(JSON.parse(readFileSync(join(MODEL_DIR, 'model-card.json'), 'utf8')));
    expect(wasm.version).to.equal(card.version);
    expect(onnx.card.version).to.equal(card.version);
    expect(card.evaluation.accuracy).to.be.at.least(0.92);
  });

  it('auto picks the onnx engine when onnxruntime-node and model.onnx are there', () => {
    expect(onnx.engine).to.equal('onnx');
    expect(wasm.engine).to.equal('wasm');
  });

  it('classifies all 10,000 test images at ≥ 92% accuracy (onnx engine)', async () => {
    const probs = await onnx.predict(test.images, test.count);
    const ev = evaluate(probs, test.labels);
    expect(ev.accuracy).to.be.at.least(0.92);
    expect(ev.accuracy).to.be.closeTo(onnx.card.evaluation.accuracy, 0.0005);
  });

  it('gives the same probabilities on onnx and tfjs (within 1e-4) on real test images', async () => {
    const n = 500;
    const px = test.images.subarray(2000 * PIXELS_PER_IMAGE, (2000 + n) * PIXELS_PER_IMAGE);
    const a = await onnx.predict(px, n);
    const b = await wasm.predict(px, n);
    expect(a.length).to.equal(n * 10);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
    expect(worst).to.be.below(1e-4);
    for (let r = 0; r < n; r += 97) expect(b.subarray(r * 10, r * 10 + 10).reduce((s, v) => s + v, 0)).to.be.closeTo(1, 1e-5);
  });

  it('keeps each tfjs classifier on its own engine when another engine is loaded later', async () => {
    const n = 20;
    const px = test.images.subarray(0, n * PIXELS_PER_IMAGE);
    const cpu = await loadClassifier({ dir: MODEL_DIR, backend: 'cpu' });
    try {
      expect(cpu.engine).to.equal('cpu');
      const a = await cpu.predict(px, n);
      const b = await wasm.predict(px, n);
      expect(tf.getBackend()).to.equal('wasm');
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).to.be.below(1e-4);
    } finally {
      await cpu.dispose();
    }
  });

  it('does not leak tensors when predicting on the tfjs engine', async () => {
    await wasm.warmup();
    const before = tensorCount();
    for (const n of [1, 7, 256]) await wasm.predict(test.images.subarray(0, n * PIXELS_PER_IMAGE), n);
    expect(tensorCount()).to.equal(before);
  });

  it('rejects pixel buffers of the wrong size and answers an empty batch', async () => {
    for (const c of [onnx, wasm]) {
      let err: unknown;
      try {
        await c.predict(new Uint8Array(784 * 2), 3);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(RangeError);
      expect((await c.predict(new Uint8Array(0), 0)).length).to.equal(0);
    }
  });

  describe('with a damaged model folder', () => {
    let tmp: string;
    beforeEach(() => {
      tmp = mkdtempSync(join(tmpdir(), 'rv-model-'));
      for (const f of ['model.json', ...weightFiles(MODEL_DIR), 'model-card.json']) copyFileSync(join(MODEL_DIR, f), join(tmp, f));
    });
    afterEach(() => rmSync(tmp, { recursive: true, force: true }));

    it('a forced onnx engine without model.onnx is a clear error; auto falls back to tfjs', async () => {
      let err: unknown;
      try {
        await loadClassifier({ dir: tmp, backend: 'onnx' });
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(EngineUnavailableError);
      expect((err as Error).message).to.contain('model.onnx');
      const c = await loadClassifier({ dir: tmp, backend: 'auto' });
      expect(c.engine).to.be.oneOf(['node', 'wasm', 'cpu']);
      await c.dispose();
    });

    it('a stale model.onnx (exported from other weights) is not used', async () => {
      writeFileSync(join(tmp, 'model.onnx'), readFileSync(join(MODEL_DIR, 'model.onnx')).subarray(0, 1000));
      let err: unknown;
      try {
        await loadClassifier({ dir: tmp, backend: 'onnx' });
      } catch (e) {
        err = e;
      }
      expect((err as Error).message).to.contain('stale');
    });

    it('a card with inference.flipAverage: onnx and tfjs both answer the mean logits of the image and its mirror', async () => {
      const setFlip = (on: boolean) => {
        const card = JSON.parse(readFileSync(join(tmp, 'model-card.json'), 'utf8'));
        card.inference = { flipAverage: on };
        writeFileSync(join(tmp, 'model-card.json'), JSON.stringify(card));
      };
      const test = await loadFashionMnist('test');
      const n = 200;
      const px = test.images.subarray(0, n * PIXELS_PER_IMAGE);
      const mirror = px.map((_, i) => px[i - (i % 28) + 27 - (i % 28)]!);
      // one pass per image, whatever the committed card says
      setFlip(false);
      const plain = await loadClassifier({ dir: tmp, backend: 'wasm' });
      const [a, b] = [await plain.predict(px, n), await plain.predict(mirror, n)];
      await plain.dispose();
      const want = applyTemperature(
        a.map((v, i) => Math.sqrt(v * b[i]!)),
        1,
      );
      setFlip(true);
      await exportOnnx(tmp);
      for (const backend of ['onnx', 'wasm'] as const) {
        const c = await loadClassifier({ dir: tmp, backend });
        const got = await c.predict(px, n);
        await c.dispose();
        let worst = 0;
        for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
        expect(worst, backend).to.be.below(1e-4);
      }
      let moved = 0;
      for (let i = 0; i < a.length; i++) moved = Math.max(moved, Math.abs(a[i]! - want[i]!));
      expect(moved, 'mirror images must change some answers').to.be.above(0.05);
      // the card says one pass again: the export no longer matches it
      setFlip(false);
      let err: unknown;
      await loadClassifier({ dir: tmp, backend: 'onnx' }).catch((e: unknown) => (err = e));
      expect((err as Error).message).to.match(/stale: the card does not average mirror images, the export does/);
    });

    it('a net with a label head (10 + 3 columns): onnx and tfjs answer the ten classes and hand on the labels, each renormalised', async () => {
      const net = tf.sequential({
        layers: [
          tf.layers.flatten({ inputShape: [28, 28, 1] }),
          tf.layers.dense({ units: 13, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }),
        ],
      });
      const saved = await saveModel(net, tmp);
      const card = JSON.parse(readFileSync(join(tmp, 'model-card.json'), 'utf8'));
      card.version = saved.version;
      card.inference = { flipAverage: false };
      // one net, not the committed ensemble's members
      delete card.training.members;
      delete card.training.initFrom;
      writeFileSync(join(tmp, 'model-card.json'), JSON.stringify(card));
      await exportOnnx(tmp);
      const test = await loadFashionMnist('test');
      const n = 50;
      const px = test.images.subarray(0, n * PIXELS_PER_IMAGE);
      const rows = predictTf(net, px, n);
      net.dispose();
      for (const backend of ['onnx', 'wasm'] as const) {
        const c = await loadClassifier({ dir: tmp, backend });
        const got = await c.predict(px, n);
        const { probs, labels } = await c.predictRows(px, n);
        await c.dispose();
        expect(got.length, backend).to.equal(n * 10);
        expect(probs, backend).to.deep.equal(got);
        expect(labels!.length, backend).to.equal(n * 3);
        for (let r = 0; r < n; r++) {
          const part = rows.subarray(r * 13, r * 13 + 10);
          const sum = part.reduce((s, v) => s + v, 0);
          expect(sum, 'the labels hold some of the mass').to.be.below(0.999);
          for (let k = 0; k < 10; k++) expect(got[r * 10 + k], `${backend} row ${r}`).to.be.closeTo(part[k]! / sum, 1e-4);
          // the label part, renormalised on its own, for a policy that scores by the label head
          for (let k = 0; k < 3; k++)
            expect(labels![r * 3 + k], `${backend} label row ${r}`).to.be.closeTo(rows[r * 13 + 10 + k]! / (1 - sum), 1e-4);
        }
      }
    });

    it('a card with inference.confidenceMap: onnx and tfjs both serve the mapped confidence, with the same answers', async () => {
      copyFileSync(join(MODEL_DIR, 'model.onnx'), join(tmp, 'model.onnx'));
      const card = JSON.parse(readFileSync(join(tmp, 'model-card.json'), 'utf8'));
      const flipAverage = card.inference?.flipAverage === true;
      card.inference = { flipAverage };
      writeFileSync(join(tmp, 'model-card.json'), JSON.stringify(card));
      const test = await loadFashionMnist('test');
      const n = 300;
      const px = test.images.subarray(0, n * PIXELS_PER_IMAGE);
      const plain = await loadClassifier({ dir: tmp, backend: 'onnx' });
      const softmax = await plain.predict(px, n);
      await plain.dispose();
      // a map that lifts unsure answers and tempers sure ones, as fitted on photos
      const map = { method: 'platt-top1' as const, a: 0.6, b: 0.4 };
      card.inference = { flipAverage, confidenceMap: map };
      writeFileSync(join(tmp, 'model-card.json'), JSON.stringify(card));
      for (const backend of ['onnx', 'wasm'] as const) {
        const c = await loadClassifier({ dir: tmp, backend });
        const got = await c.predict(px, n);
        await c.dispose();
        let moved = 0;
        for (let r = 0; r < n; r++) {
          const a = argmaxRow(softmax, r);
          const b = argmaxRow(got, r);
          expect(b.index, `${backend} row ${r}`).to.equal(a.index);
          // σ(0.6·logit p + 0.4), computed here by hand
          expect(b.value, `${backend} row ${r}`).to.be.closeTo(1 / (1 + Math.exp(-(0.6 * Math.log(a.value / (1 - a.value)) + 0.4))), 1e-4);
          expect(got.subarray(r * 10, r * 10 + 10).reduce((s, v) => s + v, 0)).to.be.closeTo(1, 1e-4); // float32 rows
          moved = Math.max(moved, Math.abs(b.value - a.value));
        }
        expect(moved, 'the map must change some confidences').to.be.above(0.05);
      }
    });

    it('weights that do not match the card are refused', async () => {
      const w = readArtifacts(tmp).weights;
      w[100] = w[100]! ^ 1;
      writeWeights(tmp, w);
      let err: unknown;
      try {
        await loadClassifier({ dir: tmp, backend: 'wasm' });
      } catch (e) {
        err = e;
      }
      expect((err as Error).message).to.match(/weights hash to/);
    });
  });
});

import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PIXELS_PER_IMAGE } from '@refund-vision/shared';
import { ARCHITECTURES } from './architectures.ts';
import { initTf, tf } from './engine.ts';
import { loadFashionMnist } from './fashion-mnist.ts';
import { buildOnnxModel } from './onnx-export.ts';
import { createOnnxRunner } from './onnx-engine.ts';
import { predictTf } from './predict-tf.ts';

describe('ONNX export', () => {
  let tmp: string;
  before(async () => {
    await initTf('wasm');
    tmp = mkdtempSync(join(tmpdir(), 'rv-onnx-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  // Untrained nets with random weights: every architecture's layer kinds (valid/same padding,
  // stride-2 convs, pooling, the NHWC→NCHW flatten order) must map to the same function.
  for (const name of Object.keys(ARCHITECTURES)) {
    it(`runs the '${name}' architecture in onnxruntime with the tfjs outputs (within 1e-4)`, async () => {
      const model = ARCHITECTURES[name]!.build(11);
      // make the output layer's logits large, so a wrong pixel order shows in the probabilities
      const last = model.layers.at(-1)!;
      last.setWeights(last.getWeights().map((w) => tf.tidy(() => w.mul(20))));
      const path = join(tmp, `${name}.onnx`);
      writeFileSync(path, buildOnnxModel(model, 'test'));
      const test = await loadFashionMnist('test');
      const n = 64;
      const px = test.images.subarray(0, n * PIXELS_PER_IMAGE);
      const want = predictTf(model, px, n);
      const runner = await createOnnxRunner(path);
      const got = await runner.run(px, n);
      await runner.release();
      model.dispose();
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      expect(worst).to.be.below(1e-4);
      let spread = 0;
      for (let i = 0; i < want.length; i++) spread = Math.max(spread, want[i]!);
      expect(spread, 'test needs confident outputs to be meaningful').to.be.above(0.5);
    });
  }

  it('a net with a label head (10 + 3 columns): onnxruntime gives the tfjs rows, with and without mirror averaging', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({
          inputShape: [28, 28, 1],
          filters: 4,
          kernelSize: 3,
          activation: 'relu',
          kernelInitializer: tf.initializers.heNormal({ seed: 3 }),
        }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 13, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
      ],
    });
    const last = model.layers.at(-1)!;
    last.setWeights(last.getWeights().map((w) => tf.tidy(() => w.mul(20))));
    const test = await loadFashionMnist('test');
    const n = 32;
    const px = test.images.subarray(0, n * PIXELS_PER_IMAGE);
    for (const flipAverage of [false, true]) {
      const path = join(tmp, `label-head-${flipAverage}.onnx`);
      writeFileSync(path, buildOnnxModel(model, 'test', { flipAverage }));
      const want = predictTf(model, px, n, undefined, flipAverage);
      expect(want.length).to.equal(n * 13);
      const runner = await createOnnxRunner(path);
      const got = await runner.run(px, n);
      await runner.release();
      expect(got.length).to.equal(n * 13);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      expect(worst, `flipAverage ${flipAverage}`).to.be.below(1e-4);
    }
    model.dispose();
  });

  it('refuses a layer it cannot translate', () => {
    const model = tf.sequential({
      layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 10, activation: 'tanh' })],
    });
    expect(() => buildOnnxModel(model, 'x')).to.throw(/tanh/);
    model.dispose();
  });
});

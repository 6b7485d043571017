import { expect } from 'chai';
import { seededRandom } from '@refund-vision/shared';
import { applyTemperature, fitTemperature, foldTemperature } from './calibration.ts';
import { initTf, tf } from './engine.ts';
import { photoEce, setNll, type LabelledPhoto } from './photo-metrics.ts';
import { drawnAnswer } from './testing/drawn-answer.ts';

const K = 10;

/** A tiny dense+softmax model on 4 inputs, so folding can be checked against the logits by hand. */
function tinyModel(seed: number): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [4], units: 6, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
      tf.layers.dense({ units: K, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
}

describe('temperature scaling', () => {
  before(() => initTf('wasm'));

  it('folding 1/T into the last dense layer gives softmax(z/T), the same as applyTemperature', () => {
    const model = tinyModel(3);
    const x = tf.randomNormal([20, 4], 0, 3, 'float32', 5);
    const before = (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
    const t = 2.5;
    foldTemperature(model, t);
    const after = (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
    const expected = applyTemperature(before, t);
    for (let i = 0; i < after.length; i++) expect(after[i]).to.be.closeTo(expected[i]!, 1e-5);
    // argmax (so accuracy) is unchanged, confidence is lower for T > 1
    for (let r = 0; r < 20; r++) {
      const row = (a: Float32Array) => Array.from(a.subarray(r * K, (r + 1) * K));
      expect(row(after).indexOf(Math.max(...row(after)))).to.equal(row(before).indexOf(Math.max(...row(before))));
      expect(Math.max(...row(after))).to.be.at.most(Math.max(...row(before)) + 1e-6);
    }
    x.dispose();
    model.dispose();
  });

  /** n drawn answers (testing/drawn-answer.ts); label(y) makes the photo's class set. */
  function drawn(seed: number, n: number, spread: number, sharpen: number, label: (y: number) => number[]) {
    const rand = seededRandom(seed);
    const probs = new Float32Array(n * K);
    const photos: LabelledPhoto[] = [];
    for (let i = 0; i < n; i++) {
      const { answer, y } = drawnAnswer(rand, spread, sharpen);
      probs.set(answer, i * K);
      photos.push({ label: 'x', classes: label(y), outOfScope: false });
    }
    return { probs, photos };
  }

  it('fits T on overconfident predictions (known T = 3) and brings ECE down', () => {
    // labels drawn from softmax(z); the "model" reports softmax(3z): overconfident by T = 3
    const { probs: overconfident, photos } = drawn(11, 3000, 3, 3, (y) => [y]);
    const t = fitTemperature(overconfident, photos);
    expect(t).to.be.within(2.7, 3.3);
    const eceBefore = photoEce(overconfident, photos);
    const eceAfter = photoEce(applyTemperature(overconfident, t), photos);
    expect(eceBefore).to.be.above(0.15);
    expect(eceAfter).to.be.below(0.03);
  });

  it('calibrates the served confidence of set-labelled photos, which the set-valued loss leaves underconfident', () => {
    // calibrated probabilities softmax(z); each label is a pair set {y, y+1}: the answer is right
    // when the top class is either, so the top-1 probability undersells it
    const { probs, photos } = drawn(5, 3000, 4, 1, (y) => [y, (y + 1) % K]);
    // the temperature the set-valued loss would pick (grid), for comparison
    let setT = 1;
    let best = Infinity;
    for (let t = 0.25; t <= 4; t += 0.01) {
      const v = setNll(applyTemperature(probs, t), photos);
      if (v < best) [setT, best] = [t, v];
    }
    const t = fitTemperature(probs, photos);
    expect(t).to.be.below(setT - 0.1); // sharper: right answers deserve more confidence
    const eceSet = photoEce(applyTemperature(probs, setT), photos);
    const eceAnswer = photoEce(applyTemperature(probs, t), photos);
    // measured: set-valued T 1.04 → ECE 0.075; answer T 0.80 → ECE 0.034 (one T cannot make pairs exact)
    expect(eceSet).to.be.above(0.06);
    expect(eceAnswer).to.be.below(eceSet / 2);
  });

  it('refuses to fold into a model whose last layer is not dense+softmax', () => {
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: K, activation: 'relu' })] });
    expect(() => foldTemperature(m, 2)).to.throw(/activation is relu/);
    m.dispose();
  });
});

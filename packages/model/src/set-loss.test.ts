import { expect } from 'chai';
import { initTf, tf } from './engine.ts';
import { setValuedLoss } from './set-loss.ts';

describe('set-valued loss', () => {
  before(() => initTf('wasm'));

  it('matches hand-computed values: a set, a single class, and an out-of-scope row towards uniform', () => {
    const probs = [
      [0.1, 0.05, 0.05, 0.1, 0.1, 0.2, 0.1, 0.15, 0.05, 0.1], // Shoes: {Sandal 5, Sneaker 7, Ankle boot 9}
      [0.7, 0.05, 0.05, 0.05, 0.05, 0.02, 0.02, 0.02, 0.02, 0.02], // T-shirt: {0}
      [0.5, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05], // out of scope, weight 0.5
    ];
    const mask = [
      [0, 0, 0, 0, 0, 1, 0, 1, 0, 1],
      [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ];
    // by hand: −ln(0.2+0.15+0.1) = 0.798508; −ln 0.7 = 0.356675;
    // 0.5 · −(ln 0.5 + ln 0.1 + 8 ln 0.05)/10 = 0.5 · (0.693147 + 2.302585 + 23.965858)/10 = 1.348080
    const expected = (0.798508 + 0.356675 + 1.34808) / 3;
    const loss = setValuedLoss(tf.tensor2d(probs), tf.tensor2d(mask), tf.tensor1d([1, 1, 0]), tf.tensor1d([0, 0, 0.5]));
    expect(loss.dataSync()[0]).to.be.closeTo(expected, 1e-5);
    loss.dispose();
  });

  it('is lowest when all probability is in the set, whichever member holds it', () => {
    const mask = tf.tensor2d([[0, 0, 0, 0, 0, 1, 0, 1, 0, 1]]);
    const one = tf.tensor1d([1]);
    const zero = tf.tensor1d([0]);
    const at = (i: number) => setValuedLoss(tf.oneHot([i], 10).toFloat() as tf.Tensor2D, mask, one, zero).dataSync()[0]!;
    expect(at(5)).to.be.closeTo(0, 1e-6);
    expect(at(9)).to.be.closeTo(0, 1e-6);
    expect(at(0)).to.be.above(10); // clipped −ln(1e-7) ≈ 16.1
  });
});

import { expect } from 'chai';
import { initTf, tf } from './engine.ts';
import { splitHeads } from './label-head.ts';
import { labelHeadLoss, setValuedLoss } from './set-loss.ts';

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

  it("'max' counts the set's most probable member only, by hand; one-class and out-of-scope rows as 'sum'", () => {
    const probs = tf.tensor2d([
      [0.1, 0.05, 0.05, 0.1, 0.1, 0.2, 0.1, 0.15, 0.05, 0.1],
      [0.7, 0.05, 0.05, 0.05, 0.05, 0.02, 0.02, 0.02, 0.02, 0.02],
    ]);
    const mask = tf.tensor2d([
      [0, 0, 0, 0, 0, 1, 0, 1, 0, 1],
      [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ]);
    // by hand: −ln 0.2 = 1.609438 (the Sandal), −ln 0.7 = 0.356675
    const loss = setValuedLoss(probs, mask, tf.tensor1d([1, 1]), tf.tensor1d([0, 0]), 'max');
    expect(loss.dataSync()[0]).to.be.closeTo((1.609438 + 0.356675) / 2, 1e-5);
    tf.dispose([probs, mask, loss]);
  });

  it("'max' has a gradient on wasm that moves the probability onto the set's leading member", () => {
    const logits = tf.variable(tf.tensor2d([[0, 0, 0, 0, 0, 0.3, 0, 0.2, 0, 0.1]]));
    const mask = tf.tensor2d([[0, 0, 0, 0, 0, 1, 0, 1, 0, 1]]);
    const one = tf.tensor1d([1]);
    const zero = tf.tensor1d([0]);
    const f = () => setValuedLoss(tf.softmax(logits) as tf.Tensor2D, mask, one, zero, 'max');
    const before = f().dataSync()[0]!;
    const p0 = (tf.softmax(logits) as tf.Tensor2D).arraySync()[0]!;
    const opt = tf.train.sgd(0.5);
    for (let i = 0; i < 20; i++) opt.minimize(f);
    const p = (tf.softmax(logits) as tf.Tensor2D).arraySync()[0]!;
    expect(f().dataSync()[0]).to.be.below(before);
    // the leader gained and the other members lost ('sum' would have raised them all)
    expect(p[5]).to.be.above(p0[5]!);
    expect(p[7]).to.be.below(p0[7]!);
    expect(p[9]).to.be.below(p0[9]!);
    tf.dispose([logits, mask, one, zero]);
  });

  it('is lowest when all probability is in the set, whichever member holds it', () => {
    const mask = tf.tensor2d([[0, 0, 0, 0, 0, 1, 0, 1, 0, 1]]);
    const one = tf.tensor1d([1]);
    const zero = tf.tensor1d([0]);
    for (const mode of ['sum', 'max'] as const) {
      const at = (i: number) => setValuedLoss(tf.oneHot([i], 10).toFloat() as tf.Tensor2D, mask, one, zero, mode).dataSync()[0]!;
      expect(at(5)).to.be.closeTo(0, 1e-6);
      expect(at(9)).to.be.closeTo(0, 1e-6);
      expect(at(0)).to.be.above(10); // clipped −ln(1e-7) ≈ 16.1
    }
  });

  it('a label head: one softmax over 10 + L columns splits into two softmaxes; its loss by hand', () => {
    // logits: 10 answer classes, then 3 labels
    const logits = tf.tensor2d([[0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0.5, 0, -1]]);
    const { answers, labels } = splitHeads(tf.softmax(logits) as tf.Tensor2D);
    const [za, zl] = tf.split(logits, [10, 3], 1);
    const a = answers.dataSync();
    const sa = tf.softmax(za!).dataSync();
    for (let i = 0; i < 10; i++) expect(a[i]).to.be.closeTo(sa[i]!, 1e-6);
    const l = labels!.dataSync();
    const sl = tf.softmax(zl!).dataSync();
    for (let i = 0; i < 3; i++) expect(l[i]).to.be.closeTo(sl[i]!, 1e-6);
    // by hand: label 0 of e^0.5 / (e^0.5 + 1 + e^-1) = 1.648721 / 3.016600 = 0.546548 → −ln = 0.604133; weight 0.5
    const loss = labelHeadLoss(labels!, tf.tensor2d([[1, 0, 0]]), tf.tensor1d([0.5]));
    expect(loss.dataSync()[0]).to.be.closeTo(0.5 * 0.604133, 1e-5);
    // a model without the head: the answers are the probabilities as they are
    const plain = tf.softmax(za!) as tf.Tensor2D;
    expect(splitHeads(plain)).to.deep.equal({ answers: plain, labels: null });
    tf.dispose([logits, answers, labels!, za!, zl!, loss, plain]);
  });

  it('the label head loss has a gradient on wasm through the shared softmax, and moves only the label part', () => {
    const logits = tf.variable(tf.tensor2d([[0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0]]));
    const mask = tf.tensor2d([[0, 0, 1]]);
    const w = tf.tensor1d([1]);
    const f = () => labelHeadLoss(splitHeads(tf.softmax(logits) as tf.Tensor2D).labels!, mask, w);
    const before = f().dataSync()[0]!;
    const answers0 = splitHeads(tf.softmax(logits) as tf.Tensor2D).answers.dataSync();
    const opt = tf.train.sgd(0.5);
    for (let i = 0; i < 10; i++) opt.minimize(f);
    expect(f().dataSync()[0]).to.be.below(before - 0.3);
    const answers = splitHeads(tf.softmax(logits) as tf.Tensor2D).answers.dataSync();
    for (let i = 0; i < 10; i++) expect(answers[i]).to.be.closeTo(answers0[i]!, 1e-5);
    tf.dispose([logits, mask, w]);
  });
});

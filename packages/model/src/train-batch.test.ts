import { expect } from 'chai';
import { initTf, tf } from './engine.ts';
import { splitHeads } from './label-head.ts';
import { labelHeadLoss, setValuedLoss } from './set-loss.ts';
import { labelColumns } from './label-head.ts';
import { batchLoss, newBatch } from './train-batch.ts';

/** A tiny net on the 28×28 input with `outputs` softmax columns. */
function tinyNet(outputs: number): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [28, 28, 1] }),
      tf.layers.dense({ units: outputs, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 7 }) }),
    ],
  });
}

describe('training batch loss', () => {
  before(() => initTf('wasm'));

  /** Two rows: a Fashion-MNIST T-shirt (no label) and a Shoes photo with label 1 of 3, at weight 0.5. */
  function fill(labels: number) {
    const b = newBatch(2, false, labels);
    for (let i = 0; i < b.x.length; i++) b.x[i] = ((i * 37) % 255) / 255;
    b.mask[0] = 1; // T-shirt
    for (const c of [5, 7, 9]) b.mask[10 + c] = 1;
    b.setW.set([1, 1]);
    if (labels) {
      b.labelMask[labels + 1] = 1;
      b.labelW.set([0, 0.5]);
    }
    return b;
  }

  it('without a label head: the set-valued loss of the softmax, as before', () => {
    const net = tinyNet(10);
    const b = fill(0);
    expect(labelColumns(net)).to.equal(0);
    const probs = net.predict(tf.tensor4d(b.x, [2, 28, 28, 1])) as tf.Tensor2D;
    const expected = setValuedLoss(probs, tf.tensor2d(b.mask, [2, 10]), tf.tensor1d(b.setW), tf.tensor1d(b.uniW)).dataSync()[0]!;
    expect(batchLoss(net, b, 0, 2, 'sum').dataSync()[0]).to.be.closeTo(expected, 1e-6);
    net.dispose();
  });

  it('with a label head (10 + 3 columns): the answers renormalised plus the label loss on the labelled row', () => {
    const net = tinyNet(13);
    const b = fill(3);
    expect(labelColumns(net)).to.equal(3);
    const { answers, labels } = splitHeads(net.predict(tf.tensor4d(b.x, [2, 28, 28, 1])) as tf.Tensor2D);
    const setTerm = setValuedLoss(answers, tf.tensor2d(b.mask, [2, 10]), tf.tensor1d(b.setW), tf.tensor1d(b.uniW)).dataSync()[0]!;
    const l = labels!.arraySync();
    // by hand from the label probabilities: only row 1 counts, −0.5 · ln p(label 1), averaged over 2 rows
    const labelTerm = (0.5 * -Math.log(l[1]![1]!)) / 2;
    expect(labelHeadLoss(labels!, tf.tensor2d(b.labelMask, [2, 3]), tf.tensor1d(b.labelW)).dataSync()[0]).to.be.closeTo(labelTerm, 1e-6);
    expect(batchLoss(net, b, 0, 2, 'sum').dataSync()[0]).to.be.closeTo(setTerm + labelTerm, 1e-5);
    // a batch made for another head width is refused, not silently misread
    expect(() => batchLoss(net, fill(0), 0, 2, 'sum')).to.throw(/13 columns.*10 classes \+ 0 labels/);
    net.dispose();
  });
});

/**
 * The training loss for a mix of Fashion-MNIST images and real photos, per example:
 *   in scope (label = a SET S of classes, one class for Fashion-MNIST):
 *     'sum': w · −log Σ_{c∈S} p_c        'max': w · −log max_{c∈S} p_c
 *   out of scope (no Fashion-MNIST class):  w · −(1/K) Σ_c log p_c
 * Both in-scope forms accept any class of the set (a "Shoes" photo is right as Sandal, Sneaker or
 * Ankle boot) and are the usual cross-entropy for a one-class set. 'sum' is content with the
 * probability spread over the set; 'max' rewards putting it on ONE member, so the top-1
 * probability (what the API reports as confidence) stays calibrated on set-labelled photos: with
 * 'sum', a Longsleeve answered "Shirt 0.45, T-shirt 0.3, Pullover 0.2" is right every time at a
 * reported 0.45 (measured in a PyTorch probe of the same net: photo ECE 0.093 with 'sum', 0.053
 * with 'max' after the same 2 epochs). The out-of-scope term is the cross-entropy to the uniform
 * distribution: the model learns to spread its probability on items it has no class for.
 */
import { tf } from './engine.ts';

const EPS = 1e-7;

export type SetLossMode = 'sum' | 'max';

/**
 * Mean loss over the batch. probs: [n, K] softmax output; mask: [n, K] 1 for the classes of the
 * example's set (all 0 for out-of-scope); setWeight / uniformWeight: [n] weights of the two terms
 * (an example uses one of them, the other is 0); mode: how a set's probabilities count (see above).
 */

export function setValuedLoss(
  probs: tf.Tensor2D,
  mask: tf.Tensor2D,
  setWeight: tf.Tensor1D,
  uniformWeight: tf.Tensor1D,
  mode: SetLossMode = 'sum',
): tf.Scalar {
  return tf.tidy(() => {
    const p = probs.clipByValue(EPS, 1);
    // an out-of-scope row has an empty mask: its set term is EPS, weighted 0
    const inSet = (mode === 'sum' ? tf.sum(tf.mul(p, mask), 1) : tf.max(tf.mul(p, mask), 1)).clipByValue(EPS, 1);
    const setTerm = tf.neg(tf.log(inSet));
    const uniformTerm = tf.neg(tf.mean(tf.log(p), 1));
    return tf.mean(tf.add(tf.mul(setTerm, setWeight), tf.mul(uniformTerm, uniformWeight))) as tf.Scalar;
  });
}

/**
 * The label head's loss: w · −log p_label per row (labelMask one-hot over the L labels; rows without a
 * label, such as Fashion-MNIST images, have weight 0), averaged over the whole batch.
 */
export function labelHeadLoss(labelProbs: tf.Tensor2D, labelMask: tf.Tensor2D, labelWeight: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const p = tf.sum(tf.mul(labelProbs.clipByValue(EPS, 1), labelMask), 1).clipByValue(EPS, 1);
    return tf.mean(tf.mul(tf.neg(tf.log(p)), labelWeight)) as tf.Scalar;
  });
}

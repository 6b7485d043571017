/**
 * The training loss for a mix of Fashion-MNIST images and real photos, per example:
 *   in scope (label = a SET S of classes, one class for Fashion-MNIST):  w · −log Σ_{c∈S} p_c
 *   out of scope (no Fashion-MNIST class):                                w · −(1/K) Σ_c log p_c
 * The first accepts any class of the set (a "Shoes" photo is right as Sandal, Sneaker or Ankle
 * boot); for a one-class set it is the usual cross-entropy. The second is the cross-entropy to the
 * uniform distribution: the model learns to spread its probability on items it has no class for.
 */
import { tf } from './engine.ts';

const EPS = 1e-7;

/**
 * Mean loss over the batch. probs: [n, K] softmax output; mask: [n, K] 1 for the classes of the
 * example's set (all 0 for out-of-scope); setWeight / uniformWeight: [n] weights of the two terms
 * (an example uses one of them, the other is 0).
 */
export function setValuedLoss(probs: tf.Tensor2D, mask: tf.Tensor2D, setWeight: tf.Tensor1D, uniformWeight: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const p = probs.clipByValue(EPS, 1);
    const inSet = tf.sum(tf.mul(p, mask), 1).clipByValue(EPS, 1);
    const setTerm = tf.neg(tf.log(inSet));
    const uniformTerm = tf.neg(tf.mean(tf.log(p), 1));
    return tf.mean(tf.add(tf.mul(setTerm, setWeight), tf.mul(uniformTerm, uniformWeight))) as tf.Scalar;
  });
}

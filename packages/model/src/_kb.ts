import { initTf, tf } from './engine.ts';
await initTf('wasm');
const cases = [
  { name: 'deep conv2', x: [64, 14, 14, 32], f: [3, 3, 32, 64], pad: 'same' },
  { name: 'deep conv3', x: [64, 7, 7, 64], f: [3, 3, 64, 128], pad: 'same' },
  { name: 'ref conv2', x: [64, 13, 13, 32], f: [3, 3, 32, 64], pad: 'valid' },
  { name: 'deep conv1', x: [64, 28, 28, 1], f: [3, 3, 1, 32], pad: 'same' },
];
const time = (fn: () => tf.Tensor, reps = 10) => { for (let i = 0; i < 2; i++) fn().dispose(); const t = performance.now(); for (let i = 0; i < reps; i++) fn().dispose(); return ((performance.now() - t) / reps).toFixed(2); };
for (const c of cases) {
  const x = tf.randomNormal(c.x); const f = tf.randomNormal(c.f);
  const y = tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, c.pad as 'same');
  const dy = tf.randomNormal(y.shape);
  const fwd = time(() => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, c.pad as 'same'));
  const bf = time(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: [1, 1], pad: c.pad, dataFormat: 'NHWC', filterShape: c.f }) as tf.Tensor);
  const bi = time(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: f }, { strides: [1, 1], pad: c.pad, dataFormat: 'NHWC', inputShape: c.x }) as tf.Tensor);
  const M = c.x[0]! * y.shape[1]! * y.shape[2]!; const K = 9 * c.f[2]!; const Co = c.f[3]!;
  const a = tf.randomNormal([1, K, M]); const b = tf.randomNormal([1, M, Co]);
  const g1 = time(() => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D));
  const a2 = tf.randomNormal([1, M, Co]); const b2 = tf.randomNormal([1, Co, K]);
  const g2 = time(() => tf.matMul(a2 as tf.Tensor3D, b2 as tf.Tensor3D));
  const mp = y.shape[1]! % 2 === 0 ? time(() => tf.engine().runKernel('MaxPoolGrad', { dy: tf.maxPool(y as tf.Tensor4D, 2, 2, 'valid'), input: y, output: tf.maxPool(y as tf.Tensor4D, 2, 2, 'valid') }, { filterSize: [2, 2], strides: [2, 2], pad: 'valid' }) as tf.Tensor) : '-';
  console.log(c.name, 'fwd', fwd, 'bFilter', bf, `(gemm ${K}x${M}x${Co} ${g1})`, 'bInput', bi, `(gemm ${M}x${Co}x${K} ${g2})`, 'mpgrad(incl 2 fwd pools)', mp);
}

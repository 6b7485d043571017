import { expect } from 'chai';
import { initTf, tf } from './engine.ts';

/** Deterministic pseudo-random floats in [-1, 1). */
function randoms(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Runs one kernel on a backend with fresh tensors built from plain arrays. */
async function runOn(backend: string, kernel: string, inputs: Record<string, [Float32Array, number[]]>, attrs: Record<string, unknown>) {
  await tf.setBackend(backend);
  const ts: Record<string, tf.Tensor> = {};
  for (const [k, [data, shape]] of Object.entries(inputs)) ts[k] = tf.tensor(data, shape);
  const out = tf.engine().runKernel(kernel, ts as any, attrs as any) as tf.Tensor;
  const res = { shape: out.shape, data: (await out.data()) as Float32Array };
  tf.dispose([out, ...Object.values(ts)]);
  return res;
}

async function compare(kernel: string, inputs: Record<string, [Float32Array, number[]]>, attrs: Record<string, unknown>) {
  const want = await runOn('cpu', kernel, inputs, attrs);
  const got = await runOn('wasm', kernel, inputs, attrs);
  expect(got.shape).to.deep.equal(want.shape);
  let scale = 1e-6;
  for (const v of want.data) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < want.data.length; i++) worst = Math.max(worst, Math.abs(got.data[i]! - want.data[i]!));
  expect(worst / scale, `${kernel} ${JSON.stringify(attrs)}`).to.be.below(1e-5);
}

const cases = [
  { pad: 'valid', stride: 1 },
  { pad: 'same', stride: 1 },
  { pad: 'valid', stride: 2 },
  { pad: 'same', stride: 2 },
] as const;

describe('wasm gradient kernels match the cpu backend', () => {
  before(async () => {
    await initTf('wasm');
  });
  after(async () => {
    await tf.setBackend('wasm');
  });

  for (const { pad, stride } of cases) {
    const x: [Float32Array, number[]] = [randoms(3 * 11 * 10 * 4, 1), [3, 11, 10, 4]];
    const filterShape = [3, 3, 4, 5];
    const info = tf.backend_util.computeConv2DInfo([3, 11, 10, 4], [3, 3, 4, 5], stride, 1, pad);
    const dyShape = [3, info.outHeight, info.outWidth, 5];
    const dy: [Float32Array, number[]] = [
      randoms(
        dyShape.reduce((a, b) => a * b),
        2,
      ),
      dyShape,
    ];
    const attrs = { strides: [stride, stride], pad, dataFormat: 'NHWC', dimRoundingMode: undefined };

    it(`Conv2DBackpropFilter, ${pad} padding, stride ${stride}`, async () => {
      await compare('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape });
    });
    it(`Conv2DBackpropInput, ${pad} padding, stride ${stride}`, async () => {
      const filter: [Float32Array, number[]] = [randoms(3 * 3 * 4 * 5, 3), filterShape];
      await compare('Conv2DBackpropInput', { dy, filter }, { ...attrs, inputShape: [3, 11, 10, 4] });
    });
    it(`MaxPoolGrad 2×2/3×3, ${pad} padding, stride ${stride}`, async () => {
      for (const size of [2, 3]) {
        const p = tf.backend_util.computePool2DInfo([3, 11, 10, 4], size, stride, 1, pad);
        const shape = [3, p.outHeight, p.outWidth, 4];
        const pdy: [Float32Array, number[]] = [
          randoms(
            shape.reduce((a, b) => a * b),
            4,
          ),
          shape,
        ];
        // the cpu kernel also wants the forward output; compute it once on cpu
        await tf.setBackend('cpu');
        const fwd = tf.maxPool(tf.tensor4d(x[0], [3, 11, 10, 4]), size, stride, pad);
        const output: [Float32Array, number[]] = [(await fwd.data()) as Float32Array, fwd.shape];
        fwd.dispose();
        await compare('MaxPoolGrad', { dy: pdy, input: x, output }, { filterSize: [size, size], strides: [stride, stride], pad });
      }
    });
  }

  for (const [ta, tb] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    it(`BatchMatMul transposeA=${ta} transposeB=${tb}`, async () => {
      const a: [Float32Array, number[]] = [randoms(2 * 7 * 5, 5), ta ? [2, 5, 7] : [2, 7, 5]];
      const b: [Float32Array, number[]] = [randoms(2 * 5 * 6, 6), tb ? [2, 6, 5] : [2, 5, 6]];
      await compare('BatchMatMul', { a, b }, { transposeA: ta, transposeB: tb });
    });
  }

  for (const [axis, keepDims] of [
    [[0, 1, 2], false],
    [[2, 0, 1], true],
    [[1, 2], false],
    [[3], false],
    [[0], true],
  ] as const) {
    it(`Sum over axes ${JSON.stringify(axis)} keepDims=${keepDims}`, async () => {
      await compare('Sum', { x: [randoms(3 * 5 * 4 * 6, 8), [3, 5, 4, 6]] }, { axis, keepDims });
    });
  }

  it('trains a small conv net on wasm (gradients flow through every overridden kernel)', async () => {
    await tf.setBackend('wasm');
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu' }),
        tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 2, activation: 'softmax' }),
      ],
    });
    model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
    const xs = tf.tensor4d(randoms(16 * 64, 7), [16, 8, 8, 1]);
    const ys = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: 16 }, (_, i) => i % 2),
        'int32',
      ),
      2,
    );
    const first = (await model.trainOnBatch(xs, ys)) as number;
    let last = first;
    for (let i = 0; i < 30; i++) last = (await model.trainOnBatch(xs, ys)) as number;
    expect(last).to.be.below(first * 0.8);
    tf.dispose([xs, ys]);
    model.dispose();
  });
});

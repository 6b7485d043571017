/**
 * Gradient kernels for the wasm backend, so a conv net trains on it at a usable speed:
 *  - Conv2DBackpropFilter: missing from tfjs-backend-wasm; im2col in JS, then wasm's own
 *    BatchMatMul WITHOUT transpose flags (~15× faster than with them on this build).
 *  - Conv2DBackpropInput: wasm's own takes ~90 ms a call; GEMM + col2im is far cheaper.
 *  - MaxPoolGrad: one pass over the windows in JS.
 *  - BatchMatMul with transposeA/transposeB: transpose in JS, then the untransposed wasm GEMM.
 *  - Sum over all leading axes (bias gradients): one JS pass instead of transpose + reduce.
 * Heap views go stale when the wasm heap grows, so each view is taken after the last allocation.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Info = tf.TensorInfo;
type KernelArgs = { inputs: Record<string, Info>; backend: BackendWasm; attrs: Record<string, any> };
type KernelFn = (args: KernelArgs) => Info;

const F32 = 'float32' as const;

function view(backend: BackendWasm, t: Info): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

function convInfo(xShape: number[], filterShape: number[], attrs: Record<string, any>) {
  const fmt = tf.backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC');
  if (fmt !== 'channelsLast') throw new Error('wasm conv gradients support NHWC only');
  const dil = attrs.dilations ?? 1;
  if (!(dil === 1 || (Array.isArray(dil) && dil.every((d: number) => d === 1))))
    throw new Error('wasm conv gradients support dilation 1 only');
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    fmt,
  );
}

/** Conv geometry with short names; K = rows of the im2col matrix, M = output positions. */
function convDims(xShape: number[], filterShape: number[], attrs: Record<string, any>) {
  const c = convInfo(xShape, filterShape, attrs);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: Ci, outHeight: OH, outWidth: OW, outChannels: Co } = c;
  const { filterHeight: FH, filterWidth: FW, strideHeight: SH, strideWidth: SW } = c;
  return { N, H, W, Ci, OH, OW, Co, FH, FW, SH, SW, top: c.padInfo.top, left: c.padInfo.left, K: FH * FW * Ci, M: N * OH * OW };
}

let baseMatMul: KernelFn | undefined;

/** wasm GEMM on rank-3 float32 tensors, no transposes: [B,m,k]·[B,k,n] → [B,m,n]. */
function gemm(backend: BackendWasm, a: Info, b: Info): Info {
  return baseMatMul!({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } });
}

/** Same data, another shape (wasm tensors are flat buffers; the callee never frees the view). */
const as = (t: Info, shape: number[]): Info => ({ dataId: t.dataId, shape, dtype: t.dtype });

export function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): Info {
  const { x, dy } = inputs as { x: Info; dy: Info };
  const { N, H, W, Ci, OH, OW, Co, FH, FW, SH, SW, top, left, K, M } = convDims(x.shape, attrs.filterShape, attrs);
  const cols = backend.makeOutput([1, K, M], F32);
  const xv = view(backend, x);
  const cv = view(backend, cols);
  for (let fy = 0; fy < FH; fy++) {
    for (let fx = 0; fx < FW; fx++) {
      for (let ci = 0; ci < Ci; ci++) {
        let o = ((fy * FW + fx) * Ci + ci) * M;
        for (let n = 0; n < N; n++) {
          for (let oy = 0; oy < OH; oy++) {
            const iy = oy * SH + fy - top;
            if (iy < 0 || iy >= H) {
              cv.fill(0, o, o + OW);
              o += OW;
              continue;
            }
            const base = (n * H + iy) * W * Ci + ci;
            for (let ox = 0; ox < OW; ox++) {
              const ix = ox * SW + fx - left;
              cv[o++] = ix >= 0 && ix < W ? xv[base + ix * Ci]! : 0;
            }
          }
        }
      }
    }
  }
  const out = gemm(backend, cols, as(dy, [1, M, Co]));
  backend.disposeData(cols.dataId);
  out.shape = [FH, FW, Ci, Co];
  return out;
}

export function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs): Info {
  const { dy, filter } = inputs as { dy: Info; filter: Info };
  const { N, H, W, Ci, OH, OW, Co, FH, FW, SH, SW, top, left, K, M } = convDims(attrs.inputShape, filter.shape, attrs);
  // filter [K, Co] → [Co, K], so the GEMM needs no transpose flag.
  const wt = backend.makeOutput([1, Co, K], F32);
  {
    const fv = view(backend, filter);
    const tv = view(backend, wt);
    for (let k = 0; k < K; k++) for (let co = 0; co < Co; co++) tv[co * K + k] = fv[k * Co + co]!;
  }
  const g = gemm(backend, as(dy, [1, M, Co]), wt);
  backend.disposeData(wt.dataId);
  const dx = backend.makeOutput([N, H, W, Ci], F32);
  const gv = view(backend, g);
  const dv = view(backend, dx);
  dv.fill(0);
  let m = 0;
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++, m++) {
        const gRow = m * K;
        for (let fy = 0; fy < FH; fy++) {
          const iy = oy * SH + fy - top;
          if (iy < 0 || iy >= H) continue;
          for (let fx = 0; fx < FW; fx++) {
            const ix = ox * SW + fx - left;
            if (ix < 0 || ix >= W) continue;
            const d = ((n * H + iy) * W + ix) * Ci;
            const s = gRow + (fy * FW + fx) * Ci;
            for (let ci = 0; ci < Ci; ci++) dv[d + ci]! += gv[s + ci]!;
          }
        }
      }
    }
  }
  backend.disposeData(g.dataId);
  return dx;
}

export function maxPoolGrad({ inputs, backend, attrs }: KernelArgs): Info {
  const { dy, input } = inputs as { dy: Info; input: Info };
  const c = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = c;
  const { filterHeight: FH, filterWidth: FW, strideHeight: SH, strideWidth: SW } = c;
  const top = c.padInfo.top;
  const left = c.padInfo.left;
  const dx = backend.makeOutput(input.shape, F32);
  const xv = view(backend, input);
  const gv = view(backend, dy);
  const dv = view(backend, dx);
  dv.fill(0);
  const best = new Float32Array(C);
  const arg = new Int32Array(C);
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++, o += C) {
        best.fill(-Infinity);
        arg.fill(-1);
        for (let fy = 0; fy < FH; fy++) {
          const iy = oy * SH + fy - top;
          if (iy < 0 || iy >= H) continue;
          for (let fx = 0; fx < FW; fx++) {
            const ix = ox * SW + fx - left;
            if (ix < 0 || ix >= W) continue;
            const base = ((n * H + iy) * W + ix) * C;
            for (let ch = 0; ch < C; ch++) {
              const v = xv[base + ch]!;
              if (v > best[ch]! || arg[ch] === -1) {
                best[ch] = v;
                arg[ch] = base + ch;
              }
            }
          }
        }
        for (let ch = 0; ch < C; ch++) if (arg[ch]! >= 0) dv[arg[ch]!]! += gv[o + ch]!;
      }
    }
  }
  return dx;
}

/** A rank-3 copy of t with its last two axes swapped. */
function transposed(backend: BackendWasm, t: Info): Info {
  const r = t.shape.length;
  const rows = t.shape[r - 2]!;
  const cols = t.shape[r - 1]!;
  const batch = t.shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const out = backend.makeOutput([batch, cols, rows], F32);
  const src = view(backend, t);
  const dst = view(backend, out);
  for (let b = 0; b < batch; b++) {
    const off = b * rows * cols;
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) dst[off + j * rows + i] = src[off + i * cols + j]!;
  }
  return out;
}

export function batchMatMul(args: KernelArgs): Info {
  const { inputs, backend, attrs } = args;
  if (!attrs.transposeA && !attrs.transposeB) return baseMatMul!(args);
  const { a, b } = inputs as { a: Info; b: Info };
  if (a.dtype !== F32 || b.dtype !== F32) return baseMatMul!(args);
  const at = attrs.transposeA ? transposed(backend, a) : a;
  const bt = attrs.transposeB ? transposed(backend, b) : b;
  const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const out = baseMatMul!({ inputs: { a: at, b: bt }, backend, attrs: { transposeA: false, transposeB: false } });
  if (at !== a) backend.disposeData(at.dataId);
  if (bt !== b) backend.disposeData(bt.dataId);
  out.shape = [...outer, out.shape.at(-2)!, out.shape.at(-1)!];
  return out;
}

let baseSum: KernelFn | undefined;

/**
 * Sum over every axis but the last (a conv bias gradient): one pass in JS, where wasm's Sum would
 * first transpose the whole tensor. Other reductions go to wasm's own kernel.
 */
export function sumLeading(args: KernelArgs): Info {
  const { inputs, backend, attrs } = args;
  const x = inputs.x!;
  const r = x.shape.length;
  const axes = tf.util.parseAxisParam(attrs.axis, x.shape).sort((a, b) => a - b);
  const leading = r >= 2 && axes.length === r - 1 && axes.every((a, i) => a === i);
  if (!leading || x.dtype !== F32) return baseSum!(args);
  const C = x.shape[r - 1]!;
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const out = backend.makeOutput(attrs.keepDims ? [...new Array(r - 1).fill(1), C] : [C], F32);
  const xv = view(backend, x);
  const acc = new Float64Array(C);
  for (let i = 0, o = 0; i < rows; i++, o += C) for (let ch = 0; ch < C; ch++) acc[ch]! += xv[o + ch]!;
  view(backend, out).set(acc);
  return out;
}

let registered = false;

/** Installs the kernels above for backend 'wasm' (idempotent; call after the backend is ready). */
export function registerWasmKernels(): void {
  if (registered) return;
  const base = tf.getKernel('BatchMatMul', 'wasm');
  if (!base) throw new Error('wasm backend has no BatchMatMul kernel: is @tensorflow/tfjs-backend-wasm loaded?');
  baseMatMul = base.kernelFunc as unknown as KernelFn;
  baseSum = tf.getKernel('Sum', 'wasm')!.kernelFunc as unknown as KernelFn;
  const mine: Array<[string, KernelFn]> = [
    ['Conv2DBackpropFilter', conv2DBackpropFilter],
    ['Conv2DBackpropInput', conv2DBackpropInput],
    ['MaxPoolGrad', maxPoolGrad],
    ['BatchMatMul', batchMatMul],
    ['Sum', sumLeading],
  ];
  for (const [name, fn] of mine) {
    if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: fn as unknown as tf.KernelFunc });
  }
  registered = true;
}

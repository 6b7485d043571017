/**
 * Writes model.onnx (opset 13, NCHW) from the trained tfjs layers model, so onnxruntime-node can
 * serve it. The graph takes raw pixel values (float 0–255, N×784) and includes the /255 scaling and
 * the softmax, so its output equals the tfjs model's. Supports the layer kinds our architectures
 * use: Conv2D (valid/same, any stride), MaxPooling2D, Flatten, Dense, Dropout (dropped).
 * Afterwards model-card.json records the file's hash and the weights it came from.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import onnxProto from 'onnx-proto';
import { NUM_CLASSES, PIXELS_PER_IMAGE } from '@refund-vision/shared';
import { labelColumns } from './label-head.ts';
import { ONNX_FILE, readCard } from './classifier.ts';
import { initTf, tf } from './engine.ts';
import { loadModel } from './io.ts';
import { shortSha256 } from './model-files.ts';
import { ONNX_INPUT, ONNX_OUTPUT } from './onnx-engine.ts';

const { onnx } = onnxProto;
type Node = InstanceType<typeof onnx.NodeProto>;
type Tensor = InstanceType<typeof onnx.TensorProto>;

const AT = onnx.AttributeProto.AttributeType;
const ints = (name: string, v: number[]) => onnx.AttributeProto.create({ name, type: AT.INTS, ints: v });
const int = (name: string, v: number) => onnx.AttributeProto.create({ name, type: AT.INT, i: v });

function floatTensor(name: string, dims: number[], data: Float32Array): Tensor {
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)),
  });
}
function int64Tensor(name: string, data: number[]): Tensor {
  const buf = new BigInt64Array(data.map((v) => BigInt(v)));
  return onnx.TensorProto.create({
    name,
    dims: [data.length],
    dataType: onnx.TensorProto.DataType.INT64,
    rawData: new Uint8Array(buf.buffer),
  });
}

/** TF 'same' padding: total = max((out-1)·stride + k - in, 0), the extra pixel at the end. */
function samePads(inSize: number, k: number, stride: number): [number, number] {
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + k - inSize, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/**
 * The most groups G (dividing both channel counts) for which every weight between an input block and
 * another group's output block is exactly zero; 1 when there is no such structure. Layout
 * [co][ci][k] (an OIHW conv kernel); a dense kernel [nIn][nOut] is the same test with co = nIn,
 * ci = nOut, k = 1 (the block condition is symmetric).
 */
export function convGroups(oihw: Float32Array, co: number, ci: number, k: number): number {
  for (let g = Math.min(co, ci); g > 1; g--) {
    if (co % g || ci % g) continue;
    const gi = ci / g;
    const go = co / g;
    let zero = true;
    for (let o = 0; o < co && zero; o++)
      for (let a = 0; a < ci && zero; a++)
        if (Math.floor(o / go) !== Math.floor(a / gi))
          for (let t = 0; t < k; t++)
            if (oihw[(o * ci + a) * k + t] !== 0) {
              zero = false;
              break;
            }
    if (zero) return g;
  }
  return 1;
}

/** The diagonal blocks of an OIHW kernel as ONNX's grouped layout [co, ci/G, kh, kw]. */
function groupedKernel(oihw: Float32Array, co: number, ci: number, k: number, g: number): Float32Array {
  const gi = ci / g;
  const go = co / g;
  const out = new Float32Array(co * gi * k);
  for (let o = 0; o < co; o++) {
    const first = Math.floor(o / go) * gi;
    out.set(oihw.subarray((o * ci + first) * k, (o * ci + first + gi) * k), o * gi * k);
  }
  return out;
}

export interface OnnxBuildOptions {
  /** The card's inference.flipAverage: the graph runs each image and its mirror image and averages their logits. */
  flipAverage?: boolean;
}

export function buildOnnxModel(model: tf.LayersModel, version: string, opts: OnnxBuildOptions = {}): Uint8Array {
  const nodes: Node[] = [];
  const inits: Tensor[] = [];
  // 10 answer classes, or 10 + L with a label head (label-head.ts): one softmax either way
  const width = labelColumns(model) + NUM_CLASSES;
  let cur = 'scaled';
  let h = 28;
  let w = 28;
  let c = 1;
  let flat = false;
  inits.push(floatTensor('c255', [], new Float32Array([255])), int64Tensor('nchw_shape', [-1, 1, 28, 28]));
  nodes.push(onnx.NodeProto.create({ opType: 'Reshape', input: [ONNX_INPUT, 'nchw_shape'], output: ['img'], name: 'to_nchw' }));
  nodes.push(onnx.NodeProto.create({ opType: 'Div', input: ['img', 'c255'], output: [cur], name: 'scale' }));
  if (opts.flipAverage) {
    // [x; mirror(x)] along the batch axis: a Slice with step −1 over the width axis mirrors
    inits.push(
      int64Tensor('flip_starts', [-1]),
      int64Tensor('flip_ends', [-(2 ** 53)]),
      int64Tensor('flip_axes', [3]),
      int64Tensor('flip_steps', [-1]),
      int64Tensor('pair_shape', [2, -1, width]),
    );
    nodes.push(
      onnx.NodeProto.create({
        opType: 'Slice',
        input: [cur, 'flip_starts', 'flip_ends', 'flip_axes', 'flip_steps'],
        output: ['mirrored'],
        name: 'mirror',
      }),
      onnx.NodeProto.create({ opType: 'Concat', input: [cur, 'mirrored'], output: ['both'], name: 'pair', attribute: [int('axis', 0)] }),
    );
    cur = 'both';
  }
  let i = 0;
  const next = (tag: string) => `${tag}_${++i}`;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as Record<string, any>;
    const activation = cfg.activation as string | undefined;
    if (cls === 'Conv2D') {
      const [kernel, bias] = layer.getWeights();
      const [kh, kw, ci, co] = kernel!.shape as [number, number, number, number];
      const kv = kernel!.dataSync() as Float32Array;
      const oihw = new Float32Array(kv.length);
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++)
          for (let a = 0; a < ci; a++)
            for (let o = 0; o < co; o++) oihw[((o * ci + a) * kh + y) * kw + x] = kv[((y * kw + x) * ci + a) * co + o]!;
      // An ensemble (ensemble.ts) holds its members in block-diagonal kernels: a grouped convolution
      // computes the same without multiplying the zero blocks (M members: M× the work instead of M²).
      const group = convGroups(oihw, co, ci, kh * kw);
      const grouped = group > 1 ? groupedKernel(oihw, co, ci, kh * kw, group) : oihw;
      const [sh, sw] = cfg.strides as [number, number];
      const same = cfg.padding === 'same';
      const [pt, pb] = same ? samePads(h, kh, sh) : [0, 0];
      const [pl, pr] = same ? samePads(w, kw, sw) : [0, 0];
      const wName = next('W');
      const bName = next('B');
      inits.push(
        floatTensor(wName, [co, ci / group, kh, kw], grouped),
        floatTensor(bName, [co], bias ? (bias.dataSync() as Float32Array) : new Float32Array(co)),
      );
      const out = next('conv');
      nodes.push(
        onnx.NodeProto.create({
          opType: 'Conv',
          input: [cur, wName, bName],
          output: [out],
          name: out,
          attribute: [
            ints('kernel_shape', [kh, kw]),
            ints('strides', [sh, sw]),
            ints('pads', [pt, pl, pb, pr]),
            ints('dilations', [1, 1]),
            int('group', group),
          ],
        }),
      );
      cur = out;
      h = Math.floor((h + pt + pb - kh) / sh) + 1;
      w = Math.floor((w + pl + pr - kw) / sw) + 1;
      c = co;
    } else if (cls === 'MaxPooling2D') {
      const [ph, pw] = cfg.poolSize as [number, number];
      const [sh, sw] = (cfg.strides ?? cfg.poolSize) as [number, number];
      const same = cfg.padding === 'same';
      const [pt, pb] = same ? samePads(h, ph, sh) : [0, 0];
      const [pl, pr] = same ? samePads(w, pw, sw) : [0, 0];
      const out = next('pool');
      nodes.push(
        onnx.NodeProto.create({
          opType: 'MaxPool',
          input: [cur],
          output: [out],
          name: out,
          attribute: [ints('kernel_shape', [ph, pw]), ints('strides', [sh, sw]), ints('pads', [pt, pl, pb, pr])],
        }),
      );
      cur = out;
      h = Math.floor((h + pt + pb - ph) / sh) + 1;
      w = Math.floor((w + pl + pr - pw) / sw) + 1;
    } else if (cls === 'Flatten') {
      const out = next('flat');
      nodes.push(onnx.NodeProto.create({ opType: 'Flatten', input: [cur], output: [out], name: out, attribute: [int('axis', 1)] }));
      cur = out;
      flat = true;
    } else if (cls === 'Dense') {
      if (!flat) throw new Error('onnx export: Dense before Flatten is not supported');
      const [kernel, bias] = layer.getWeights();
      const [nIn, nOut] = kernel!.shape as [number, number];
      let kv = kernel!.dataSync() as Float32Array;
      if (h * w * c === nIn && (h > 1 || w > 1) && c > 1) {
        // tfjs flattened NHWC (h, w, c); ONNX flattens NCHW (c, h, w): permute the weight rows.
        const perm = new Float32Array(kv.length);
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++)
            for (let a = 0; a < c; a++)
              perm.set(kv.subarray(((y * w + x) * c + a) * nOut, ((y * w + x) * c + a + 1) * nOut), ((a * h + y) * w + x) * nOut);
        kv = perm;
      }
      h = 1;
      w = 1;
      c = nOut;
      const wName = next('W');
      const bName = next('B');
      const biasData = bias ? (bias.dataSync() as Float32Array) : new Float32Array(nOut);
      // An ensemble's dense layers are block-diagonal too (NCHW flattening keeps each member's
      // channels together): G matrix products on [G, N, nIn/G] store and multiply only the blocks.
      const group = convGroups(kv, nIn, nOut, 1);
      const out = next('dense');
      if (group === 1) {
        inits.push(floatTensor(wName, [nIn, nOut], kv), floatTensor(bName, [nOut], biasData));
        nodes.push(onnx.NodeProto.create({ opType: 'Gemm', input: [cur, wName, bName], output: [out], name: out }));
      } else {
        const gi = nIn / group;
        const go = nOut / group;
        const blocks = new Float32Array(group * gi * go);
        for (let g = 0; g < group; g++)
          for (let r = 0; r < gi; r++)
            blocks.set(kv.subarray((g * gi + r) * nOut + g * go, (g * gi + r) * nOut + (g + 1) * go), (g * gi + r) * go);
        const [inShape, outShape] = [next('shape'), next('shape')];
        inits.push(
          floatTensor(wName, [group, gi, go], blocks),
          floatTensor(bName, [nOut], biasData),
          int64Tensor(inShape, [-1, group, gi]),
          int64Tensor(outShape, [-1, nOut]),
        );
        const t = (tag: string) => `${out}_${tag}`;
        nodes.push(
          onnx.NodeProto.create({ opType: 'Reshape', input: [cur, inShape], output: [t('in')], name: t('in') }),
          onnx.NodeProto.create({
            opType: 'Transpose',
            input: [t('in')],
            output: [t('gin')],
            name: t('gin'),
            attribute: [ints('perm', [1, 0, 2])],
          }),
          onnx.NodeProto.create({ opType: 'MatMul', input: [t('gin'), wName], output: [t('gout')], name: t('gout') }),
          onnx.NodeProto.create({
            opType: 'Transpose',
            input: [t('gout')],
            output: [t('nout')],
            name: t('nout'),
            attribute: [ints('perm', [1, 0, 2])],
          }),
          onnx.NodeProto.create({ opType: 'Reshape', input: [t('nout'), outShape], output: [t('flat')], name: t('flat') }),
          onnx.NodeProto.create({ opType: 'Add', input: [t('flat'), bName], output: [out], name: out }),
        );
      }
      cur = out;
    } else if (cls === 'Dropout') {
      continue;
    } else {
      throw new Error(`onnx export: layer ${layer.name} (${cls}) is not supported`);
    }
    if (activation === 'relu') {
      const out = next('relu');
      nodes.push(onnx.NodeProto.create({ opType: 'Relu', input: [cur], output: [out], name: out }));
      cur = out;
    } else if (activation === 'softmax') {
      if (opts.flipAverage) {
        // logits of the two halves → their mean, then the softmax
        nodes.push(
          onnx.NodeProto.create({ opType: 'Reshape', input: [cur, 'pair_shape'], output: ['pair_logits'], name: 'split_pair' }),
          onnx.NodeProto.create({
            opType: 'ReduceMean',
            input: ['pair_logits'],
            output: ['mean_logits'],
            name: 'mean_pair',
            attribute: [ints('axes', [0]), int('keepdims', 0)],
          }),
        );
        cur = 'mean_logits';
      }
      nodes.push(
        onnx.NodeProto.create({ opType: 'Softmax', input: [cur], output: [ONNX_OUTPUT], name: 'softmax', attribute: [int('axis', -1)] }),
      );
      cur = ONNX_OUTPUT;
    } else if (activation && activation !== 'linear') {
      throw new Error(`onnx export: activation ${activation} is not supported`);
    }
  }
  if (cur !== ONNX_OUTPUT) throw new Error('onnx export: the model must end in a softmax layer');

  const valueInfo = (name: string, dims: (number | string)[]) =>
    onnx.ValueInfoProto.create({
      name,
      type: onnx.TypeProto.create({
        tensorType: onnx.TypeProto.Tensor.create({
          elemType: onnx.TensorProto.DataType.FLOAT,
          shape: onnx.TensorShapeProto.create({
            dim: dims.map((d) => onnx.TensorShapeProto.Dimension.create(typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
          }),
        }),
      }),
    });
  const graph = onnx.GraphProto.create({
    name: 'fashion-cnn',
    node: nodes,
    initializer: inits,
    input: [valueInfo(ONNX_INPUT, ['N', PIXELS_PER_IMAGE])],
    output: [valueInfo(ONNX_OUTPUT, ['N', width])],
  });
  const proto = onnx.ModelProto.create({
    irVersion: 7,
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 13 })],
    producerName: 'refund-vision',
    producerVersion: version,
    docString: `Fashion-MNIST CNN, weights ${version}; input: raw pixels 0-255 (N×784, 0 = background); output: softmax probabilities (N×${width}${width > NUM_CLASSES ? `: the 10 classes, then ${width - NUM_CLASSES} labels of the label head, one softmax over both` : ''}).`,
    graph,
    metadataProps: [onnx.StringStringEntryProto.create({ key: 'weightsVersion', value: version })],
  });
  return onnx.ModelProto.encode(proto).finish();
}

/** Exports <dir>/model.onnx from <dir>/model.json and records it in model-card.json; returns its path. */
export async function exportOnnx(dir: string): Promise<string> {
  const root = resolve(dir);
  const card = readCard(root);
  if (!tf.engine().backendName) await initTf('auto');
  const model = await loadModel(root);
  const flipAverage = card.inference?.flipAverage === true;
  const bytes = buildOnnxModel(model, card.version, { flipAverage });
  model.dispose();
  const path = join(root, ONNX_FILE);
  writeFileSync(`${path}.tmp`, bytes);
  renameSync(`${path}.tmp`, path);
  const sha256 = shortSha256(bytes);
  const cardPath = join(root, 'model-card.json');
  const json = JSON.parse(readFileSync(cardPath, 'utf8'));
  json.onnx = {
    file: ONNX_FILE,
    sha256,
    weightsVersion: card.version,
    opset: 13,
    layout: 'NCHW',
    input: `${ONNX_INPUT} float32 [N,784] raw 0-255`,
    output: `${ONNX_OUTPUT} float32 [N,10]`,
    ...(flipAverage ? { flipAverage: 'each image and its mirror image, logits averaged, in the graph' } : {}),
  };
  writeFileSync(cardPath, `${JSON.stringify(json, null, 2)}\n`);
  return path;
}

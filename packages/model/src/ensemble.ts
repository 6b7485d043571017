/**
 * An ensemble of trained nets of one sequential shape, written as ONE wider net of the same layer
 * kinds, so every engine (tfjs, the ONNX export, the PyTorch peer of the benchmark) serves it
 * unchanged. Member m keeps its own block of channels and units: the first convolution reads the
 * shared image, every later convolution and dense layer has block-diagonal weights (zeros between
 * members, so the members never see each other's features), and the last dense layer stacks the
 * members' kernels divided by M and averages their biases. Its logits are therefore exactly the
 * mean of the members' logits, and its softmax is the ensemble's answer (logit averaging).
 * Fine-tuning the combined net later may fill the off-diagonal blocks: it is then one wider net,
 * initialised from the ensemble.
 */
import { tf } from './engine.ts';
import { ensembleMembersOf } from './ensemble-members.ts';

type Config = Record<string, any>;

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

/** The layer settings that must agree between members (everything but the width). */
function shapeKey(cls: string, cfg: Config): string {
  switch (cls) {
    case 'Conv2D':
      return JSON.stringify([cls, cfg.kernelSize, cfg.strides, cfg.padding, cfg.activation, cfg.dilationRate, cfg.useBias]);
    case 'Dense':
      return JSON.stringify([cls, cfg.activation, cfg.useBias]);
    case 'MaxPooling2D':
      return JSON.stringify([cls, cfg.poolSize, cfg.strides, cfg.padding]);
    case 'Flatten':
    case 'Dropout':
      return cls;
    default:
      throw new Error(`ensemble: layer kind ${cls} is not supported (Conv2D, MaxPooling2D, Flatten, Dropout, Dense)`);
  }
}

/** Builds the wide layer for one position of the members' layer lists. */
function wideLayer(cls: string, cfg: Config, width: number, first: boolean): tf.layers.Layer {
  const input = first ? { inputShape: (cfg.batchInputShape as number[]).slice(1) } : {};
  switch (cls) {
    case 'Conv2D':
      return tf.layers.conv2d({
        ...input,
        filters: width,
        kernelSize: cfg.kernelSize,
        strides: cfg.strides,
        padding: cfg.padding,
        activation: cfg.activation,
        dilationRate: cfg.dilationRate,
        useBias: cfg.useBias,
      });
    case 'Dense':
      return tf.layers.dense({ ...input, units: width, activation: cfg.activation, useBias: cfg.useBias });
    case 'MaxPooling2D':
      return tf.layers.maxPooling2d({ ...input, poolSize: cfg.poolSize, strides: cfg.strides, padding: cfg.padding });
    case 'Flatten':
      return tf.layers.flatten(input);
    default:
      return tf.layers.dropout({ ...input, rate: cfg.rate });
  }
}

/** H, W of the feature map the Flatten at `li` flattens ([1, 1] when it flattens a vector). */
function flattenedGrid(layers: readonly tf.layers.Layer[], li: number): [number, number] {
  const shape = layers[li - 1]?.outputShape as number[] | undefined;
  return shape && shape.length === 4 ? [shape[1]!, shape[2]!] : [1, 1];
}

/**
 * How a kernel's rows are laid out: (ky, kx, channel) for a convolution, (y, x, channel) for a Dense
 * after a Flatten (H×W positions), (unit) for a Dense after a Dense. Members own consecutive channel
 * blocks at every position.
 */
function kernelRows(cls: string, kernelShape: readonly number[], spatial: [number, number] | undefined) {
  const [kh, kw] = cls === 'Conv2D' ? (kernelShape as [number, number]) : [1, 1];
  const positions = cls === 'Conv2D' ? kh * kw : spatial ? spatial[0] * spatial[1] : 1;
  /** input channels per position */
  const channels = kernelShape[kernelShape.length - 2]! / (cls === 'Conv2D' ? 1 : positions);
  return { kh, kw, positions, channels };
}

/**
 * The members as one net whose softmax is softmax(mean of the members' logits). The members must
 * have the same layer kinds and settings in the same order, end in a softmax Dense layer, and take
 * the same input; their widths may differ.
 */
export function combineMembers(members: readonly tf.LayersModel[]): tf.Sequential {
  if (members.length < 2) throw new Error(`ensemble: needs at least two members, got ${members.length}`);
  const n = members[0]!.layers.length;
  members.forEach((m, i) => {
    if (m.layers.length !== n) throw new Error(`ensemble: member ${i + 1} has ${m.layers.length} layers, member 1 has ${n}`);
  });
  const M = members.length;
  const layers: tf.layers.Layer[] = [];
  // per member: the output width of the last Conv2D/Dense (its block of the wide layer's channels)
  let inWidths: number[] | undefined; // undefined while the members still read the shared input
  let spatial: [number, number] | undefined; // H, W of the feature map a Flatten flattened
  const weights: tf.Tensor[][] = [];
  for (let li = 0; li < n; li++) {
    const cls = members[0]!.layers[li]!.getClassName();
    const cfgs = members.map((m) => m.layers[li]!.getConfig() as Config);
    const key = shapeKey(cls, cfgs[0]!);
    cfgs.forEach((c, i) => {
      const k = shapeKey(members[i]!.layers[li]!.getClassName(), c);
      if (k !== key) throw new Error(`ensemble: layer ${li + 1} differs between member 1 (${key}) and member ${i + 1} (${k})`);
    });
    const last = li === n - 1;
    if (last && !(cls === 'Dense' && cfgs[0]!.activation === 'softmax'))
      throw new Error(`ensemble: the last layer must be a softmax Dense, got ${cls} (${cfgs[0]!.activation ?? '-'})`);
    if (cls === 'Flatten') spatial = flattenedGrid(members[0]!.layers, li);
    if (cls !== 'Conv2D' && cls !== 'Dense') {
      layers.push(wideLayer(cls, cfgs[0]!, 0, li === 0));
      weights.push([]);
      continue;
    }
    const mw = members.map((m) =>
      m.layers[li]!.getWeights().map((w) => ({ shape: w.shape as number[], data: w.dataSync() as Float32Array })),
    );
    const outW = mw.map((w) => w[0]!.shape[w[0]!.shape.length - 1]!);
    const total = last ? outW[0]! : sum(outW);
    if (last && outW.some((w) => w !== total)) throw new Error('ensemble: the members answer over different numbers of classes');
    layers.push(wideLayer(cls, cfgs[0]!, total, li === 0));
    const outOff = outW.map((_, i) => (last ? 0 : sum(outW.slice(0, i))));
    const rows = mw.map((w) => kernelRows(cls, w[0]!.shape, spatial));
    const { kh, kw, positions } = rows[0]!;
    const channelsIn = inWidths ?? rows.map((r) => r.channels);
    // members reading the shared input read the same channels
    const inOff = channelsIn.map((_, i) => (inWidths ? sum(channelsIn.slice(0, i)) : 0));
    const cin = inWidths ? sum(channelsIn) : channelsIn[0]!;
    const scale = last ? 1 / M : 1;
    const k = new Float32Array(positions * cin * total);
    mw.forEach((w, m) => {
      const km = w[0]!.data;
      const cm = channelsIn[m]!;
      const om = outW[m]!;
      for (let p = 0; p < positions; p++)
        for (let a = 0; a < cm; a++)
          for (let o = 0; o < om; o++) k[(p * cin + inOff[m]! + a) * total + outOff[m]! + o] = km[(p * cm + a) * om + o]! * scale;
    });
    const kernel = cls === 'Conv2D' ? tf.tensor4d(k, [kh, kw, cin, total]) : tf.tensor2d(k, [positions * cin, total]);
    if (cls === 'Dense') spatial = undefined;
    const layerWeights: tf.Tensor[] = [kernel];
    if (cfgs[0]!.useBias !== false) {
      const b = new Float32Array(total);
      mw.forEach((w, m) => w[1]!.data.forEach((v, o) => (b[outOff[m]! + o]! += v * scale)));
      layerWeights.push(tf.tensor1d(b));
    }
    weights.push(layerWeights);
    inWidths = last ? undefined : outW;
  }
  const wide = tf.sequential({ layers });
  wide.layers.forEach((l, i) => {
    if (weights[i]!.length) l.setWeights(weights[i]!);
  });
  tf.dispose(weights.flat());
  return wide;
}

/**
 * The inverse of combineMembers: the M members of a combined net, each with its block of every
 * layer's channels, so they can be fine-tuned one by one (a member's step costs 1/M of the combined
 * net's inner layers, whose full kernels are M² member-sized blocks) and combined again.
 * The combined last layer keeps only the mean of the members' biases, so every member gets that mean:
 * a member's logits may differ from the original member's by a constant per class, while
 * combineMembers(splitMembers(net)) answers exactly as the net does. A net whose blocks between
 * members are no longer zero (fine-tuned as one wide net) is not an ensemble any more: refused.
 */
export function splitMembers(wide: tf.LayersModel, M: number): tf.Sequential[] {
  if (!(Number.isInteger(M) && M >= 2)) throw new Error(`ensemble: needs at least two members, got ${M}`);
  const n = wide.layers.length;
  const members: tf.layers.Layer[][] = Array.from({ length: M }, () => []);
  const weights: tf.Tensor[][][] = Array.from({ length: M }, () => []);
  let inWidth: number | undefined; // a member's input channels; undefined while members read the shared input
  let spatial: [number, number] | undefined;
  for (let li = 0; li < n; li++) {
    const layer = wide.layers[li]!;
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as Config;
    shapeKey(cls, cfg); // refuses layer kinds combineMembers would not have made
    const last = li === n - 1;
    if (cls === 'Flatten') spatial = flattenedGrid(wide.layers, li);
    if (cls !== 'Conv2D' && cls !== 'Dense') {
      for (let m = 0; m < M; m++) {
        members[m]!.push(wideLayer(cls, cfg, 0, li === 0));
        weights[m]!.push([]);
      }
      continue;
    }
    const [kt, bt] = layer.getWeights();
    const shape = kt!.shape as number[];
    const k = kt!.dataSync() as Float32Array;
    const b = bt?.dataSync() as Float32Array | undefined;
    const total = shape[shape.length - 1]!;
    if (!last && total % M) {
      tf.dispose(weights.flat(2));
      throw new Error(`ensemble: layer ${li + 1} has ${total} units, not a multiple of ${M} members`);
    }
    const out = last ? total : total / M;
    const { kh, kw, positions, channels: cin } = kernelRows(cls, shape, spatial);
    const cm = inWidth ?? cin;
    // what the members' blocks leave out must be zero, or the net is not an ensemble of them
    if (inWidth !== undefined) {
      for (let p = 0; p < positions; p++)
        for (let a = 0; a < cin; a++)
          for (let o = 0; o < total; o++) {
            const inBlock = Math.floor(a / cm);
            const outBlock = last ? inBlock : Math.floor(o / out);
            if (inBlock !== outBlock && k[(p * cin + a) * total + o] !== 0) {
              tf.dispose(weights.flat(2));
              throw new Error(`ensemble: layer ${li + 1} mixes the members' channels (fine-tuned as one net?): cannot split it into ${M}`);
            }
          }
    }
    for (let m = 0; m < M; m++) {
      const inOff = inWidth === undefined ? 0 : m * cm;
      const outOff = last ? 0 : m * out;
      const km = new Float32Array(positions * cm * out);
      for (let p = 0; p < positions; p++)
        for (let a = 0; a < cm; a++)
          for (let o = 0; o < out; o++) km[(p * cm + a) * out + o] = k[(p * cin + inOff + a) * total + outOff + o]! * (last ? M : 1);
      const mw: tf.Tensor[] = [cls === 'Conv2D' ? tf.tensor4d(km, [kh, kw, cm, out]) : tf.tensor2d(km, [positions * cm, out])];
      if (b) mw.push(tf.tensor1d(last ? b.slice() : b.slice(outOff, outOff + out)));
      members[m]!.push(wideLayer(cls, cfg, out, li === 0));
      weights[m]!.push(mw);
    }
    if (cls === 'Dense') spatial = undefined;
    inWidth = last ? undefined : out;
  }
  return members.map((layers, m) => {
    const net = tf.sequential({ layers });
    net.layers.forEach((l, i) => {
      if (weights[m]![i]!.length) l.setWeights(weights[m]![i]!);
    });
    tf.dispose(weights[m]!.flat());
    return net;
  });
}

/**
 * The nets tfjs runs to answer as `net` does: its members when the card records them and the net
 * still splits into them, else the net itself. tfjs has no grouped convolution, so the combined
 * net computes all M² member-sized blocks of its inner layers, zeros included: its members do
 * 1/M of that work, and predictTf averages their logits as the combined last layer does. A net
 * fine-tuned as one (its blocks mix members) is served whole.
 */
export function servingNets(net: tf.LayersModel, card: unknown): { nets: tf.LayersModel[]; members: boolean; why?: string } {
  const M = ensembleMembersOf(card)?.length;
  if (!M) return { nets: [net], members: false };
  try {
    return { nets: splitMembers(net, M), members: true };
  } catch (e) {
    return { nets: [net], members: false, why: (e as Error).message };
  }
}

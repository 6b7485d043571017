/**
 * FLOPs per image of a Keras/TensorFlow.js Layers model, counted from model.json alone, so the
 * physical limit (FLOPs ÷ core peak) can be computed for whatever architecture is committed.
 * Convention (as in the model card and KNOWLEDGE.md): 2 FLOPs per multiply-accumulate of the conv
 * and dense layers; bias adds, activations, pooling and normalization are not counted.
 */

export interface LayerCount {
  name: string;
  className: string;
  outShape: number[];
  macs: number;
  params: number;
}

export interface FlopCount {
  flops: number;
  macs: number;
  params: number;
  inputShape: number[];
  layers: LayerCount[];
}

interface KerasLayer {
  class_name: string;
  config: Record<string, unknown> & { name?: string };
}

/** The layer list of a tfjs `model.json` (Sequential or a linear functional Model). */
export function kerasLayers(modelJson: unknown): KerasLayer[] {
  const mj = modelJson as { modelTopology?: Record<string, unknown> };
  let topo = (mj.modelTopology ?? modelJson) as Record<string, unknown>;
  if (topo.model_config) topo = topo.model_config as Record<string, unknown>;
  const cfg = topo.config as { layers?: KerasLayer[] } | KerasLayer[] | undefined;
  const layers = Array.isArray(cfg) ? cfg : cfg?.layers;
  if (!Array.isArray(layers) || layers.length === 0) throw new Error('model.json: no layers found in modelTopology');
  return layers;
}

const pair = (v: unknown, dflt: number): [number, number] => {
  if (v === undefined || v === null) return [dflt, dflt];
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length >= 2) return [Number(v[0]), Number(v[1])];
  if (Array.isArray(v) && v.length === 1) return [Number(v[0]), Number(v[0])];
  throw new Error(`bad size ${JSON.stringify(v)}`);
};

/** Output length of a windowed op along one axis (Keras semantics). */
export function windowOut(size: number, k: number, stride: number, padding: string, dilation = 1): number {
  const eff = (k - 1) * dilation + 1;
  if (padding === 'same') return Math.ceil(size / stride);
  if (padding === 'valid') return Math.floor((size - eff) / stride) + 1;
  throw new Error(`unsupported padding '${padding}'`);
}

function inputShapeOf(first: KerasLayer): number[] | undefined {
  const c = first.config;
  const bis = (c.batch_input_shape ?? c.batch_shape ?? c.batchInputShape) as (number | null)[] | undefined;
  if (Array.isArray(bis)) return bis.slice(1).map(Number);
  const is = (c.input_shape ?? c.inputShape) as number[] | undefined;
  return Array.isArray(is) ? is.map(Number) : undefined;
}

const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/**
 * What the served model computes, when it is more than model.json's layers once: `members` for an
 * ensemble written as one wide net (packages/model/src/ensemble.ts), whose convolutions and dense
 * layers between the first and the last are block diagonal, so an engine that groups them (our ONNX
 * export, the PyTorch peer) does 1/M of their counted work; `views` for mirror averaging (each image
 * and its mirror go through the net).
 */
export interface ServedWork {
  members?: number;
  views?: number;
}

export function countFlops(modelJson: unknown, fallbackInput: number[] = [28, 28, 1], served: ServedWork = {}): FlopCount {
  const layers = kerasLayers(modelJson);
  const inputShape = inputShapeOf(layers[0]!) ?? fallbackInput;
  let shape = [...inputShape];
  const out: LayerCount[] = [];
  for (const layer of layers) {
    const c = layer.config;
    const name = String(c.name ?? layer.class_name);
    let macs = 0;
    let params = 0;
    const bias = c.use_bias !== false;
    switch (layer.class_name) {
      case 'InputLayer': {
        shape = inputShapeOf(layer) ?? shape;
        break;
      }
      case 'Reshape':
        shape = (c.target_shape as number[]).map(Number);
        if (shape.includes(-1)) {
          const known = prod(shape.filter((d) => d !== -1));
          shape = shape.map((d) => (d === -1 ? prod(inputShape) / known : d));
        }
        break;
      case 'Conv2D':
      case 'DepthwiseConv2D':
      case 'SeparableConv2D': {
        if (shape.length !== 3) throw new Error(`${name}: expected a 3-D input, got [${shape}]`);
        const [h, w, cin] = shape as [number, number, number];
        const [kh, kw] = pair(c.kernel_size, 1);
        const [sh, sw] = pair(c.strides, 1);
        const [dh, dw] = pair(c.dilation_rate, 1);
        const pad = String(c.padding ?? 'valid');
        const oh = windowOut(h, kh, sh, pad, dh);
        const ow = windowOut(w, kw, sw, pad, dw);
        if (layer.class_name === 'Conv2D') {
          const cout = Number(c.filters);
          macs = oh * ow * cout * kh * kw * cin;
          params = kh * kw * cin * cout + (bias ? cout : 0);
          shape = [oh, ow, cout];
        } else {
          const dm = Number(c.depth_multiplier ?? 1);
          macs = oh * ow * cin * dm * kh * kw;
          params = kh * kw * cin * dm;
          if (layer.class_name === 'SeparableConv2D') {
            const cout = Number(c.filters);
            macs += oh * ow * cin * dm * cout;
            params += cin * dm * cout + (bias ? cout : 0);
            shape = [oh, ow, cout];
          } else {
            params += bias ? cin * dm : 0;
            shape = [oh, ow, cin * dm];
          }
        }
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const [h, w, ch] = shape as [number, number, number];
        const [ph, pw] = pair(c.pool_size, 2);
        const [sh, sw] = c.strides == null ? [ph, pw] : pair(c.strides, ph);
        const pad = String(c.padding ?? 'valid');
        shape = [windowOut(h, ph, sh, pad), windowOut(w, pw, sw, pad), ch];
        break;
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D':
        shape = [shape[shape.length - 1]!];
        break;
      case 'Flatten':
        shape = [prod(shape)];
        break;
      case 'Dense': {
        const units = Number(c.units);
        const fin = shape[shape.length - 1]!;
        const rows = prod(shape.slice(0, -1));
        macs = rows * fin * units;
        params = fin * units + (bias ? units : 0);
        shape = [...shape.slice(0, -1), units];
        break;
      }
      case 'BatchNormalization':
      case 'LayerNormalization':
        params = 4 * shape[shape.length - 1]!;
        break;
      case 'Dropout':
      case 'SpatialDropout2D':
      case 'GaussianNoise':
      case 'GaussianDropout':
      case 'Activation':
      case 'ReLU':
      case 'LeakyReLU':
      case 'ELU':
      case 'Softmax':
      case 'Rescaling':
      case 'ActivityRegularization':
        break;
      default:
        throw new Error(`${name}: layer class '${layer.class_name}' is not counted by the bench`);
    }
    out.push({ name, className: layer.class_name, outShape: [...shape], macs, params });
  }
  const weighted = out.flatMap((l, i) => (['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'Dense'].includes(l.className) ? [i] : []));
  const members = served.members ?? 1;
  const views = served.views ?? 1;
  out.forEach((l, i) => {
    const inner = weighted.includes(i) && i !== weighted[0] && i !== weighted.at(-1);
    l.macs = (inner ? l.macs / members : l.macs) * views;
  });
  const macs = out.reduce((a, l) => a + l.macs, 0);
  return { flops: 2 * macs, macs, params: out.reduce((a, l) => a + l.params, 0), inputShape, layers: out };
}

/**
 * The ONNX Runtime engine: model.onnx (exported from the tfjs weights by onnx-export.ts) run by
 * onnxruntime-node's CPU provider. Optional: when the package is missing or its binary does not
 * load, `loadOrt` says why and the classifier falls back to tfjs.
 */
import { PIXELS_PER_IMAGE, NUM_CLASSES } from '@refund-vision/shared';

type Ort = typeof import('onnxruntime-node');
let ort: Ort | undefined;
let ortFailure: string | undefined;

export async function loadOrt(): Promise<{ ort?: Ort; failure?: string }> {
  if (ort || ortFailure) return { ort, failure: ortFailure };
  try {
    const name = 'onnxruntime-node';
    ort = (await import(/* @vite-ignore */ name)) as Ort;
  } catch (e) {
    ortFailure = (e as Error).message.split('\n')[0] ?? 'import failed';
  }
  return { ort, failure: ortFailure };
}

export const ONNX_INPUT = 'pixels';
export const ONNX_OUTPUT = 'probs';
const CHUNK = 256;

export interface OnnxRunner {
  run(pixels: Uint8Array, n: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/**
 * One session on `threads` intra-op threads (default 1: a process uses one core, and the API scales
 * by running more processes).
 */
export async function createOnnxRunner(path: string, threads = 1): Promise<OnnxRunner> {
  const { ort: rt, failure } = await loadOrt();
  if (!rt) throw new Error(`onnxruntime-node unavailable: ${failure}`);
  const session = await rt.InferenceSession.create(path, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  return {
    async run(pixels, n) {
      // 10 columns a row, or 10 + L for a model with a label head: the width is the model's
      let width = 0;
      let out = new Float32Array(0);
      // Chunks keep the activations cache-sized; one 10,000-image run is several times slower per image.
      for (let start = 0; start < n; start += CHUNK) {
        const m = Math.min(CHUNK, n - start);
        const input = new Float32Array(m * PIXELS_PER_IMAGE);
        const src = pixels.subarray(start * PIXELS_PER_IMAGE, (start + m) * PIXELS_PER_IMAGE);
        for (let i = 0; i < input.length; i++) input[i] = src[i]!;
        const res = await session.run({ [ONNX_INPUT]: new rt.Tensor('float32', input, [m, PIXELS_PER_IMAGE]) });
        const probs = res[ONNX_OUTPUT]!;
        const data = probs.data as Float32Array;
        if (!width) {
          width = data.length / m;
          if (!Number.isInteger(width) || width < NUM_CLASSES) throw new Error(`onnx model returned ${data.length} values for ${m} images`);
          out = new Float32Array(n * width);
        }
        if (data.length !== m * width) throw new Error(`onnx model returned ${data.length} values for ${m} images`);
        out.set(data, start * width);
        probs.dispose();
      }
      return out;
    },
    async release() {
      await session.release();
    },
  };
}

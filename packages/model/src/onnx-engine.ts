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
      const input = new Float32Array(n * PIXELS_PER_IMAGE);
      for (let i = 0; i < input.length; i++) input[i] = pixels[i]!;
      const feeds = { [ONNX_INPUT]: new rt.Tensor('float32', input, [n, PIXELS_PER_IMAGE]) };
      const out = await session.run(feeds);
      const probs = out[ONNX_OUTPUT]!;
      const data = probs.data as Float32Array;
      if (data.length !== n * NUM_CLASSES) throw new Error(`onnx model returned ${data.length} values for ${n} images`);
      const copy = Float32Array.from(data);
      probs.dispose();
      return copy;
    },
    async release() {
      await session.release();
    },
  };
}

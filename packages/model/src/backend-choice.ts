/** Engine names and parsing, without loading TensorFlow.js (the onnx path never needs it). */
export type EngineName = 'onnx' | 'node' | 'wasm' | 'cpu';
export type TfEngine = 'node' | 'wasm' | 'cpu';
export type BackendChoice = 'auto' | EngineName;

export class EngineUnavailableError extends Error {
  constructor(engine: string, reason: string) {
    super(`engine '${engine}' is unavailable: ${reason}`);
    this.name = 'EngineUnavailableError';
  }
}

export function parseBackend(value: string | undefined): BackendChoice {
  const v = (value ?? 'auto').trim().toLowerCase() || 'auto';
  if (v === 'auto' || v === 'onnx' || v === 'node' || v === 'wasm' || v === 'cpu') return v;
  throw new Error(`unknown backend '${value}': expected auto, onnx, node, wasm or cpu`);
}

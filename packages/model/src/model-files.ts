/** The files of a saved tfjs layers model (model.json + weights.bin), read without loading TensorFlow.js. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';

/** First 12 hex digits of the sha-256: the short content hash that names weights and ONNX exports. */
export function shortSha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 12);
}

export const weightsVersion = shortSha256;

export interface LoadedArtifacts {
  artifacts: tf.io.ModelArtifacts;
  weights: Uint8Array;
}

/** Reads model.json and concatenates its weight files in manifest order. */
export function readArtifacts(dirOrJson: string): LoadedArtifacts {
  const jsonPath = dirOrJson.endsWith('.json') ? resolve(dirOrJson) : join(resolve(dirOrJson), MODEL_JSON);
  let json: any;
  try {
    json = JSON.parse(readFileSync(jsonPath, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read model ${jsonPath}: ${(e as Error).message}`);
  }
  if (!json.modelTopology || !Array.isArray(json.weightsManifest))
    throw new Error(`${jsonPath}: not a tfjs layers model (no modelTopology/weightsManifest)`);
  const base = dirname(jsonPath);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  for (const group of json.weightsManifest as tf.io.WeightsManifestConfig) {
    specs.push(...group.weights);
    for (const p of group.paths) parts.push(readFileSync(join(base, p)));
  }
  const weights = new Uint8Array(Buffer.concat(parts));
  const expected = specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (weights.byteLength !== expected)
    throw new Error(`${jsonPath}: weights hold ${weights.byteLength} bytes, the manifest needs ${expected}`);
  return {
    weights,
    artifacts: {
      modelTopology: json.modelTopology,
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy,
      weightSpecs: specs,
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer,
    },
  };
}

/**
 * The files of a saved tfjs layers model (model.json + weights.bin), read without loading TensorFlow.js.
 * A weight file may be gzipped (weights.bin.gz): a combined ensemble is mostly the zero blocks
 * between its members (ensemble.ts): 15.4 MB for four members gzip to 3.7 MB, 61 MB for eight to
 * 7.4 MB. The version is the hash of the weights as the net holds them, so it does not depend on
 * the file's form.
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type * as tf from '@tensorflow/tfjs';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';
export const GZIPPED_WEIGHTS_FILE = 'weights.bin.gz';

/** Writes via a temporary name, so a reader never sees half a file. */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Whether weights are worth storing gzipped: at least half of their float32 values are exactly 0. */
export function mostlyZeros(weights: Uint8Array): boolean {
  const f = new Float32Array(weights.buffer, weights.byteOffset, weights.byteLength >> 2);
  let zeros = 0;
  for (let i = 0; i < f.length; i++) if (f[i] === 0) zeros++;
  return zeros * 2 >= f.length && f.length > 0;
}

/** The weight file names model.json lists, in order. */
export function weightFiles(dir: string): string[] {
  const json = JSON.parse(readFileSync(join(resolve(dir), MODEL_JSON), 'utf8'));
  return (json.weightsManifest as tf.io.WeightsManifestConfig).flatMap((g) => g.paths);
}

/**
 * Writes `weights` into `dir` as one file, gzipped when they are mostly zeros, and removes the file of
 * the other form. Returns the file name, for model.json's manifest.
 */
export function writeWeightsFile(dir: string, weights: Uint8Array): string {
  const base = resolve(dir);
  const file = mostlyZeros(weights) ? GZIPPED_WEIGHTS_FILE : WEIGHTS_FILE;
  writeAtomic(join(base, file), file === GZIPPED_WEIGHTS_FILE ? gzipSync(weights, { level: 6 }) : weights);
  rmSync(join(base, file === GZIPPED_WEIGHTS_FILE ? WEIGHTS_FILE : GZIPPED_WEIGHTS_FILE), { force: true });
  return file;
}

/**
 * Replaces the weights of a saved model with `weights` (same layout) as one file (writeWeightsFile)
 * and points model.json at it. Returns the file name.
 */
export function writeWeights(dir: string, weights: Uint8Array): string {
  const base = resolve(dir);
  const jsonPath = join(base, MODEL_JSON);
  const json = JSON.parse(readFileSync(jsonPath, 'utf8'));
  const manifest = json.weightsManifest as tf.io.WeightsManifestConfig;
  const file = writeWeightsFile(base, weights);
  json.weightsManifest = [{ paths: [file], weights: manifest.flatMap((g) => g.weights) }];
  writeAtomic(jsonPath, JSON.stringify(json));
  for (const f of manifest.flatMap((g) => g.paths)) if (f !== file) rmSync(join(base, f), { force: true });
  return file;
}

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
    for (const p of group.paths) {
      try {
        const raw = readFileSync(join(base, p));
        parts.push(p.endsWith('.gz') ? gunzipSync(raw) : raw);
      } catch (e) {
        throw new Error(`cannot read weights ${join(base, p)}: ${(e as Error).message}`);
      }
    }
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

/**
 * Save and load tfjs layers models on disk without tfjs-node (whose file:// handler is the only
 * built-in one in Node): the standard model.json + weights layout, read and written by hand.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { tf } from './engine.ts';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_FILE = 'weights.bin';

export interface SavedModel {
  dir: string;
  weightBytes: number;
  /** sha-256 of the weights file, first 12 hex digits: the model version. */
  version: string;
}

export function weightsVersion(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 12);
}

/** Writes via a temporary name, so a reader never sees half a file. */
function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export async function saveModel(model: tf.LayersModel, dir: string): Promise<SavedModel> {
  const out = resolve(dir);
  mkdirSync(out, { recursive: true });
  let saved: SavedModel | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0)));
      writeAtomic(join(out, WEIGHTS_FILE), weights);
      const json = {
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
      };
      writeAtomic(join(out, MODEL_JSON), JSON.stringify(json));
      saved = { dir: out, weightBytes: weights.byteLength, version: weightsVersion(weights) };
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  return saved!;
}

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
  if (!json.modelTopology || !Array.isArray(json.weightsManifest)) throw new Error(`${jsonPath}: not a tfjs layers model (no modelTopology/weightsManifest)`);
  const base = dirname(jsonPath);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  for (const group of json.weightsManifest as tf.io.WeightsManifestGroupConfig[]) {
    specs.push(...group.weights);
    for (const p of group.paths) parts.push(readFileSync(join(base, p)));
  }
  const weights = new Uint8Array(Buffer.concat(parts));
  const expected = specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (weights.byteLength !== expected) throw new Error(`${jsonPath}: weights hold ${weights.byteLength} bytes, the manifest needs ${expected}`);
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

export async function loadModel(dir: string): Promise<tf.LayersModel> {
  const { artifacts } = readArtifacts(dir);
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

/**
 * Save and load tfjs layers models on disk without tfjs-node (whose file:// handler is the only
 * built-in one in Node): the standard model.json + weights layout, read and written by hand.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tf } from './engine.ts';
import { MODEL_JSON, readArtifacts, weightsVersion, writeAtomic, writeWeightsFile } from './model-files.ts';

export { MODEL_JSON, WEIGHTS_FILE, readArtifacts, weightsVersion, type LoadedArtifacts } from './model-files.ts';

export interface SavedModel {
  dir: string;
  weightBytes: number;
  /** sha-256 of the weights (as the net holds them, whatever the file's form), first 12 hex digits: the model version. */
  version: string;
}

/** Writes model.json and the weights (gzipped when mostly zeros: a combined ensemble, model-files.ts). */
export async function saveModel(model: tf.LayersModel, dir: string): Promise<SavedModel> {
  const out = resolve(dir);
  mkdirSync(out, { recursive: true });
  let saved: SavedModel | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0)));
      const file = writeWeightsFile(out, weights);
      const json = {
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [file], weights: artifacts.weightSpecs ?? [] }],
      };
      writeAtomic(join(out, MODEL_JSON), JSON.stringify(json));
      saved = { dir: out, weightBytes: weights.byteLength, version: weightsVersion(weights) };
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  return saved!;
}

export async function loadModel(dir: string): Promise<tf.LayersModel> {
  const { artifacts } = readArtifacts(dir);
  return tf.loadLayersModel(tf.io.fromMemory(artifacts));
}

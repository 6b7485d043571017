/**
 * A second real version of the committed model, for tests and the bench that need two versions
 * (registry, gate, hot swap, shadow): the bundled weights with one byte changed, a card naming the new
 * content hash, and (optionally) its own ONNX export. Exported as `@refund-vision/model/testing/model-variant`
 * like the API's Postgres helper, so no package copies it.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readArtifacts, weightsVersion, writeWeights } from '../model-files.ts';

export const BUNDLED_MODEL_DIR = resolve(import.meta.dirname, '../../../../models/fashion-cnn');

/** Writes the variant into `dir` and returns its version. Its model.onnx is stale until `withOnnx`. */
export async function makeVariant(dir: string, delta: number, opts: { from?: string; withOnnx?: boolean } = {}): Promise<string> {
  cpSync(opts.from ?? BUNDLED_MODEL_DIR, dir, { recursive: true });
  const w = readArtifacts(dir).weights;
  w[100] = (w[100]! + delta) & 0xff;
  writeWeights(dir, w);
  const card = JSON.parse(readFileSync(join(dir, 'model-card.json'), 'utf8'));
  card.version = weightsVersion(w);
  writeFileSync(join(dir, 'model-card.json'), JSON.stringify(card));
  if (opts.withOnnx) await (await import('../onnx-export.ts')).exportOnnx(dir);
  return card.version;
}

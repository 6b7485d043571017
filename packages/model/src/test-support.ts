/** Helpers for this package's tests only (never imported by another package). */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { WEIGHTS_FILE, weightsVersion } from './model-files.ts';

export const BUNDLED_MODEL_DIR = resolve(import.meta.dirname, '../../../models/fashion-cnn');

/**
 * A second real model: the bundled weights with one byte changed (a new version that predicts almost
 * the same), with a card that names it. The ONNX export is stale until re-exported.
 */
export function makeVariant(dir: string, delta: number): string {
  cpSync(BUNDLED_MODEL_DIR, dir, { recursive: true });
  const w = readFileSync(join(dir, WEIGHTS_FILE));
  w[100] = (w[100]! + delta) & 0xff;
  writeFileSync(join(dir, WEIGHTS_FILE), w);
  const card = JSON.parse(readFileSync(join(dir, 'model-card.json'), 'utf8'));
  card.version = weightsVersion(w);
  writeFileSync(join(dir, 'model-card.json'), JSON.stringify(card));
  return card.version;
}

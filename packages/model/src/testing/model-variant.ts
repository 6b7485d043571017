/**
 * A second real version of the committed model, for tests and the bench that need two versions
 * (registry, gate, hot swap, shadow): the bundled weights with one byte changed, a card naming the new
 * content hash, and (optionally) its own ONNX export. Exported as `@refund-vision/model/testing/model-variant`
 * like the API's Postgres helper, so no package copies it. Also a small net with a label head, for
 * tests of serving one.
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

/**
 * A small real net with a label head (label-head.ts) in `dir`: flatten → dense(10 + 18 HEAD_LABELS)
 * softmax with seeded weights, the bundled card with `inference.labelHead` and its version, and its
 * ONNX export. Its answers mean nothing; what it serves is the shape of a headed model. Returns the version.
 */
export async function makeHeadedNet(dir: string, seed = 5): Promise<string> {
  const { tf, initTf } = await import('../engine.ts');
  const { saveModel } = await import('../io.ts');
  const { HEAD_LABELS } = await import('../clothing-photos.ts');
  await initTf('wasm');
  const net = tf.sequential({
    layers: [
      tf.layers.flatten({ inputShape: [28, 28, 1] }),
      tf.layers.dense({
        units: 10 + HEAD_LABELS.length,
        activation: 'softmax',
        kernelInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.002, seed }),
      }),
    ],
  });
  const saved = await saveModel(net, dir);
  net.dispose();
  const card = JSON.parse(readFileSync(join(BUNDLED_MODEL_DIR, 'model-card.json'), 'utf8'));
  card.version = saved.version;
  card.inference = { flipAverage: false, labelHead: { labels: [...HEAD_LABELS], weight: 1 } };
  // one net, not the committed ensemble's members
  delete card.training.members;
  delete card.training.initFrom;
  delete card.review;
  writeFileSync(join(dir, 'model-card.json'), JSON.stringify(card));
  await (await import('../onnx-export.ts')).exportOnnx(dir);
  return card.version;
}

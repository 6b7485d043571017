/**
 * A quick objective proxy for the photo preprocessing: how often the committed model
 * (models/fashion-cnn) puts a real photo in one of the classes its label can be (set accuracy),
 * on a fixed sample of in-scope photos from ../shared/data/clothing-photos. The model never saw
 * photos, so the better preprocessing makes them look like Fashion-MNIST, the higher this is.
 * `tsx packages/preprocess/src/cli/photo-accuracy.ts [--n 600] [--seed 9] [--model models/fashion-cnn]`
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CLASS_NAMES, projectRoot } from '@refund-vision/shared';
import { loadClassifier } from '@refund-vision/model';
import { preprocessImage, PREPROCESS_VERSION } from '../index.ts';
import { LABEL_CLASSES, clothingPhotosDir, pickPhotos, readPhotoRows } from '../photo-sample.ts';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '600' },
    seed: { type: 'string', default: '9' },
    model: { type: 'string', default: join(projectRoot(), 'models', 'fashion-cnn') },
    json: { type: 'boolean', default: false },
  },
});
const dir = clothingPhotosDir();
if (!dir) throw new Error('no clothing photos: set CLOTHING_PHOTOS_DIR or put them in ../shared/data/clothing-photos');
const photos = pickPhotos(readPhotoRows(dir), Number(values.n), { seed: Number(values.seed), labels: Object.keys(LABEL_CLASSES) });
const model = await loadClassifier({ dir: resolve(values.model!) });

const pixels = new Uint8Array(photos.length * 784);
const started = performance.now();
let failed = 0;
for (const [i, p] of photos.entries()) {
  try {
    pixels.set((await preprocessImage(p.path)).pixels, i * 784);
  } catch (e) {
    failed++;
    console.error(`${p.id}: ${(e as Error).message}`);
  }
}
const ms = (performance.now() - started) / photos.length;
const probs = await model.predict(pixels, photos.length);
const perLabel = new Map<string, { n: number; right: number }>();
let right = 0;
photos.forEach((p, i) => {
  let best = 0;
  for (let k = 1; k < CLASS_NAMES.length; k++) if (probs[i * 10 + k]! > probs[i * 10 + best]!) best = k;
  const ok = LABEL_CLASSES[p.label]!.includes(best);
  right += ok ? 1 : 0;
  const s = perLabel.get(p.label) ?? { n: 0, right: 0 };
  s.n++;
  s.right += ok ? 1 : 0;
  perLabel.set(p.label, s);
});
const result = {
  preprocess: PREPROCESS_VERSION,
  model: model.version,
  photos: photos.length,
  failed,
  setAccuracy: right / photos.length,
  msPerImage: ms,
  perLabel: Object.fromEntries([...perLabel].map(([l, s]) => [l, `${s.right}/${s.n}`])),
};
console.log(values.json ? JSON.stringify(result) : result);
await model.dispose();

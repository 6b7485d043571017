/**
 * `pnpm probe-data --out DIR [--photo-variants 4] [--max-sender-share 0.1]`: writes the arrays a PyTorch
 * probe (`packages/model/probes/`) trains on, made by this project's own loaders, so a probe sees
 * exactly what `pnpm train` sees: Fashion-MNIST train and test, and the clothing photos of the
 * validation split by sender, preprocessed by `@refund-vision/preprocess` (training photos with the
 * same augmented copies `pnpm train --photo-variants N` uses, from the same disk cache).
 *
 * Files (uint8, row-major, 784 bytes an image): fm-train.u8 / fm-train-labels.u8, fm-test.u8 /
 * fm-test-labels.u8, photo-train.u8 (photo-major, 1 + N rows each: the photo, then its copies), photo-val.u8, and
 * photos.json (per photo: id, label, Fashion-MNIST classes of the label, out of scope, sender, which
 * rows preprocessed; the split).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PREPROCESS_VERSION } from '@refund-vision/preprocess';
import { loadClothingPhotos, splitBySender, VALIDATION_SPLIT, type Photo } from '../clothing-photos.ts';
import { loadFashionMnist } from '../fashion-mnist.ts';
import { photoArrays } from '../photo-arrays.ts';

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    'photo-variants': { type: 'string', default: '4' },
    'max-sender-share': { type: 'string', default: String(VALIDATION_SPLIT.maxSenderShare) },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help || !values.out) {
  process.stdout.write('usage: pnpm probe-data --out DIR [--photo-variants 4] [--max-sender-share 0.1]\n');
  process.exit(values.help ? 0 : 2);
}
const out = values.out;
const copies = Number(values['photo-variants']);
const variants = 1 + copies;
const split = { share: VALIDATION_SPLIT.share, maxSenderShare: Number(values['max-sender-share']) };
if (!(Number.isInteger(copies) && copies >= 0))
  throw new Error(`--photo-variants: expected a whole number, got '${values['photo-variants']}'`);
if (!(split.maxSenderShare > 0 && split.maxSenderShare <= 1))
  throw new Error(`--max-sender-share: expected (0, 1], got '${values['max-sender-share']}'`);
mkdirSync(out, { recursive: true });

for (const s of ['train', 'test'] as const) {
  const fm = await loadFashionMnist(s);
  writeFileSync(join(out, `fm-${s}.u8`), fm.images);
  writeFileSync(join(out, `fm-${s}-labels.u8`), fm.labels);
}
const data = await loadClothingPhotos();
const { train, validation } = splitBySender(data.photos, split);
const tr = await photoArrays(train, { variants });
const va = await photoArrays(validation);
writeFileSync(join(out, 'photo-train.u8'), tr.pixels);
writeFileSync(join(out, 'photo-val.u8'), va.pixels);
const rows = (photos: Photo[], ok: Uint8Array, v: number) =>
  photos.map((p, i) => ({
    id: p.id,
    label: p.label,
    classes: p.classes,
    outOfScope: p.outOfScope,
    sender: p.senderId,
    ok: Array.from(ok.subarray(i * v, (i + 1) * v)),
  }));
writeFileSync(
  join(out, 'photos.json'),
  JSON.stringify({
    split,
    variants,
    preprocess: PREPROCESS_VERSION,
    train: rows(train, tr.ok, variants),
    validation: rows(validation, va.ok, 1),
  }),
);
process.stdout.write(
  `${out}: Fashion-MNIST train/test, ${train.length} training photos × ${variants} rows, ${validation.length} validation photos\n`,
);

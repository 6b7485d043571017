/**
 * pnpm train:ensemble [--out models/fashion-cnn] [--no-onnx] [--photo-limit N] [--flip-average] MEMBER_DIR MEMBER_DIR [...]
 * pnpm train:ensemble --split MODEL_DIR --out DIR
 * The second form writes the members of a combined model as DIR/member-1 … to fine-tune one by one.
 * Combines trained 'deep' members (e.g. two `pnpm train:recipe --seeds …` runs) into one model, fits
 * its temperature and review thresholds on the photo validation split, evaluates it and writes its
 * card and ONNX export (train-ensemble.ts). --flip-average: it answers each image as the mean logits of
 * the image and its mirror image.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { closeLoggers, createLogger, loadConfig } from '@refund-vision/shared';
import { splitEnsemble, trainEnsemble } from '../train-ensemble.ts';
import { PHOTO_DEFAULTS } from '../train.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string' },
    'no-onnx': { type: 'boolean', default: false },
    'photo-limit': { type: 'string' },
    'flip-average': { type: 'boolean', default: false },
    split: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help || (values.split ? !values.out || positionals.length : positionals.length < 2)) {
  process.stdout.write(
    'usage: pnpm train:ensemble [--out DIR] [--no-onnx] [--photo-limit N] [--flip-average] MEMBER_DIR MEMBER_DIR [...]\n' +
      '       pnpm train:ensemble --split MODEL_DIR --out DIR   (the members of a combined model, to fine-tune one by one)\n',
  );
  process.exit(values.help ? 0 : 2);
}
const photoLimit = values['photo-limit'] === undefined ? undefined : Number(values['photo-limit']);
if (photoLimit !== undefined && !(Number.isInteger(photoLimit) && photoLimit > 0)) {
  process.stderr.write(`--photo-limit: expected a positive integer, got '${values['photo-limit']}'\n`);
  process.exit(2);
}

const cfg = loadConfig();
const logger = createLogger('train', { dir: cfg.logs.dir, level: cfg.logs.level, console: false });
async function combine(): Promise<void> {
  const { card, dir } = await trainEnsemble({
    members: positionals,
    out: values.out ?? cfg.model.dir,
    flipAverage: values['flip-average'],
    photos: { ...PHOTO_DEFAULTS, ...(photoLimit ? { limit: photoLimit } : {}) },
    logger,
  });
  if (!values['no-onnx']) {
    const { exportOnnx } = await import('../onnx-export.ts');
    process.stderr.write(`wrote ${await exportOnnx(dir)}\n`);
  }
  const pe = (card as Record<string, any>).photoEvaluation;
  process.stderr.write(
    `wrote ${join(dir, 'model.json')} version ${card.version} (ensemble of ${positionals.length}): test accuracy ${card.evaluation.accuracy}` +
      (pe
        ? `; photo validation strict ${pe.strictAccuracy} set ${pe.setAccuracy} ECE ${pe.ece}, auto-accepted ${pe.review.inScopeAutoAccepted} at ${pe.review.autoAcceptedAccuracy} correct, OOS flagged ${pe.review.outOfScopeFlagged}`
        : '') +
      '\n',
  );
}

try {
  if (values.split)
    for (const dir of await splitEnsemble({ dir: values.split, out: values.out!, logger })) process.stderr.write(`wrote ${dir}\n`);
  else await combine();
} catch (e) {
  process.stderr.write(`train:ensemble failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await closeLoggers();
}

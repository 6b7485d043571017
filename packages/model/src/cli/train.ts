/**
 * pnpm train [--arch deep] [--epochs 12] [--batch-size 64] [--seed 42] [--lr 0.001]
 *            [--validation 5000] [--no-flip] [--limit N] [--init DIR] [--out models/fashion-cnn] [--no-onnx]
 *            [--freeze-convs] [--no-photos] [--photo-share 0.333] [--oos-weight 0.5] [--photo-variants 2] [--set-loss sum|max] [--photo-rotate 0] [--photo-limit N] [--max-sender-share 0.1] [--label-head W]
 *            [--with-reviews [--review-holdout 0.2]] [--workers N] [--flip-average]
 * --init DIR fine-tunes the model saved in DIR (same architecture) instead of starting fresh; with
 * --epochs 0 it only recalibrates it on the photo validation split and chooses the review thresholds.
 * Real photos are mixed into every batch unless --no-photos (Fashion-MNIST only).
 * --with-reviews adds the items people reviewed (from the API at API_URL, with API_KEY) to the photos,
 * keeping a share of them (by a hash of their id) out of training in review-holdout.json for the gate.
 * --workers N trains N replicas in lock-step on worker threads (default 2 on ≥ 2 cores, else 1 =
 * every step in this thread); see replicas.ts.
 * --flip-average makes the model answer each image as the mean logits of it and its mirror image
 * (card inference.flipAverage; a fine-tune keeps what its --init model does).
 * --label-head W gives the net a second head that names each photo's label, its loss weighted W
 * (label-head.ts; card inference.labelHead; a fine-tune of a net with a head keeps it).
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { closeLoggers, createLogger, loadConfig, type ReviewedItem } from '@refund-vision/shared';
import { ARCHITECTURES } from '../architectures.ts';
import type { SetLossMode } from '../set-loss.ts';
import { fetchReviewedItems, reviewArrays, splitReviews, writeReviewHoldout } from '../reviews-data.ts';
import { readReviewHoldout, writeHoldoutFile } from '../gate-sets.ts';
import { VALIDATION_SPLIT } from '../clothing-photos.ts';
import { PHOTO_DEFAULTS, TRAIN_DEFAULTS, train, type PhotoTrainOptions } from '../train.ts';
import { defaultWorkers } from '../replicas.ts';

const { values } = parseArgs({
  options: {
    arch: { type: 'string', default: TRAIN_DEFAULTS.arch },
    epochs: { type: 'string', default: String(TRAIN_DEFAULTS.epochs) },
    'batch-size': { type: 'string', default: String(TRAIN_DEFAULTS.batchSize) },
    seed: { type: 'string', default: String(TRAIN_DEFAULTS.seed) },
    lr: { type: 'string', default: String(TRAIN_DEFAULTS.learningRate) },
    validation: { type: 'string', default: String(TRAIN_DEFAULTS.validation) },
    'no-flip': { type: 'boolean', default: false },
    'fm-shift': { type: 'string', default: '0' },
    'no-onnx': { type: 'boolean', default: false },
    'no-photos': { type: 'boolean', default: false },
    'freeze-convs': { type: 'boolean', default: false },
    'flip-average': { type: 'boolean', default: false },
    'photo-share': { type: 'string', default: String(PHOTO_DEFAULTS.share) },
    'oos-weight': { type: 'string', default: String(PHOTO_DEFAULTS.oosWeight) },
    'photo-variants': { type: 'string', default: String(PHOTO_DEFAULTS.variants) },
    'set-loss': { type: 'string', default: 'sum' },
    'photo-rotate': { type: 'string', default: '0' },
    'label-head': { type: 'string' },
    'photo-limit': { type: 'string' },
    // no default: absent, a model continued with --init keeps its own split (splitForRun)
    'max-sender-share': { type: 'string' },
    'with-reviews': { type: 'boolean', default: false },
    'review-holdout': { type: 'string', default: '0.2' },
    limit: { type: 'string' },
    workers: { type: 'string' },
    init: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write(
    `usage: pnpm train [--arch ${Object.keys(ARCHITECTURES).join('|')}] [--epochs N] [--batch-size N] [--seed N] [--lr X]\n` +
      `                  [--validation N] [--no-flip] [--fm-shift N] [--limit N] [--init DIR] [--out DIR] [--no-onnx]\n` +
      `                  [--freeze-convs] [--no-photos] [--photo-share X] [--oos-weight X] [--photo-variants N] [--set-loss sum|max] [--photo-rotate P] [--photo-limit N] [--max-sender-share X]\n` +
      `                  [--with-reviews [--review-holdout 0.2]] [--workers N (default ${defaultWorkers()})] [--flip-average]\n`,
  );
  process.exit(0);
}

function int(name: string, v: string | undefined, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name}: expected an integer ≥ ${min}, got '${v}'\n`);
    process.exit(2);
  }
  return n;
}

const cfg = loadConfig();
const logger = createLogger('train', { dir: cfg.logs.dir, level: cfg.logs.level, console: false });
const out = values.out ?? cfg.model.dir;
const lr = Number(values.lr);
if (!(lr > 0)) {
  process.stderr.write(`--lr: expected a positive number, got '${values.lr}'\n`);
  process.exit(2);
}
function num(name: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (!(n >= min && n <= max)) {
    process.stderr.write(`--${name}: expected a number in [${min}, ${max}], got '${v}'\n`);
    process.exit(2);
  }
  return n;
}
function setLossMode(v: string | undefined): SetLossMode {
  if (v === 'sum' || v === 'max') return v;
  process.stderr.write(`--set-loss: expected sum or max, got '${v}'\n`);
  process.exit(2);
}
const photos: PhotoTrainOptions | undefined = values['no-photos']
  ? undefined
  : {
      ...PHOTO_DEFAULTS,
      share: num('photo-share', values['photo-share'], 0.01, 0.99),
      oosWeight: num('oos-weight', values['oos-weight'], 0, 10),
      variants: int('photo-variants', values['photo-variants'], 0)!,
      limit: int('photo-limit', values['photo-limit'], 1),
      setLoss: setLossMode(values['set-loss']),
      rotate: num('photo-rotate', values['photo-rotate'], 0, 1),
      ...(values['label-head'] === undefined ? {} : { labelHead: num('label-head', values['label-head'], 0.01, 10) }),
      // 1 = the uncapped split the models before November 28 were held out by
      ...(values['max-sender-share'] === undefined
        ? {}
        : { validationSplit: { ...VALIDATION_SPLIT, maxSenderShare: num('max-sender-share', values['max-sender-share'], 0.01, 1) } }),
    };
// Reviewed items: fetched from the API (it owns the decisions, on SQLite or a shared Postgres).
let reviews: { train: ReviewedItem[]; holdout: ReviewedItem[]; share: number } | undefined;
if (values['with-reviews']) {
  if (!photos) {
    process.stderr.write('--with-reviews trains reviewed items beside the photos: drop --no-photos\n');
    process.exit(2);
  }
  const share = num('review-holdout', values['review-holdout'], 0, 0.9);
  const items = await fetchReviewedItems(cfg.client.apiUrl, process.env.API_KEY || undefined).catch((e: Error) => {
    process.stderr.write(`${e.message}\n`);
    return process.exit(1);
  });
  reviews = { ...splitReviews(items, share), share };
  const arrays = reviewArrays(reviews.train);
  photos.reviewed = { ids: reviews.train.map((r) => r.id), ...arrays };
  process.stderr.write(
    `reviewed items: ${items.length} (${reviews.train.length} to train, ${reviews.holdout.length} held back for the gate)\n`,
  );
}
// --epochs 0 with --init: no training, only the photo calibration, review thresholds and a new card
// (e.g. after the preprocessing changed); without --init there would be nothing to calibrate.
const epochs = int('epochs', values.epochs, values.init ? 0 : 1);
try {
  const { card, dir } = await train({
    arch: values.arch!,
    epochs: epochs!,
    batchSize: int('batch-size', values['batch-size'], 1)!,
    seed: int('seed', values.seed)!,
    learningRate: lr,
    validation: int('validation', values.validation, 1)!,
    flip: !values['no-flip'],
    fmShift: int('fm-shift', values['fm-shift'], 0),
    limit: int('limit', values.limit, 1),
    out,
    init: values.init,
    photos,
    freezeConvs: values['freeze-convs'],
    ...(values['flip-average'] ? { flipAverage: true } : {}),
    workers: int('workers', values.workers, 1),
    logger,
  });
  if (reviews) writeReviewHoldout(dir, reviews.holdout, reviews.share);
  else if (values.init) {
    // trained on no reviews: the ones the model it continues held back are still unseen, and stay the gate's
    const kept = readReviewHoldout(values.init);
    if (kept) writeHoldoutFile(dir, kept);
  }
  if (!values['no-onnx']) {
    const { exportOnnx } = await import('../onnx-export.ts');
    const onnxPath = await exportOnnx(dir);
    process.stderr.write(`wrote ${onnxPath}\n`);
  }
  process.stderr.write(
    `wrote ${join(dir, 'model.json')} version ${card.version}: test accuracy ${card.evaluation.accuracy}, ` +
      `${card.training.durationSec}s training on ${card.training.backend}\n`,
  );
  const pe = (card as Record<string, any>).photoEvaluation;
  if (pe)
    process.stderr.write(
      `photo validation: strict ${pe.strictAccuracy} set ${pe.setAccuracy} ECE ${pe.ece} (strict labels ${pe.eceStrict}) OOS AUROC ${pe.outOfScopeAuroc.entropy}; ` +
        `auto-accepted ${pe.review.inScopeAutoAccepted} at ${pe.review.autoAcceptedAccuracy} correct, OOS flagged ${pe.review.outOfScopeFlagged}` +
        `${pe.reviewTargetsMet ? '' : ' (review targets NOT all met)'}\n`,
    );
} catch (e) {
  process.stderr.write(`train failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await closeLoggers();
}

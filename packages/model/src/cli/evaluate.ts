/**
 * pnpm evaluate [--json] [--backend auto|onnx|node|wasm|cpu] [--dir models/fashion-cnn] [--limit N] [--no-photos]
 * Both test sets: Fashion-MNIST test (--limit N: its first N images) and the photo validation split.
 */
import { parseArgs } from 'node:util';
import { CLASS_NAMES, closeLoggers, createLogger, loadConfig } from '@refund-vision/shared';
import { parseBackend } from '../engine.ts';
import { evaluateModel } from '../evaluate.ts';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    backend: { type: 'string' },
    dir: { type: 'string' },
    limit: { type: 'string' },
    'no-photos': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write('usage: pnpm evaluate [--json] [--backend auto|onnx|node|wasm|cpu] [--dir DIR] [--limit N] [--no-photos]\n');
  process.exit(0);
}

try {
  const cfg = loadConfig();
  const logger = createLogger('evaluate', { dir: cfg.logs.dir, level: cfg.logs.level, console: false });
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
    throw new Error(`--limit: expected a positive integer, got '${values.limit}'`);
  const r = await evaluateModel({
    dir: values.dir ?? cfg.model.dir,
    backend: parseBackend(values.backend ?? cfg.model.backend),
    limit,
    logger,
    photos: !values['no-photos'],
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } else {
    const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
    const span = ([lo, hi]: readonly [number, number]) => `${(lo * 100).toFixed(1)}–${(hi * 100).toFixed(1)}%`;
    /** digits given: as a fraction; else as a percentage */
    const spread = (s: { mean: number; min: number; max: number }, digits?: number) =>
      digits ? `${s.mean.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})` : `${pct(s.mean)} (${span([s.min, s.max])})`;
    const lines = [
      `model ${r.model} ${r.version} on ${r.engine}: ${r.testImages} test images, ${r.msPerImage} ms/img`,
      `accuracy ${pct(r.accuracy)} (card: ${pct(r.cardAccuracy)})  mean confidence ${r.meanConfidence.toFixed(4)}  ECE ${r.ece.toFixed(4)}  log-loss ${r.logLoss.toFixed(4)}`,
      '',
      `${'class'.padEnd(12)} precision  recall  mean conf`,
      ...r.perClass.map(
        (c) =>
          `${c.className.padEnd(12)} ${pct(c.precision).padStart(9)} ${pct(c.recall).padStart(7)} ${c.meanConfidence.toFixed(4).padStart(10)}`,
      ),
      '',
      'confusion (rows: true, columns: predicted)',
      `${''.padEnd(12)}${CLASS_NAMES.map((_, i) => String(i).padStart(5)).join('')}`,
      ...r.confusion.map(
        (row, i) => `${`${i} ${CLASS_NAMES[i]}`.padEnd(12).slice(0, 12)}${row.map((v) => String(v).padStart(5)).join('')}`,
      ),
    ];
    const p = r.photos;
    if (p) {
      lines.push(
        '',
        `real photos, ${p.split}: ${p.photos} photos (${p.inScope} in scope, ${p.outOfScope} out of scope${p.notPreprocessed ? `, ${p.notPreprocessed} not preprocessed` : ''})`,
        `strict accuracy ${pct(p.strictAccuracy)} (${p.strictPhotos} photos)  set-valued ${pct(p.setAccuracy)}  ECE ${p.ece.toFixed(4)} (strict labels ${p.eceStrict.toFixed(4)})  mean confidence ${p.meanConfidence.toFixed(4)}`,
        `out-of-scope AUROC ${p.outOfScopeAuroc.entropy.toFixed(4)} (entropy), ${p.outOfScopeAuroc.maxProb.toFixed(4)} (max probability)`,
        `95 % intervals by resampling the ${p.bySender95.senders} senders (${p.bySender95.rounds} rounds): strict ${span(p.bySender95.strictAccuracy)}, ECE ${p.bySender95.ece[0].toFixed(3)}–${p.bySender95.ece[1].toFixed(3)}` +
          (p.bySender95.inScopeAutoAccepted ? `, auto-accepted ${span(p.bySender95.inScopeAutoAccepted)}` : ''),
        ...(p.cardSenderCrossValidation
          ? [
              `fitted on half the senders, measured on the other half (model card, ${p.cardSenderCrossValidation.repeats} shuffles; mean, range): ` +
                `ECE ${spread(p.cardSenderCrossValidation.ece, 3)} (temperature alone ${spread(p.cardSenderCrossValidation.eceTemperatureOnly, 3)}), ` +
                `auto-accepted ${spread(p.cardSenderCrossValidation.inScopeAutoAccepted)} at ${spread(p.cardSenderCrossValidation.autoAcceptedAccuracy)} right, ` +
                `out-of-scope flagged ${spread(p.cardSenderCrossValidation.outOfScopeFlagged)}`,
            ]
          : []),
        ...(p.review
          ? [
              `review policy of the card: ${pct(p.review.inScopeAutoAccepted)} of in-scope photos auto-accepted, ${pct(p.review.autoAcceptedAccuracy)} of them right; ` +
                `${pct(p.review.outOfScopeFlagged)} of out-of-scope photos flagged; review share ${pct(p.review.reviewShare)}`,
            ]
          : ['no review policy in the card']),
        'per class (strict labels):',
        ...p.perClass.map((c) => `  ${c.className.padEnd(26)} ${String(c.photos).padStart(4)} photos  ${pct(c.accuracy).padStart(7)}`),
        'per label (set-valued right; out of scope: flagged):',
        ...p.perLabel.map(
          (l) =>
            `  ${l.label.padEnd(26)} ${String(l.photos).padStart(4)} photos  ${l.accuracy === null ? '      —' : pct(l.accuracy).padStart(7)}`,
        ),
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  await closeLoggers();
} catch (e) {
  process.stderr.write(`evaluate failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
}

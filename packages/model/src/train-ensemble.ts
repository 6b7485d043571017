/**
 * `pnpm train:ensemble`: trained members (same architecture, other seeds) become one model
 * (ensemble.ts), which then goes through the end of `pnpm train --epochs 0`: temperature fitted on
 * the photo validation split and folded in, review thresholds chosen, both test sets evaluated and a
 * card written. The card keeps each member's version, figures and training record.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@refund-vision/shared';
import { architectureOf } from './architectures.ts';
import { readCard } from './classifier.ts';
import { readReviewHoldout, writeHoldoutFile } from './gate-sets.ts';
import { photoSplitOf } from './clothing-photos.ts';
import { combineMembers, splitMembers } from './ensemble.ts';
import { ensembleMembersOf } from './ensemble-members.ts';
import { initTf } from './engine.ts';
import { loadFashionMnist } from './fashion-mnist.ts';
import { loadModel, saveModel } from './io.ts';
import { labelColumns } from './label-head.ts';
import { evaluate } from './metrics.ts';
import { predictTf } from './predict-tf.ts';
import { mergeReviewHoldouts } from './reviews-data.ts';
import { train, type PhotoTrainOptions, type TrainResult } from './train.ts';

export interface EnsembleOptions {
  /** Folders of the trained members. */
  members: string[];
  out: string;
  photos?: PhotoTrainOptions;
  /** Evaluate on only the first N Fashion-MNIST test images (tests). */
  testLimit?: number;
  /** Answer each image as the mean logits of it and its mirror image (card inference.flipAverage). */
  flipAverage?: boolean;
  /** Fashion-MNIST validation images (as in `pnpm train`; only evaluated here). */
  validation?: number;
  logger?: Logger;
  progress?: (line: string, done: boolean) => void;
}

export async function trainEnsemble(opts: EnsembleOptions): Promise<TrainResult> {
  const backend = await initTf('wasm', opts.logger);
  const cards = opts.members.map((dir) => readCard(dir));
  const kinds = new Set(cards.map((c) => architectureOf(c) ?? 'an unknown architecture'));
  if (kinds.size !== 1 || !kinds.has('deep'))
    throw new Error(`train:ensemble: the members must all be 'deep' models, got ${[...kinds].join(', ')}`);
  const versions = cards.map((c) => c.version);
  if (new Set(versions).size !== versions.length) throw new Error(`train:ensemble: a member is given twice (${versions.join(', ')})`);
  // the ensemble is calibrated on the first member's split (its card is the base of the new one):
  // a member held out by another split trained on some of those photos
  const splits = cards.map((c) => {
    const split = photoSplitOf(c);
    return split ? JSON.stringify(split) : 'no photos';
  });
  if (new Set(splits).size > 1)
    throw new Error(
      `train:ensemble: the members were not held out by one photo split (${cards.map((c, i) => `${c.version}: ${splits[i]}`).join(', ')})`,
    );
  const models = await Promise.all(opts.members.map((dir) => loadModel(dir)));
  // the last layers are averaged column by column: a label head (label-head.ts) in all members or none
  const heads = models.map((m) => labelColumns(m));
  if (new Set(heads).size > 1) {
    models.forEach((m) => m.dispose());
    throw new Error(
      `train:ensemble: the members do not all name the same labels (${opts.members.map((d, i) => `${d}: ${heads[i] ? `${heads[i]} labels` : 'no label head'}`).join(', ')})`,
    );
  }
  const work = mkdtempSync(join(tmpdir(), 'rv-ensemble-'));
  try {
    const wide = combineMembers(models);
    const saved = await saveModel(wide, work);
    wide.dispose();
    const members = cards.map((c) => {
      const pe = (c as Record<string, any>).photoEvaluation as { strictAccuracy?: number; setAccuracy?: number } | undefined;
      return {
        version: c.version,
        testAccuracy: c.evaluation.accuracy,
        ...(pe ? { photoStrictAccuracy: pe.strictAccuracy, photoSetAccuracy: pe.setAccuracy } : {}),
        training: c.training,
      };
    });
    // The card `train --epochs 0 --init` continues: the members' training, and no calibration of its
    // own (each member's temperature is already in its weights; the ensemble gets a new one).
    const first = cards[0]!;
    const sum = (f: (c: (typeof cards)[number]) => number) => cards.reduce((a, c) => a + f(c), 0);
    const card = {
      ...first,
      version: saved.version,
      createdAt: new Date().toISOString(),
      architecture: { ...first.architecture, summary: ['deep-ensemble: (members combined by pnpm train:ensemble)'] },
      training: {
        ...first.training,
        epochs: 0,
        durationSec: Math.round(sum((c) => c.training.durationSec) * 10) / 10,
        totalEpochs: sum((c) => Number(c.training.totalEpochs ?? c.training.epochs)),
        command: `pnpm train:ensemble${opts.flipAverage ? ' --flip-average' : ''} ${versions.map((v) => `<dir of ${v}>`).join(' ')}`,
        members,
      },
    } as Record<string, unknown>;
    delete card.calibration;
    writeFileSync(join(work, 'model-card.json'), `${JSON.stringify(card, null, 2)}\n`);
    const result = await train({
      arch: 'deep-ensemble',
      epochs: 0,
      batchSize: first.training.batchSize,
      seed: first.training.seed,
      learningRate: first.training.learningRate,
      validation: opts.validation ?? first.training.validationImages,
      flip: false,
      init: work,
      out: opts.out,
      backend,
      workers: 1,
      flipAverage: opts.flipAverage ?? false,
      ...(opts.photos ? { photos: opts.photos } : {}),
      ...(opts.testLimit ? { testLimit: opts.testLimit } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
      ...(opts.progress ? { progress: opts.progress } : {}),
    });
    // what the combined members scored before calibration: the same top-1 answers (T keeps argmax)
    const training = result.card.training as Record<string, any>;
    training.initFrom.testAccuracy = result.card.evaluation.accuracy;
    // how to make it again; the calibration step it ran is train's command
    training.calibrationCommand = training.command;
    training.command = training.initFrom.training.command;
    writeFileSync(join(result.dir, 'model-card.json'), `${JSON.stringify(result.card, null, 2)}\n`);
    // reviews no member trained on travel with the model for the gate, as beside a `--with-reviews` run
    const holdout = mergeReviewHoldouts(opts.members);
    if (holdout) writeHoldoutFile(result.dir, holdout);
    return result;
  } finally {
    models.forEach((m) => m.dispose());
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * `pnpm train:ensemble --split DIR --out OUT`: the members of a combined model as OUT/member-1 … -M
 * (ensemble.ts splitMembers), each a 'deep' model that `pnpm train --init` fine-tunes on its own and
 * `pnpm train:ensemble` combines again: retraining the members costs 1/M of fine-tuning the combined
 * net, whose blocks between members would stop being zero. Each card is the combined model's, with
 * the member's own training record and its own Fashion-MNIST evaluation; it keeps the photo split
 * (a fine-tune must validate on the same held-out senders), and drops the calibration, confidence
 * map and review policy, which were fitted to the combined answers.
 */
export async function splitEnsemble(opts: { dir: string; out: string; testLimit?: number; logger?: Logger }): Promise<string[]> {
  await initTf('wasm', opts.logger);
  const card = readCard(opts.dir) as Record<string, any>;
  const records = ensembleMembersOf(card);
  if (!records) throw new Error(`train:ensemble --split: ${opts.dir} (${card.version}) records no members: it is not a combined model`);
  const wide = await loadModel(opts.dir);
  const parts = splitMembers(wide, records.length);
  wide.dispose();
  const test = await loadFashionMnist('test', { logger: opts.logger });
  const n = Math.min(opts.testLimit ?? test.count, test.count);
  const flipAverage = card.inference?.flipAverage === true;
  const holdout = readReviewHoldout(opts.dir);
  const dirs: string[] = [];
  try {
    for (const [i, part] of parts.entries()) {
      const dir = join(opts.out, `member-${i + 1}`);
      const saved = await saveModel(part, dir);
      const { perClassMeanConfidence: _, ...evaluation } = evaluate(predictTf(part, test.images, n, 1000, flipAverage), test.labels, n);
      const { confidenceMap: __, ...inference } = card.inference ?? {};
      const memberCard: Record<string, unknown> = {
        ...card,
        version: saved.version,
        createdAt: new Date().toISOString(),
        architecture: {
          ...card.architecture,
          summary: [`deep: member ${i + 1} of ${records.length} of ${card.version} (pnpm train:ensemble --split)`],
          why: `Member ${records[i]!.version} as ${card.version} holds it: its last bias is the mean of the members' biases, and the combined model's temperature is in its weights.`,
        },
        training: { ...records[i]!.training, splitFrom: { version: card.version, member: i + 1, originalVersion: records[i]!.version } },
        evaluation: { ...evaluation, testImages: n, engine: 'wasm' },
        inference,
        photoEvaluation: { validationSplit: card.photoEvaluation?.validationSplit },
      };
      delete memberCard.calibration;
      delete memberCard.review;
      delete memberCard.onnx;
      writeFileSync(join(dir, 'model-card.json'), `${JSON.stringify(memberCard, null, 2)}\n`);
      // the reviews the combined model held back stay held back by its members
      if (holdout) writeHoldoutFile(dir, holdout);
      opts.logger?.info('ensemble member written', { dir, version: saved.version, testAccuracy: evaluation.accuracy });
      dirs.push(dir);
    }
  } finally {
    parts.forEach((p) => p.dispose());
  }
  return dirs;
}

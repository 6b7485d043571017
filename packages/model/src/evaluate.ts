/**
 * Evaluates a saved model with the chosen engine on both test sets: the 10,000 Fashion-MNIST test
 * images, and the real photos' validation split (held-out senders) with the card's review policy.
 */
import type { Logger } from '@refund-vision/shared';
import { loadClassifier } from './classifier.ts';
import { loadClothingPhotos, splitBySender, validationSplitOf } from './clothing-photos.ts';
import type { EngineName, BackendChoice } from './engine.ts';
import { loadFashionMnist } from './fashion-mnist.ts';
import { evaluate, type Evaluation } from './metrics.ts';
import { photoArrays } from './photo-arrays.ts';
import { evaluatePhotos, senderIntervals, type PhotoEvaluation, type SenderIntervals } from './photo-metrics.ts';
import type { SenderCrossValidation } from './sender-cross-validation.ts';

export interface PhotoReport extends PhotoEvaluation {
  split: string;
  /** Validation photos that could not be preprocessed (not scored). */
  notPreprocessed: number;
  source: string;
  /** 95 % intervals by resampling senders (the split's figures move with a few senders' photos). */
  bySender95: SenderIntervals;
  /**
   * From the model card (computed when the model was calibrated, from its uncalibrated answers):
   * calibration and thresholds fitted on half the senders, measured on the other half.
   */
  cardSenderCrossValidation?: SenderCrossValidation;
}

export interface EvaluationReport extends Evaluation {
  model: string;
  version: string;
  engine: EngineName;
  /** Wall time of the predictions only, in ms per image. */
  msPerImage: number;
  /** Accuracy the model card claims, for comparison. */
  cardAccuracy: number;
  /** The photo validation split (absent with photos: false). */
  photos?: PhotoReport;
}

export async function evaluateModel(opts: {
  dir: string;
  backend?: BackendChoice;
  limit?: number;
  logger?: Logger;
  /** Also score the photo validation split (default true). */
  photos?: boolean;
  photosDir?: string;
  photoCacheDir?: string | false;
}): Promise<EvaluationReport> {
  const test = await loadFashionMnist('test', { logger: opts.logger });
  const n = Math.min(opts.limit ?? test.count, test.count);
  const clf = await loadClassifier({ dir: opts.dir, backend: opts.backend, logger: opts.logger });
  try {
    await clf.warmup();
    const t0 = performance.now();
    const probs = await clf.predict(test.images.subarray(0, n * 784), n);
    const ms = performance.now() - t0;
    const ev = evaluate(probs, test.labels.subarray(0, n));
    let photos: PhotoReport | undefined;
    if (opts.photos !== false) {
      const data = await loadClothingPhotos({ dir: opts.photosDir, logger: opts.logger });
      const split = validationSplitOf(clf.card);
      const val = splitBySender(data.photos, split).validation;
      const arr = await photoArrays(val, { cacheDir: opts.photoCacheDir, logger: opts.logger });
      const keep = val.filter((_, i) => arr.ok[i] === 1);
      const px = new Uint8Array(keep.length * 784);
      let k = 0;
      val.forEach((_, i) => {
        if (arr.ok[i]) px.set(arr.pixels.subarray(i * 784, (i + 1) * 784), k++ * 784);
      });
      const { probs: pp, labels } = await clf.predictRows(px, keep.length);
      // a policy scoring by the label head reads its probabilities (label-rows.ts)
      const sets = clf.card.review?.labelSets;
      const head = labels && sets ? { probs: labels, sets } : undefined;
      photos = {
        split: `photo validation split (held-out senders, ${Math.round(split.share * 100)} %${split.maxSenderShare < 1 ? `, no sender above ${Math.round(split.maxSenderShare * 100)} % of it` : ''})`,
        notPreprocessed: val.length - keep.length,
        source: data.source.replace(/^.*\/(?=[^/]+\/[^/]+$)/, '…/'),
        ...evaluatePhotos(pp, keep, clf.card.review, head),
        bySender95: senderIntervals(pp, keep, clf.card.review, head ? { head } : {}),
        cardSenderCrossValidation: (clf.card as { photoEvaluation?: { senderCrossValidation?: SenderCrossValidation } }).photoEvaluation
          ?.senderCrossValidation,
      };
    }
    return {
      model: clf.card.name,
      version: clf.version,
      engine: clf.engine,
      msPerImage: Math.round((ms / n) * 1e4) / 1e4,
      cardAccuracy: clf.card.evaluation.accuracy,
      ...ev,
      ...(photos ? { photos } : {}),
    };
  } finally {
    await clf.dispose();
  }
}

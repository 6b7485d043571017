/**
 * The items a candidate and the champion are compared on: the Fashion-MNIST test set, the real-photo
 * validation split (when the photo loader provides it) and the reviewed items held back from
 * training (`review-holdout.json` beside a model trained with --with-reviews). Each set says, per
 * item, whether an answer is right, so both models are judged by one rule.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { batchReviewReason, decodePixels, NUM_CLASSES, PIXELS_PER_IMAGE } from '@refund-vision/shared';
import type { Classifier } from './classifier.ts';
import { loadClothingPhotos, splitBySender, VALIDATION_SPLIT, type ValidationSplit } from './clothing-photos.ts';
import { loadFashionMnist } from './fashion-mnist.ts';
import { photoArrays } from './photo-arrays.ts';
import type { ServedRows } from './label-rows.ts';
import { setCorrect } from './photo-metrics.ts';
import type { PairedOutcomes } from './gate.ts';
import { argmaxRow } from './metrics.ts';

export interface EvalSet {
  name: string;
  n: number;
  pixels: Uint8Array;
  /** Is this answer (row `i` of `model`'s N×10 probabilities, and its label head's when it has one) right for item i? */
  isCorrect(rows: ServedRows, i: number, model: Classifier): boolean;
  /** Reported in the gate's report, not judged (gate.ts PairedOutcomes.reportedOnly). */
  reportedOnly?: boolean;
}

/**
 * An item no class fits is answered right when the model's own card policy sends it to a person, for
 * either reason: that is what keeps a wrong class from being accepted (issue #9's target counts
 * out-of-scope photos flagged for review). Which reason it reads is the review policy's choice, which
 * also weighs the known items it would call "out-of-scope"; counting only that reason here made a
 * policy that names known items better look worse (20 photos of 165 flagged "low-confidence" instead).
 */
export function sentToPerson({ probs, labels }: ServedRows, i: number, model: Pick<Classifier, 'card'>): boolean {
  const policy = model.card.review;
  return !!policy && batchReviewReason(probs, i, policy, labels) !== undefined;
}

export async function fashionMnistTestSet(limit?: number): Promise<EvalSet> {
  const test = await loadFashionMnist('test');
  const n = Math.min(limit ?? test.count, test.count);
  return {
    name: 'fashion-mnist test',
    n,
    pixels: test.images.subarray(0, n * PIXELS_PER_IMAGE),
    isCorrect: ({ probs }, i) => argmaxRow(probs, i).index === test.labels[i],
  };
}

/**
 * The real-photo validation split (by sender, as training holds it out), through the shared
 * preprocessing cache: the answers, judged (an in-scope photo's top class is one of its label's
 * classes; an out-of-scope photo is sent to a person, sentToPerson), and two sets REPORTED beside
 * them, not judged, on what each card's review policy lets through without a person:
 * "accepted right" (the work saved) and "no wrong accepted" (what a refund department pays for).
 * Why not judged: each card's thresholds were chosen on these photos, so a candidate whose thresholds
 * fit them more closely looks better here without being better on new senders; and thresholds chosen
 * on half the senders instead move so much between halves (one sender is half of the uncapped split)
 * that one such split called a candidate worse at p = 1e-8 whose five-shuffle cross-validation (its
 * card) was within a point of the champion's. Paired per photo, McNemar cannot see that noise.
 */
export async function photoValidationSets(opts: { limit?: number; splits?: readonly ValidationSplit[] } = {}): Promise<EvalSet[]> {
  const data = await loadClothingPhotos();
  // photos held out from every model compared (each card names the split its model was held out by)
  const held = (opts.splits?.length ? opts.splits : [VALIDATION_SPLIT]).map(
    (s) => new Set(splitBySender(data.photos, s).validation.map((p) => p.id)),
  );
  const all = data.photos.filter((p) => held.every((h) => h.has(p.id)));
  const chosen = opts.limit ? all.slice(0, opts.limit) : all;
  const arrays = await photoArrays(chosen, { variants: 1 });
  // A photo that cannot be preprocessed is no answer from either model: leave it out of the pairing.
  const photos = chosen.filter((_, i) => arrays.ok[i] === 1);
  const pixels = new Uint8Array(photos.length * PIXELS_PER_IMAGE);
  let k = 0;
  chosen.forEach((_, i) => {
    if (arrays.ok[i] === 1) pixels.set(arrays.pixels.subarray(i * PIXELS_PER_IMAGE, (i + 1) * PIXELS_PER_IMAGE), k++ * PIXELS_PER_IMAGE);
  });
  const right = (probs: Float32Array, i: number) => !photos[i]!.outOfScope && setCorrect(probs, i, photos[i]!);
  const set = (name: string, isCorrect: EvalSet['isCorrect'], reportedOnly = false): EvalSet => ({
    name,
    n: photos.length,
    pixels,
    isCorrect,
    ...(reportedOnly ? { reportedOnly } : {}),
  });
  return [
    set('photo validation', (rows, i, model) => (photos[i]!.outOfScope ? sentToPerson(rows, i, model) : right(rows.probs, i))),
    set('photo validation, accepted right', (rows, i, model) => right(rows.probs, i) && !sentToPerson(rows, i, model), true),
    set('photo validation, no wrong accepted', (rows, i, model) => right(rows.probs, i) || sentToPerson(rows, i, model), true),
  ];
}

export const REVIEW_HOLDOUT_FILE = 'review-holdout.json';

/** A reviewed item kept out of training: the 28×28 the model saw and what the person decided. */
export const HeldOutReview = z.object({
  id: z.string(),
  pixels: z.string(),
  /** The decided class, or null for "none of these classes" (out of scope). */
  classIndex: z
    .number()
    .int()
    .min(0)
    .max(NUM_CLASSES - 1)
    .nullable(),
});
export const ReviewHoldout = z.object({ createdAt: z.string(), share: z.number(), items: z.array(HeldOutReview) });
export type ReviewHoldout = z.infer<typeof ReviewHoldout>;

/**
 * Right means: the decided class is the top answer, or — for "none of these" — the model sent the item
 * to a person (sentToPerson).
 */
export function reviewHoldoutSet(holdout: ReviewHoldout): EvalSet {
  const n = holdout.items.length;
  const pixels = new Uint8Array(n * PIXELS_PER_IMAGE);
  holdout.items.forEach((it, i) => pixels.set(decodePixels(it.pixels).subarray(0, PIXELS_PER_IMAGE), i * PIXELS_PER_IMAGE));
  return {
    name: 'held-back reviews',
    n,
    pixels,
    isCorrect: (rows, i, model) => {
      const want = holdout.items[i]!.classIndex;
      return want === null ? sentToPerson(rows, i, model) : argmaxRow(rows.probs, i).index === want;
    },
  };
}

export function readReviewHoldout(modelDir: string): ReviewHoldout | null {
  const path = join(modelDir, REVIEW_HOLDOUT_FILE);
  if (!existsSync(path)) return null;
  return ReviewHoldout.parse(JSON.parse(readFileSync(path, 'utf8')));
}

/** Writes the held-back file beside a model (reviews-data.ts makes it from reviewed items). */
export function writeHoldoutFile(modelDir: string, file: ReviewHoldout): ReviewHoldout {
  writeFileSync(join(modelDir, REVIEW_HOLDOUT_FILE), JSON.stringify(file));
  return file;
}

/** Both models answer every set; the outcomes come back paired for the gate. */
export async function pairOutcomes(champion: Classifier, candidate: Classifier, sets: EvalSet[]): Promise<PairedOutcomes[]> {
  const out: PairedOutcomes[] = [];
  for (const set of sets) {
    const judge = async (m: Classifier) => {
      const rows = await m.predictRows(set.pixels, set.n);
      return Array.from({ length: set.n }, (_, i) => set.isCorrect(rows, i, m));
    };
    out.push({
      name: set.name,
      champion: await judge(champion),
      candidate: await judge(candidate),
      ...(set.reportedOnly ? { reportedOnly: true } : {}),
    });
  }
  return out;
}

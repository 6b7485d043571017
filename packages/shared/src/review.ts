/**
 * "Needs a person": the review reasons a prediction can carry, and the policy that decides the
 * model-side ones. The thresholds live in the model card (`review`), chosen on the photo
 * validation split to a stated target; this module only applies them, so the API, the evaluation
 * and the training report decide the same way.
 */
import { z } from 'zod';
import { NUM_CLASSES } from './classes.ts';

/**
 * Why a person should look. `mismatch`: the order (manifest/labels) expected another class;
 * `out-of-scope`: the model sees none of its classes; `low-confidence`: a known class, but doubtful.
 */
export const ReviewReason = z.enum(['mismatch', 'out-of-scope', 'low-confidence']);
export type ReviewReason = z.infer<typeof ReviewReason>;

/** Queue order: mismatches first, then out-of-scope, then low confidence. */
export const REVIEW_REASON_ORDER: readonly ReviewReason[] = ['mismatch', 'out-of-scope', 'low-confidence'];

export const ReviewPolicy = z
  .object({
    /**
     * Out-of-scope: `entropy` is the normalised entropy (0–1) of the probabilities, flagged at or
     * above the threshold; `maxProb` flags when the highest probability is below the threshold;
     * `labelHead` flags when the label head gives the out-of-scope labels (empty `labelSets`)
     * together at least the threshold.
     */
    outOfScope: z.object({ score: z.enum(['entropy', 'maxProb', 'labelHead']), threshold: z.number().min(0).max(1) }).nullable(),
    /**
     * Low confidence: highest probability (`maxProb`), top-1 minus top-2 (`margin`), or the label
     * head's probability that the answer is right (`labelHead`: the labels whose classes include the
     * answer, together) below the threshold.
     */
    lowConfidence: z.object({ score: z.enum(['maxProb', 'margin', 'labelHead']), threshold: z.number().min(0).max(1) }),
    /**
     * For the `labelHead` scores: the classes each label of the net's label head can honestly be, in
     * the head's column order (the card's `inference.labelHead.labels`); empty = out of scope.
     */
    labelSets: z.array(z.array(z.number().int().min(0).max(9))).optional(),
    /** What the thresholds were chosen for, in words (e.g. "auto-accepted photos ≥ 95 % correct"). */
    target: z.string(),
  })
  .passthrough();
export type ReviewPolicy = z.infer<typeof ReviewPolicy>;

/** Normalised entropy of a probability vector: 0 for a one-hot answer, 1 for the uniform one. */
export function normalisedEntropy(probs: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i]!;
    if (p > 0) h -= p * Math.log(p);
  }
  return probs.length > 1 ? h / Math.log(probs.length) : 0;
}

function topTwo(probs: ArrayLike<number>): [number, number] {
  let a = -Infinity;
  let b = -Infinity;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i]!;
    if (p > a) [a, b] = [p, a];
    else if (p > b) b = p;
  }
  return [a, b === -Infinity ? 0 : b];
}

function argmax(probs: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < probs.length; i++) if (probs[i]! > probs[best]!) best = i;
  return best;
}

/**
 * A label head's two review scores for one image (packages/model/README.md, "a head that names the
 * photo's label"): a Shoes photo is right as any shoe class, so the answer's own probability, shared
 * across the set, undersells a sure answer; the head's labels say how likely the answer is right.
 * `right`: the probability of the labels whose classes include `answer`; `outOfScope`: of the labels
 * with none.
 */
export function labelHeadScores(
  answer: number,
  labels: ArrayLike<number>,
  sets: readonly (readonly number[])[],
): { right: number; outOfScope: number } {
  if (labels.length !== sets.length) throw new Error(`${labels.length} label probabilities for ${sets.length} label sets`);
  let right = 0;
  let outOfScope = 0;
  for (let l = 0; l < sets.length; l++) {
    const set = sets[l]!;
    if (!set.length) outOfScope += labels[l]!;
    else if (set.includes(answer)) right += labels[l]!;
  }
  return { right, outOfScope };
}

/**
 * The model-side review reason for one prediction's probabilities, or undefined when it can be
 * trusted. `labels`: the label head's probabilities for the same image, which a policy with a
 * `labelHead` score needs (an error without them: the policy cannot be applied).
 */
export function modelReviewReason(probs: ArrayLike<number>, policy: ReviewPolicy, labels?: ArrayLike<number>): ReviewReason | undefined {
  const [p1, p2] = topTwo(probs);
  const oos = policy.outOfScope;
  const low = policy.lowConfidence;
  let head: { right: number; outOfScope: number } | undefined;
  if (oos?.score === 'labelHead' || low.score === 'labelHead') {
    if (!labels || !policy.labelSets)
      throw new Error('the review policy scores by the label head, but no label probabilities or label sets were given');
    head = labelHeadScores(argmax(probs), labels, policy.labelSets);
  }
  if (oos) {
    const flagged =
      oos.score === 'entropy'
        ? normalisedEntropy(probs) >= oos.threshold
        : oos.score === 'maxProb'
          ? p1 < oos.threshold
          : head!.outOfScope >= oos.threshold;
    if (flagged) return 'out-of-scope';
  }
  const score = low.score === 'maxProb' ? p1 : low.score === 'margin' ? p1 - p2 : head!.right;
  return score < low.threshold ? 'low-confidence' : undefined;
}

/**
 * The model-side reason for image `i` of a batch: its N×10 probabilities and, for a policy scoring by
 * the label head, its N×L label rows (L = the policy's `labelSets`).
 */
export function batchReviewReason(probs: Float32Array, i: number, policy: ReviewPolicy, labels?: Float32Array): ReviewReason | undefined {
  const width = policy.labelSets?.length ?? 0;
  return modelReviewReason(probs.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES), policy, labels?.subarray(i * width, (i + 1) * width));
}

/**
 * GET /v1/reviews/training-set: every reviewed item with its latest decision, for
 * `pnpm train --with-reviews`. `classIndex` null means "none of these classes" (out of scope).
 */
export const ReviewedItem = z.object({
  /** The review item's id (stable: the held-back split is decided from it). */
  id: z.string(),
  /** base64 of the 784 bytes the model saw. */
  pixels: z.string(),
  classIndex: z.number().int().min(0).max(9).nullable(),
  decidedAt: z.string(),
  decidedBy: z.string(),
  /** The model version that made the reviewed prediction. */
  modelVersion: z.string(),
});
export type ReviewedItem = z.infer<typeof ReviewedItem>;
export const TrainingSetResponse = z.object({ items: z.array(ReviewedItem) });
export type TrainingSetResponse = z.infer<typeof TrainingSetResponse>;

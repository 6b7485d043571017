/**
 * "Needs a person": the review reasons a prediction can carry, and the policy that decides the
 * model-side ones. The thresholds live in the model card (`review`), chosen on the photo
 * validation split to a stated target; this module only applies them, so the API, the evaluation
 * and the training report decide the same way.
 */
import { z } from 'zod';

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
     * above the threshold; `maxProb` flags when the highest probability is below the threshold.
     */
    outOfScope: z.object({ score: z.enum(['entropy', 'maxProb']), threshold: z.number().min(0).max(1) }).nullable(),
    /** Low confidence: highest probability (`maxProb`) or top-1 minus top-2 (`margin`) below the threshold. */
    lowConfidence: z.object({ score: z.enum(['maxProb', 'margin']), threshold: z.number().min(0).max(1) }),
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

/** The model-side review reason for one prediction's probabilities, or undefined when it can be trusted. */
export function modelReviewReason(probs: ArrayLike<number>, policy: ReviewPolicy): ReviewReason | undefined {
  const [p1, p2] = topTwo(probs);
  const oos = policy.outOfScope;
  if (oos) {
    const flagged = oos.score === 'entropy' ? normalisedEntropy(probs) >= oos.threshold : p1 < oos.threshold;
    if (flagged) return 'out-of-scope';
  }
  const low = policy.lowConfidence;
  const score = low.score === 'maxProb' ? p1 : p1 - p2;
  return score < low.threshold ? 'low-confidence' : undefined;
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

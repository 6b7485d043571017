/**
 * "Needs a person", served: which review reason each answer carries. The order's expected class
 * (the image's label) comes first: an answer that contradicts the order is a `mismatch` whatever
 * the model thinks of it. Otherwise the model card's policy decides (out-of-scope, low confidence);
 * a card without one (trained before real photos) gets only the low-confidence rule from config.
 */
import { NUM_CLASSES, batchReviewReason, type Config, type ModelCard, type ReviewPolicy, type ReviewReason } from '@refund-vision/shared';

export function reviewPolicyOf(card: Pick<ModelCard, 'review'>, cfg: Config['review']): ReviewPolicy {
  return (
    card.review ?? {
      outOfScope: null,
      lowConfidence: { score: 'maxProb', threshold: cfg.lowConfidence },
      target: `no policy in the model card: highest probability below ${cfg.lowConfidence} (config review.lowConfidence)`,
    }
  );
}

/**
 * Queue order within a reason, lower first: a mismatch by the probability the model gives the
 * ordered class (the surest contradiction first), out-of-scope by the top probability, low
 * confidence by the margin between the top two.
 */
export function reviewPriority(probs: Float32Array, i: number, reason: ReviewReason, expected: number | undefined): number {
  const row = probs.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES);
  if (reason === 'mismatch' && expected !== undefined) return row[expected]!;
  let a = 0;
  let b = 0;
  for (const p of row)
    if (p > a) [a, b] = [p, a];
    else if (p > b) b = p;
  return reason === 'out-of-scope' ? a : a - b;
}

/**
 * The reason for image `i` of a batch of probabilities (N×10), or null when it can be trusted.
 * `labels`: the batch's label-head probabilities (N×L), which a policy scoring by the head reads.
 */
export function reviewReasonAt(
  probs: Float32Array,
  i: number,
  predicted: number,
  expected: number | undefined,
  policy: ReviewPolicy,
  labels?: Float32Array,
): ReviewReason | null {
  if (expected !== undefined && expected !== predicted) return 'mismatch';
  return batchReviewReason(probs, i, policy, labels) ?? null;
}

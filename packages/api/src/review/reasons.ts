/**
 * "Needs a person", served: which review reason each answer carries. The order's expected class
 * (the image's label) comes first: an answer that contradicts the order is a `mismatch` whatever
 * the model thinks of it. Otherwise the model card's policy decides (out-of-scope, low confidence);
 * a card without one (trained before real photos) gets only the low-confidence rule from config.
 */
import { NUM_CLASSES, modelReviewReason, type Config, type ModelCard, type ReviewPolicy, type ReviewReason } from '@refund-vision/shared';

export function reviewPolicyOf(card: Pick<ModelCard, 'review'>, cfg: Config['review']): ReviewPolicy {
  return (
    card.review ?? {
      outOfScope: null,
      lowConfidence: { score: 'maxProb', threshold: cfg.lowConfidence },
      target: `no policy in the model card: highest probability below ${cfg.lowConfidence} (config review.lowConfidence)`,
    }
  );
}

/** The reason for image `i` of a batch of probabilities (N×10), or null when it can be trusted. */
export function reviewReasonAt(
  probs: Float32Array,
  i: number,
  predicted: number,
  expected: number | undefined,
  policy: ReviewPolicy,
): ReviewReason | null {
  if (expected !== undefined && expected !== predicted) return 'mismatch';
  return modelReviewReason(probs.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES), policy) ?? null;
}

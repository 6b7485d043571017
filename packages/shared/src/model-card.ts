/**
 * model-card.json, written by `pnpm train`, read by the API (metadata, health baselines)
 * and the dashboard. `monitoring` holds the figures each run is compared against.
 */
import { z } from 'zod';
import { ReviewPolicy } from './review.ts';

const Vec10 = z.array(z.number()).length(10);

const PlattParams = z.object({ a: z.number().positive(), b: z.number() });
/**
 * Platt scaling of the top-1 probability (see ModelCard.inference.confidenceMap): a, b for every
 * answer, or per answered class when `perClass` is there (ten pairs, class index order).
 */
export const ConfidenceMap = PlattParams.extend({ method: z.literal('platt-top1'), perClass: z.array(PlattParams).length(10).optional() });
export type ConfidenceMap = z.infer<typeof ConfidenceMap>;

export const ModelCard = z
  .object({
    name: z.string(),
    /** Content hash of the weights (sha-256, first 12 hex digits): the model version. */
    version: z.string(),
    createdAt: z.string(),
    architecture: z.object({ summary: z.array(z.string()), params: z.number().int(), flopsPerImage: z.number(), why: z.string() }),
    training: z
      .object({
        epochs: z.number().int(),
        batchSize: z.number().int(),
        optimizer: z.string(),
        learningRate: z.number(),
        seed: z.number().int(),
        backend: z.string(),
        durationSec: z.number(),
        trainImages: z.number().int(),
        validationImages: z.number().int(),
        augmentation: z.string().optional(),
      })
      .passthrough(),
    data: z.object({ source: z.string(), checksums: z.record(z.string(), z.string()) }).passthrough(),
    evaluation: z
      .object({
        testImages: z.number().int(),
        accuracy: z.number(),
        perClass: z
          .array(z.object({ className: z.string(), precision: z.number(), recall: z.number(), meanConfidence: z.number() }))
          .length(10),
        confusion: z.array(Vec10).length(10),
        ece: z.number(),
        meanConfidence: z.number(),
      })
      .passthrough(),
    monitoring: z.object({
      /** Mean max-probability on the test set, overall and per predicted class. */
      meanConfidence: z.number(),
      perClassMeanConfidence: Vec10,
      /** Class shares of the training labels (sums to 1). */
      classDistribution: Vec10,
      /** Training-set pixel statistics on the 0–1 scale. */
      pixelMean: z.number(),
      pixelStd: z.number(),
      /** Share of training pixels below 10/255. */
      nearZeroShare: z.number(),
      /** Spread of per-image statistics, so drift can be measured in standard deviations. */
      imageMeanStd: z.number(),
      imageNearZeroStd: z.number(),
      /**
       * The same figures on the real-photo validation split. When present, the API judges a run of
       * mostly photos against these instead of the Fashion-MNIST ones (a run of unfamiliar items
       * then looks unfamiliar instead of "healthy but unsure").
       */
      photos: z
        .object({
          meanConfidence: z.number(),
          classDistribution: Vec10,
          pixelMean: z.number(),
          pixelStd: z.number(),
          nearZeroShare: z.number(),
          imageMeanStd: z.number(),
          imageNearZeroStd: z.number(),
        })
        .passthrough()
        .optional(),
    }),
    /**
     * When a prediction goes to a person (thresholds chosen on the photo validation split).
     * Absent on cards of models trained before real photos: then only low confidence (config) applies.
     */
    review: ReviewPolicy.optional(),
    /**
     * How an image is answered. flipAverage: the image and its mirror image both go through the net
     * and their logits are averaged (test-time augmentation; every engine does it, the ONNX export in
     * its graph). Absent = one pass.
     */
    inference: z
      .object({
        flipAverage: z.boolean(),
        /**
         * A map of the served confidence (the top-1 probability p): p' = σ(a·logit p + b), the other
         * classes rescaled to sum to 1 − p' (order kept). Fitted on the photo validation split after
         * the temperature; every engine applies it (classifier.ts). Absent = the softmax as it is.
         */
        confidenceMap: ConfidenceMap.optional(),
        /**
         * The net also names the photo's label (packages/model/src/label-head.ts): its output is one
         * softmax over the 10 classes followed by these labels; the answers are the first part.
         */
        labelHead: z.object({ labels: z.array(z.string()).min(2), weight: z.number().positive() }).optional(),
      })
      .passthrough()
      .optional(),
  })
  .passthrough();
export type ModelCard = z.infer<typeof ModelCard>;

/** Pixel below this (of 255) counts as "near zero" — background in Fashion-MNIST terms. */
export const NEAR_ZERO_THRESHOLD = 10;

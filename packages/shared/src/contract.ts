/**
 * The wire contract between the client and the API. Both sides import these schemas;
 * the TypeScript types are inferred from them, so there is one definition of each message.
 */
import { z } from 'zod';
import { NUM_CLASSES, PIXELS_PER_IMAGE } from './classes.ts';
import { ReviewReason } from './review.ts';

/** Upper bound on images in one /v1/predict batch; the client's default batch is 256. */
export const MAX_BATCH_IMAGES = 1024;

export const RunKey = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'run key: 1–128 characters of A–Z a–z 0–9 . _ : -');
export const ClassIndex = z
  .number()
  .int()
  .min(0)
  .max(NUM_CLASSES - 1);
export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'sha-256 as 64 lowercase hex digits');
export const RunSource = z.enum(['client', 'legacy', 'v2', 'upload']);
export type RunSource = z.infer<typeof RunSource>;

export const ImageMeta = z
  .object({
    /** The client's name for the image, usually its path relative to the inbox. */
    id: z.string().min(1).max(512),
    group: z.string().max(256).optional(),
    hash: Sha256Hex.optional(),
    /** True class when known (labels.csv, class-named folder, or manifest's expected class). */
    label: ClassIndex.optional(),
    /**
     * What preprocessing saw: a photo on a light background, or a dataset-like image. The API
     * judges a run of photos against the model card's photo baselines.
     */
    kind: z.enum(['photo', 'dataset']).optional(),
  })
  .strict();
export type ImageMeta = z.infer<typeof ImageMeta>;

/**
 * POST /v1/predict. `pixels` is base64 of N×784 uint8 bytes, row-major, image after image:
 * 1,046 bytes of base64 per image against ~6,145 for the old pandas JSON.
 */
export const PredictRequest = z
  .object({
    runKey: RunKey,
    batchIndex: z.number().int().min(0).max(1_000_000),
    source: RunSource.default('client'),
    images: z.array(ImageMeta).min(1).max(MAX_BATCH_IMAGES),
    // The JSON-schema hints only document the field; the check itself is in superRefine below.
    pixels: z.string().meta({ format: 'byte', description: 'standard padded base64 (RFC 4648 §4) of N×784 uint8, row-major' }),
  })
  .strict()
  .superRefine((req, ctx) => {
    const expected = Math.ceil((req.images.length * PIXELS_PER_IMAGE) / 3) * 4;
    // Length first: it is free, and a wrong-sized payload is never worth decoding.
    if (req.pixels.length !== expected) {
      ctx.addIssue({
        code: 'custom',
        path: ['pixels'],
        message: `expected base64 of ${req.images.length}×${PIXELS_PER_IMAGE} bytes (${expected} characters), got ${req.pixels.length}`,
      });
      return;
    }
    const problem = base64Problem(req.pixels, req.images.length * PIXELS_PER_IMAGE);
    if (problem) ctx.addIssue({ code: 'custom', path: ['pixels'], message: problem });
  });
export type PredictRequest = z.input<typeof PredictRequest>;
export type PredictRequestParsed = z.output<typeof PredictRequest>;

export const TopK = z.object({ classIndex: ClassIndex, className: z.string(), confidence: z.number() });
export type TopK = z.infer<typeof TopK>;

export const Prediction = z.object({
  /** Server-side id of the stored prediction (for feedback). */
  predictionId: z.number().int().optional(),
  id: z.string(),
  classIndex: ClassIndex,
  className: z.string(),
  confidence: z.number(),
  top3: z.array(TopK),
  /**
   * Why a person should look at this answer (`mismatch` with the sent label first, then the model
   * card's out-of-scope and low-confidence rules); null when the answer can be trusted. Absent in
   * answers stored before reasons existed.
   */
  review: ReviewReason.nullable().optional(),
});
export type Prediction = z.infer<typeof Prediction>;

export const PredictResponse = z.object({
  runKey: RunKey,
  batchIndex: z.number().int(),
  modelVersion: z.string(),
  /** True when this answer is the stored one for a batch already recorded. */
  replayed: z.boolean(),
  predictions: z.array(Prediction),
  timing: z.object({ inferenceMs: z.number(), totalMs: z.number(), perImageMs: z.number() }),
});
export type PredictResponse = z.infer<typeof PredictResponse>;

/** POST /v1/runs/:runKey/complete — the client closes the run so run-level metrics are final. */
export const CompleteRunRequest = z
  .object({
    /** Images the client found but could not send (unreadable, corrupt …). */
    failures: z.number().int().min(0).default(0),
    /** Client wall time for the whole run, preprocessing included. */
    processMs: z.number().min(0).optional(),
    imagesSeen: z.number().int().min(0).optional(),
  })
  .strict();
export type CompleteRunRequest = z.input<typeof CompleteRunRequest>;

export const HealthStatus = z.enum(['OK', 'WARN', 'ALERT']);
export type HealthStatus = z.infer<typeof HealthStatus>;

export const HealthCheck = z.object({
  name: z.string(),
  status: HealthStatus,
  value: z.number().nullable(),
  baseline: z.number().nullable(),
  message: z.string(),
});
export type HealthCheck = z.infer<typeof HealthCheck>;

export const ClassBreakdown = z.object({
  classIndex: ClassIndex,
  className: z.string(),
  count: z.number().int(),
  meanConfidence: z.number().nullable(),
});

export const RunSummary = z.object({
  id: z.number().int(),
  runKey: z.string(),
  source: RunSource,
  modelVersion: z.string(),
  status: z.enum(['open', 'completed']),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  images: z.number().int(),
  failures: z.number().int(),
  processMs: z.number().nullable(),
  inferenceMs: z.number(),
  msPerPrediction: z.number().nullable(),
  meanConfidence: z.number().nullable(),
  /** Share of labelled predictions that were right; null when no label was sent. Never a confidence. */
  accuracy: z.number().nullable(),
  labelled: z.number().int(),
  feedbackAccuracy: z.number().nullable().optional(),
  /**
   * What the model expects its accuracy to be: the mean of its (calibrated) confidences. Beside
   * `accuracy`, never instead of it.
   */
  estimatedAccuracy: z.number().nullable().optional(),
  /** Predictions per review reason (absent reasons count 0). */
  reviews: z.object({ mismatch: z.number().int(), 'out-of-scope': z.number().int(), 'low-confidence': z.number().int() }).optional(),
  /** Images that preprocessing called photos; a run of mostly photos is judged against photo baselines. */
  photos: z.number().int().optional(),
  health: HealthStatus.nullable().optional(),
  perClass: z.array(ClassBreakdown),
  checks: z.array(HealthCheck).optional(),
});
export type RunSummary = z.infer<typeof RunSummary>;

/** One stored prediction in GET /v1/runs/:id, with a person's feedback on it. */
export const RunPrediction = z.object({
  predictionId: z.number().int(),
  batchIndex: z.number().int(),
  position: z.number().int(),
  id: z.string(),
  group: z.string().nullable(),
  hash: z.string().nullable(),
  classIndex: ClassIndex,
  className: z.string(),
  confidence: z.number(),
  top3: z.array(TopK),
  label: ClassIndex.nullable(),
  review: ReviewReason.nullable(),
  /** The class a person says is right; null without feedback and when they said none fits. */
  feedbackClass: ClassIndex.nullable(),
  /** A reviewer said none of the classes is right: the answer counts as wrong in measured accuracy. */
  feedbackNone: z.boolean(),
  /** The model version that made this prediction. */
  modelVersion: z.string(),
  createdAt: z.string(),
});
export type RunPrediction = z.infer<typeof RunPrediction>;

/** GET /v1/runs/:id — the run and a page of its predictions. */
export const RunDetailResponse = z.object({ run: RunSummary, predictions: z.array(RunPrediction), nextCursor: z.string().nullable() });
export type RunDetailResponse = z.infer<typeof RunDetailResponse>;

/** The JSON error body every 4xx/5xx carries. */
export const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }) });
export type ErrorBody = z.infer<typeof ErrorBody>;

/**
 * True when `s` is exactly the padded standard base64 of some bytes: only A–Z a–z 0–9 + /, '='
 * only as the final padding, the right amount of it, and zero unused bits in the last character.
 * Node's decoder skips anything it does not understand, so decoding and re-encoding gives `s`
 * back exactly when `s` is canonical. Measured on a 100-image payload (104,536 characters): ~50 µs,
 * against ~370 µs for a lookup-table loop and ~1 ms for a character-class regex.
 */
export function isCanonicalBase64(s: string): boolean {
  return s.length % 4 === 0 && Buffer.from(s, 'base64').toString('base64') === s;
}

const BASE64_CHAR = /[A-Za-z0-9+/]/;

const paddingOf = (s: string) => (s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0);

/**
 * Why `s` is not the canonical base64 of `byteLength` bytes (of any length when omitted), or
 * undefined when it is. The slow part runs only when something is wrong.
 */
export function base64Problem(s: string, byteLength?: number): string | undefined {
  // With the character count right, the padding alone tells how many bytes the text holds.
  const wantPad = byteLength === undefined ? undefined : (3 - (byteLength % 3)) % 3;
  if (isCanonicalBase64(s)) {
    if (wantPad === undefined || paddingOf(s) === wantPad) return undefined;
    if (s.length === Math.ceil(byteLength! / 3) * 4) {
      return `not base64 of ${byteLength} bytes: it ends in ${paddingOf(s)} '=' where ${wantPad} belong`;
    }
  }
  const what = (p: string) => `not base64: ${p}`;
  if (s.length % 4 !== 0) return what(`length ${s.length} is not a multiple of 4`);
  const pad = paddingOf(s);
  for (let i = 0; i < s.length - pad; i++) {
    const c = s[i]!;
    if (c === '=') return what(`'=' at ${i} before the end (padding goes last, at most two)`);
    if (!BASE64_CHAR.test(c)) return what(`character ${JSON.stringify(c)} at ${i} is outside A–Z a–z 0–9 + /`);
  }
  return what('the padding or the last character is wrong (unused bits must be zero)');
}

export function encodePixels(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export function decodePixels(b64: string): Uint8Array {
  const buf = Buffer.from(b64, 'base64');
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

// ---- the review queue (#10) -------------------------------------------------------------------

/** Who decides: the name the review page asked for (or a script's name). */
export const ReviewerName = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[^\x00-\x1f\x7f]+$/, 'reviewer: no control characters');

/**
 * POST /v1/reviews/thumbnails — the client's second request, only for images answered with a
 * review reason: a small photo (≤ ~160 px, WebP or JPEG) per prediction id, so a person can judge
 * the item itself. Sent after the batch; an item whose thumbnail never arrives is still reviewable.
 */
export const MAX_THUMBNAIL_BYTES = 48 * 1024;
export const ThumbnailsRequest = z
  .object({
    items: z
      .array(
        z
          .object({
            predictionId: z.number().int().min(1),
            type: z.enum(['image/webp', 'image/jpeg']),
            data: z
              .string()
              .max(Math.ceil(MAX_THUMBNAIL_BYTES / 3) * 4)
              .refine(isCanonicalBase64, 'data: canonical padded base64'),
          })
          .strict(),
      )
      .min(1)
      .max(MAX_BATCH_IMAGES),
  })
  .strict();
export type ThumbnailsRequest = z.infer<typeof ThumbnailsRequest>;

/** POST /v1/reviews/claim (the next item) and /v1/reviews/{id}/claim, /release. */
export const ReviewClaimRequest = z
  .object({
    reviewer: ReviewerName,
    /** Items this reviewer skipped: not offered again by /claim. */
    exclude: z.array(z.number().int().min(1)).max(1000).optional(),
  })
  .strict();

/**
 * POST /v1/reviews/{id}/decision: a class, "none of these classes", "confirm" (the model's
 * answer), or "undo" (the item's latest decision stops counting). Every one is a new audit row.
 */
export const ReviewDecisionRequest = z
  .object({
    decision: z.enum(['class', 'none', 'confirm', 'undo']),
    classIndex: ClassIndex.optional(),
    reviewer: ReviewerName,
    /** Seconds the reviewer spent on the item. */
    secondsSpent: z.number().min(0).max(86_400).optional(),
  })
  .strict()
  .refine((d) => (d.decision === 'class') === (d.classIndex !== undefined), {
    message: 'classIndex: required with decision "class", not allowed otherwise',
    path: ['classIndex'],
  });
export type ReviewDecisionRequest = z.infer<typeof ReviewDecisionRequest>;

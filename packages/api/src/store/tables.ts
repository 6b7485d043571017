/**
 * The store's tables as Kysely sees them: one row type per table, the same on SQLite and Postgres.
 * Times are ISO 8601 UTC strings on both (they sort as text); JSON columns are text.
 */
import type { ColumnType, Generated } from 'kysely';
import type { HealthStatus, ReviewReason, RunSource } from '@refund-vision/shared';

/** A column with a database default: optional on insert. */
type Defaulted<T> = ColumnType<T, T | undefined, T>;

export interface RunsTable {
  id: Generated<number>;
  run_key: string;
  source: RunSource;
  model_version: string;
  engine: string | null;
  status: Defaulted<'open' | 'completed'>;
  started_at: string;
  finished_at: string | null;
  images: Defaulted<number>;
  failures: Defaulted<number>;
  /** Client wall time for the run (server time for one-shot runs). */
  process_ms: number | null;
  /** Model time only, summed over batches. */
  inference_ms: Defaulted<number>;
  /** Request handling time, summed over batches. */
  server_ms: Defaulted<number>;
  confidence_sum: Defaulted<number>;
  labelled: Defaulted<number>;
  correct: Defaulted<number>;
  /** Σ pixel/255 of every image sent. */
  pixel_sum: Defaulted<number>;
  pixel_sumsq: Defaulted<number>;
  /** Pixels < NEAR_ZERO_THRESHOLD. */
  pixel_near_zero: Defaulted<number>;
  pixel_count: Defaulted<number>;
  health: HealthStatus | null;
  /** HealthCheck[] set when the run completes. */
  checks_json: string | null;
  /** Images the client saw in the run (sent + could not send), from the completion call. */
  images_seen: number | null;
  /** Images preprocessing called photos (ImageMeta.kind). */
  photo_images: Defaulted<number>;
}

export interface BatchesTable {
  id: Generated<number>;
  run_id: number;
  batch_index: number;
  idempotency_key: string | null;
  /** sha-256 of the canonical request, to refuse a different body under the same key. */
  request_hash: string;
  images: number;
  inference_ms: number;
  total_ms: number;
  /** The stored answer, replayed on a retry. */
  response_json: string;
  created_at: string;
  /** The model version that answered this batch (null before migration 0004: the run's version). */
  model_version: string | null;
}

export interface PredictionsTable {
  id: Generated<number>;
  run_id: number;
  batch_id: number;
  /** Index within the batch. */
  position: number;
  image_id: string;
  image_group: string | null;
  content_hash: string | null;
  class_index: number;
  confidence: number;
  top3_json: string;
  /** True class when the client knew it. */
  label: number | null;
  /** Why a person should look; null when the answer can be trusted. */
  review: ColumnType<ReviewReason | null, ReviewReason | null | undefined, ReviewReason | null>;
  created_at: string;
}

/** Updated with every batch so history queries never scan predictions. */
export interface RunClassStatsTable {
  run_id: number;
  class_index: number;
  count: Defaulted<number>;
  confidence_sum: Defaulted<number>;
}

export interface FeedbackTable {
  id: Generated<number>;
  /** The latest word on a prediction wins (unique). */
  prediction_id: number;
  /** Null: a person said none of the classes is right (the prediction counts as wrong). */
  correct_class: number | null;
  created_at: string;
}

/** A challenger's answer to a prediction the champion made (recorded, never returned). */
export interface ShadowPredictionsTable {
  id: Generated<number>;
  prediction_id: number;
  model_version: string;
  class_index: number;
  confidence: number;
  created_at: string;
}

/** One per prediction that needs a person. */
export interface ReviewItemsTable {
  prediction_id: number;
  run_id: number;
  reason: ReviewReason;
  /** Queue order within a reason, ascending. */
  priority: number;
  /** base64 of the 784 bytes the model saw. */
  pixels: string;
  /** base64 of the client's small photo (WebP or JPEG), when it arrived. */
  thumbnail: string | null;
  thumbnail_type: string | null;
  claimed_by: string | null;
  claim_expires_at: string | null;
  /** 1 while the item's latest decision stands. */
  decided: Defaulted<number>;
  /** Occlusion saliency (28×28, JSON), computed on demand. */
  saliency_json: string | null;
  created_at: string;
}

/** Append-only: a correction or an undo is a new row. */
export interface ReviewDecisionsTable {
  id: Generated<number>;
  prediction_id: number;
  /** A class (`class_index`), "none of these classes", or an undo of the decision `previous_id`. */
  decision: 'class' | 'none' | 'undo';
  class_index: number | null;
  decided_by: string;
  decided_at: string;
  seconds_spent: number | null;
  /** The version of the model that made the reviewed prediction. */
  model_version: string;
  /** The item's decision before this one. */
  previous_id: number | null;
}

export interface Tables {
  runs: RunsTable;
  batches: BatchesTable;
  predictions: PredictionsTable;
  run_class_stats: RunClassStatsTable;
  feedback: FeedbackTable;
  shadow_predictions: ShadowPredictionsTable;
  review_items: ReviewItemsTable;
  review_decisions: ReviewDecisionsTable;
}

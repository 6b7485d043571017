/**
 * The one data-access layer: every SQL statement of the API lives in this folder. `openStore`
 * opens SQLite or Postgres (./db.ts) and hands out one repository per concern; the rest of the
 * API calls repository methods, never SQL. Adding a concern: a migration in ./migrations, its
 * table in ./tables.ts, a repository module here, and one line in `openStore`.
 */
import { openDatabase, type OpenStoreOptions, type StoreDatabase } from './db.ts';
import { FeedbackRepository } from './feedback.ts';
import { HistoryRepository } from './history.ts';
import { ReviewsRepository } from './reviews.ts';
import { RunsRepository } from './runs.ts';
import { ShadowRepository } from './shadow.ts';

export interface Store extends StoreDatabase {
  readonly runs: RunsRepository;
  readonly feedback: FeedbackRepository;
  readonly history: HistoryRepository;
  readonly shadow: ShadowRepository;
  readonly reviews: ReviewsRepository;
}

export async function openStore(opts: OpenStoreOptions): Promise<Store> {
  const base = await openDatabase(opts);
  return Object.assign(base, {
    runs: new RunsRepository(base.db),
    feedback: new FeedbackRepository(base.db),
    history: new HistoryRepository(base.db),
    shadow: new ShadowRepository(base.db),
    reviews: new ReviewsRepository(base.db, base.kind),
  });
}

export { storeOptions, redactUrl, type OpenStoreOptions, type StoreKind } from './db.ts';
export { StoreError, storeFailure, type StoreErrorCode } from './errors.ts';
export type { FeedbackResult, PredictionRef } from './feedback.ts';
export type { RangeTotals, SeriesRunRow } from './history.ts';
export type { ShadowAnswer, ShadowSummary } from './shadow.ts';
export type {
  DecisionInput,
  DecisionOutcome,
  ReviewDecisionRow,
  ReviewItem,
  ReviewItemDetail,
  ReviewQuery,
  ReviewStatus,
} from './reviews.ts';
export {
  CursorError,
  type BatchImage,
  type BatchPrediction,
  type CompleteRunInput,
  type ListRunsQuery,
  type Page,
  type RecordBatchInput,
  type RecordBatchResult,
  type StoredBatch,
  type StoredPrediction,
} from './runs.ts';

/**
 * Runs, batches and predictions. Exactly-once is the database's: a batch is unique on (run, batch
 * index) and on its idempotency key, and is inserted with ON CONFLICT DO NOTHING inside the
 * transaction that writes its predictions and counters; a writer that loses the race rolls back
 * and answers with the winner's stored reply. Nothing depends on one process's memory, so it holds
 * across worker processes and across API replicas sharing one Postgres.
 */
import type { Kysely, Selectable } from 'kysely';
import {
  CLASS_NAMES,
  NUM_CLASSES,
  type HealthCheck,
  type HealthStatus,
  type ReviewReason,
  type RunPrediction,
  type RunSource,
  type RunSummary,
  type TopK,
} from '@refund-vision/shared';
import type { PixelStats } from '../pixel-stats.ts';
import { overallStatus, type RunHealthInput } from '../health.ts';
import { feedbackRight } from './feedback.ts';
import type { RunsTable, Tables } from './tables.ts';

export interface BatchImage {
  id: string;
  group?: string | undefined;
  hash?: string | undefined;
  label?: number | undefined;
  kind?: 'photo' | 'dataset' | undefined;
}

export interface BatchPrediction {
  classIndex: number;
  confidence: number;
  top3: TopK[];
  /** Why a person should look; null (or absent) when the answer can be trusted. */
  review?: ReviewReason | null;
  /** Queue order within its reason (lower first); set with `review`. */
  priority?: number;
}

export interface RecordBatchInput {
  runKey: string;
  source: RunSource;
  batchIndex: number;
  idempotencyKey?: string | null | undefined;
  /** sha-256 of the canonical request; a different body under a used key is refused. */
  requestHash: string;
  modelVersion: string;
  engine: string;
  images: BatchImage[];
  predictions: BatchPrediction[];
  /** N×784: what the model saw. A prediction that needs review keeps its 28×28 for the queue. */
  pixels?: Uint8Array | undefined;
  pixelStats: PixelStats;
  inferenceMs: number;
  totalMs: number;
  /** Builds the stored answer once the prediction ids are known. */
  respond: (predictionIds: number[]) => unknown;
}

export type RecordBatchResult =
  | {
      outcome: 'recorded' | 'replayed';
      runId: number;
      batchId: number;
      response: unknown;
      /** The stored predictions' ids in image order (recorded outcomes only). */
      predictionIds?: number[];
    }
  | { outcome: 'conflict'; message: string };

export interface StoredBatch {
  id: number;
  runId: number;
  runKey: string;
  batchIndex: number;
  idempotencyKey: string | null;
  requestHash: string;
  images: number;
  response: unknown;
  createdAt: string;
}

export interface CompleteRunInput {
  failures?: number | undefined;
  processMs?: number | undefined;
  imagesSeen?: number | undefined;
}

export interface ListRunsQuery {
  /** ISO time, inclusive. */
  from?: string | undefined;
  /** ISO time, exclusive. */
  to?: string | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

/** The wire contract's RunPrediction: what GET /v1/runs/:id lists. */
export type StoredPrediction = RunPrediction;

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export class CursorError extends Error {
  override name = 'CursorError';
}

type RunRow = Selectable<RunsTable>;

const encodeCursor = (parts: (string | number)[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');

function decodeCursor<T extends unknown[]>(cursor: string, check: (v: unknown) => v is T): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new CursorError('cursor: not a cursor this server issued');
  }
  if (!check(value)) throw new CursorError('cursor: not a cursor this server issued');
  return value;
}

const isRunCursor = (v: unknown): v is [string, number] =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && Number.isInteger(v[1]);
const isIdCursor = (v: unknown): v is [number] => Array.isArray(v) && v.length === 1 && Number.isInteger(v[0]);

/** Thrown inside the write transaction to roll it back when another writer stored the batch first. */
class AlreadyStored extends Error {}

/** Rows per multi-row INSERT: far below both databases' limit on bound parameters. */
const INSERT_CHUNK = 500;

export class RunsRepository {
  constructor(private readonly db: Kysely<Tables>) {}

  private batchQuery(db: Kysely<Tables> = this.db) {
    return db
      .selectFrom('batches as b')
      .innerJoin('runs as r', 'r.id', 'b.run_id')
      .select([
        'b.id',
        'b.run_id',
        'r.run_key',
        'b.batch_index',
        'b.idempotency_key',
        'b.request_hash',
        'b.images',
        'b.response_json',
        'b.created_at',
      ]);
  }

  /**
   * Records a batch exactly once: creates the run if needed, inserts the batch, its predictions,
   * the per-class stats and the run counters in one transaction. A batch already stored under the
   * same (run key, batch index) or idempotency key is replayed when its request hash matches and
   * refused (conflict) when it does not.
   */
  async recordBatch(input: RecordBatchInput): Promise<RecordBatchResult> {
    const prior = await this.checkBatch(input.runKey, input.batchIndex, input.idempotencyKey, input.requestHash);
    if (prior) return prior;
    try {
      return await this.db.transaction().execute((trx) => this.recordInTx(trx, input));
    } catch (e) {
      if (!(e instanceof AlreadyStored)) throw e;
      const stored = await this.checkBatch(input.runKey, input.batchIndex, input.idempotencyKey, input.requestHash);
      if (!stored) throw new Error(`batch ${input.batchIndex} of run '${input.runKey}' conflicted but is not stored`);
      return stored;
    }
  }

  private async recordInTx(trx: Kysely<Tables>, input: RecordBatchInput): Promise<RecordBatchResult> {
    const now = new Date().toISOString();
    await trx
      .insertInto('runs')
      .values({ run_key: input.runKey, source: input.source, model_version: input.modelVersion, engine: input.engine, started_at: now })
      .onConflict((oc) => oc.column('run_key').doNothing())
      .execute();
    const run = await trx.selectFrom('runs').select('id').where('run_key', '=', input.runKey).executeTakeFirstOrThrow();
    const n = input.images.length;
    // The exactly-once gate: the unique keys decide, even between processes that both passed checkBatch.
    const batch = await trx
      .insertInto('batches')
      .values({
        run_id: run.id,
        batch_index: input.batchIndex,
        idempotency_key: input.idempotencyKey ?? null,
        request_hash: input.requestHash,
        images: n,
        inference_ms: input.inferenceMs,
        total_ms: input.totalMs,
        response_json: '',
        created_at: now,
        model_version: input.modelVersion,
      })
      .onConflict((oc) => oc.doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!batch) throw new AlreadyStored();

    const count = new Array<number>(NUM_CLASSES).fill(0);
    const confSum = new Array<number>(NUM_CLASSES).fill(0);
    let confidenceSum = 0;
    let labelled = 0;
    let correct = 0;
    let photos = 0;
    const rows = input.images.map((img, i) => {
      const p = input.predictions[i]!;
      count[p.classIndex]!++;
      confSum[p.classIndex]! += p.confidence;
      confidenceSum += p.confidence;
      if (img.kind === 'photo') photos++;
      if (img.label !== undefined) {
        labelled++;
        if (img.label === p.classIndex) correct++;
      }
      return {
        run_id: run.id,
        batch_id: batch.id,
        position: i,
        image_id: img.id,
        image_group: img.group ?? null,
        content_hash: img.hash ?? null,
        class_index: p.classIndex,
        confidence: p.confidence,
        top3_json: JSON.stringify(p.top3),
        label: img.label ?? null,
        review: p.review ?? null,
        created_at: now,
      };
    });
    const ids: number[] = new Array(n);
    for (let start = 0; start < n; start += INSERT_CHUNK) {
      const inserted = await trx
        .insertInto('predictions')
        .values(rows.slice(start, start + INSERT_CHUNK))
        .returning(['id', 'position'])
        .execute();
      for (const r of inserted) ids[r.position] = r.id;
    }
    const queued = input.predictions.flatMap((p, i) =>
      p.review && input.pixels
        ? [
            {
              prediction_id: ids[i]!,
              run_id: run.id,
              reason: p.review,
              priority: p.priority ?? 0,
              pixels: Buffer.from(input.pixels.buffer, input.pixels.byteOffset + i * 784, 784).toString('base64'),
              thumbnail: null,
              thumbnail_type: null,
              claimed_by: null,
              claim_expires_at: null,
              saliency_json: null,
              created_at: now,
            },
          ]
        : [],
    );
    for (let start = 0; start < queued.length; start += INSERT_CHUNK) {
      await trx
        .insertInto('review_items')
        .values(queued.slice(start, start + INSERT_CHUNK))
        .execute();
    }
    // One statement for every class the batch touched, in ascending class order, so concurrent
    // batches of one run take these row locks in the same order.
    const classRows = [];
    for (let c = 0; c < NUM_CLASSES; c++)
      if (count[c]! > 0) classRows.push({ run_id: run.id, class_index: c, count: count[c]!, confidence_sum: confSum[c]! });
    if (classRows.length)
      await trx
        .insertInto('run_class_stats')
        .values(classRows)
        .onConflict((oc) =>
          oc.columns(['run_id', 'class_index']).doUpdateSet((eb) => ({
            count: eb('run_class_stats.count', '+', eb.ref('excluded.count')),
            confidence_sum: eb('run_class_stats.confidence_sum', '+', eb.ref('excluded.confidence_sum')),
          })),
        )
        .execute();
    const px = input.pixelStats;
    await trx
      .updateTable('runs')
      .set((eb) => ({
        images: eb('images', '+', n),
        inference_ms: eb('inference_ms', '+', input.inferenceMs),
        server_ms: eb('server_ms', '+', input.totalMs),
        confidence_sum: eb('confidence_sum', '+', confidenceSum),
        labelled: eb('labelled', '+', labelled),
        correct: eb('correct', '+', correct),
        pixel_sum: eb('pixel_sum', '+', px.sum),
        pixel_sumsq: eb('pixel_sumsq', '+', px.sumSq),
        pixel_near_zero: eb('pixel_near_zero', '+', px.nearZero),
        pixel_count: eb('pixel_count', '+', px.count),
        photo_images: eb('photo_images', '+', photos),
      }))
      .where('id', '=', run.id)
      .execute();
    const response = input.respond(ids);
    await trx
      .updateTable('batches')
      .set({ response_json: JSON.stringify(response) })
      .where('id', '=', batch.id)
      .execute();
    return { outcome: 'recorded', runId: run.id, batchId: batch.id, response, predictionIds: ids };
  }

  /** The batch stored under (run key, batch index), if any. */
  async findBatch(runKey: string, batchIndex: number): Promise<StoredBatch | undefined> {
    return toStoredBatch(
      await this.batchQuery().where('r.run_key', '=', runKey).where('b.batch_index', '=', batchIndex).executeTakeFirst(),
    );
  }

  /** The batch stored under an `Idempotency-Key`, if any. */
  async findBatchByIdempotencyKey(key: string): Promise<StoredBatch | undefined> {
    return toStoredBatch(await this.batchQuery().where('b.idempotency_key', '=', key).executeTakeFirst());
  }

  /**
   * Decides what to do with a request before any work is done: replay the stored answer, refuse it
   * (a different body under a used key), or proceed (undefined).
   */
  async checkBatch(
    runKey: string,
    batchIndex: number,
    idempotencyKey: string | null | undefined,
    requestHash: string,
  ): Promise<RecordBatchResult | undefined> {
    const byKey = idempotencyKey ? await this.findBatchByIdempotencyKey(idempotencyKey) : undefined;
    const byIndex = await this.findBatch(runKey, batchIndex);
    for (const [row, what] of [
      [byKey, `Idempotency-Key '${idempotencyKey}'`],
      [byIndex, `batch ${batchIndex} of run '${runKey}'`],
    ] as const) {
      if (!row) continue;
      if (row.requestHash !== requestHash || row.runKey !== runKey || row.batchIndex !== batchIndex) {
        return { outcome: 'conflict', message: `${what} was already used for a different request` };
      }
    }
    const row = byKey ?? byIndex;
    return row ? { outcome: 'replayed', runId: row.runId, batchId: row.id, response: row.response } : undefined;
  }

  /**
   * Closes a run: failures, client wall time, health. Idempotent: a completed run is left as it was.
   * Returns undefined when no such run exists.
   */
  async completeRun(runKey: string, input: CompleteRunInput, checks: HealthCheck[]): Promise<RunSummary | undefined> {
    const run = await this.runRowByKey(runKey);
    if (!run) return undefined;
    await this.db
      .updateTable('runs')
      .set((eb) => ({
        status: 'completed',
        finished_at: new Date().toISOString(),
        failures: input.failures ?? 0,
        process_ms: eb.fn.coalesce(eb.val(input.processMs ?? null), 'process_ms', 'server_ms'),
        images_seen: input.imagesSeen ?? null,
        health: overallStatus(checks),
        checks_json: JSON.stringify(checks),
      }))
      .where('id', '=', run.id)
      .where('status', '=', 'open')
      .execute();
    return this.getRun(run.id);
  }

  /** A run by numeric id or by run key (a numeric string is tried as an id first). */
  async getRun(idOrKey: number | string): Promise<RunSummary | undefined> {
    const row = await this.runRow(idOrKey);
    return row ? (await this.summaries([row]))[0] : undefined;
  }

  /** A run by its key only (run keys may look like numbers). */
  async getRunByKey(runKey: string): Promise<RunSummary | undefined> {
    const row = await this.runRowByKey(runKey);
    return row ? (await this.summaries([row]))[0] : undefined;
  }

  private runRowById(id: number): Promise<RunRow | undefined> {
    return this.db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  private runRowByKey(runKey: string): Promise<RunRow | undefined> {
    return this.db.selectFrom('runs').selectAll().where('run_key', '=', runKey).executeTakeFirst();
  }

  private async runRow(idOrKey: number | string): Promise<RunRow | undefined> {
    if (typeof idOrKey === 'number') return this.runRowById(idOrKey);
    if (/^\d{1,9}$/.test(idOrKey)) return (await this.runRowById(Number(idOrKey))) ?? this.runRowByKey(idOrKey);
    return this.runRowByKey(idOrKey);
  }

  private async classCounts(runId: number): Promise<number[]> {
    const counts = new Array<number>(NUM_CLASSES).fill(0);
    const rows = await this.db.selectFrom('run_class_stats').select(['class_index', 'count']).where('run_id', '=', runId).execute();
    for (const s of rows) counts[s.class_index] = s.count;
    return counts;
  }

  /** What the health checks need: counters, per-class counts and every max-probability. */
  async runHealthInput(idOrKey: number | string): Promise<RunHealthInput | undefined> {
    const row = await this.runRow(idOrKey);
    if (!row) return undefined;
    const confidences = await this.db.selectFrom('predictions').select('confidence').where('run_id', '=', row.id).execute();
    return {
      images: row.images,
      confidences: confidences.map((r) => r.confidence),
      perClassCount: await this.classCounts(row.id),
      pixelSum: row.pixel_sum,
      pixelSumSq: row.pixel_sumsq,
      pixelNearZero: row.pixel_near_zero,
      pixelCount: row.pixel_count,
      photos: row.photo_images,
    };
  }

  /** Predicted class shares (each sums to 1) of the most recent completed runs, newest first. */
  async recentClassMixes(excludeRunId: number, limit = 10): Promise<number[][]> {
    const runs = await this.db
      .selectFrom('runs')
      .select('id')
      .where('status', '=', 'completed')
      .where('images', '>', 0)
      .where('id', '!=', excludeRunId)
      .orderBy('finished_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    const out: number[][] = [];
    for (const { id } of runs) {
      const counts = await this.classCounts(id);
      const total = counts.reduce((a, b) => a + b, 0);
      out.push(counts.map((c) => c / total));
    }
    return out;
  }

  /** Runs newest first, keyset-paginated on (started_at, id). */
  async listRuns(query: ListRunsQuery = {}): Promise<Page<RunSummary>> {
    const limit = Math.min(Math.max(query.limit ?? 50, 1), 500);
    let q = this.db.selectFrom('runs').selectAll();
    if (query.from) q = q.where('started_at', '>=', query.from);
    if (query.to) q = q.where('started_at', '<', query.to);
    if (query.cursor) {
      const [startedAt, id] = decodeCursor(query.cursor, isRunCursor);
      q = q.where((eb) => eb.or([eb('started_at', '<', startedAt), eb.and([eb('started_at', '=', startedAt), eb('id', '<', id)])]));
    }
    const rows = await q
      .orderBy('started_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const more = rows.length > limit;
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { items: await this.summaries(page), nextCursor: more && last ? encodeCursor([last.started_at, last.id]) : null };
  }

  /** A run's predictions in the order they were recorded. */
  async runPredictions(
    runId: number,
    query: { limit?: number | undefined; cursor?: string | undefined } = {},
  ): Promise<Page<StoredPrediction>> {
    const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
    const after = query.cursor ? decodeCursor(query.cursor, isIdCursor)[0] : 0;
    const rows = await this.db
      .selectFrom('predictions as p')
      .innerJoin('batches as b', 'b.id', 'p.batch_id')
      .innerJoin('runs as r', 'r.id', 'p.run_id')
      .leftJoin('feedback as f', 'f.prediction_id', 'p.id')
      .selectAll('p')
      .select(['b.batch_index', 'f.id as feedback_id', 'f.correct_class', 'b.model_version', 'r.model_version as run_model_version'])
      .where('p.run_id', '=', runId)
      .where('p.id', '>', after)
      .orderBy('p.id')
      .limit(limit + 1)
      .execute();
    const more = rows.length > limit;
    const items: StoredPrediction[] = rows.slice(0, limit).map((r) => ({
      predictionId: r.id,
      batchIndex: r.batch_index,
      position: r.position,
      id: r.image_id,
      group: r.image_group,
      hash: r.content_hash,
      classIndex: r.class_index,
      className: CLASS_NAMES[r.class_index]!,
      confidence: r.confidence,
      top3: JSON.parse(r.top3_json) as TopK[],
      label: r.label,
      review: r.review ?? null,
      feedbackClass: r.correct_class ?? null,
      feedbackNone: r.feedback_id !== null && r.correct_class === null,
      // Batches stored before migration 0004 were all answered by the run's model.
      modelVersion: r.model_version ?? r.run_model_version,
      createdAt: r.created_at,
    }));
    const last = items.at(-1);
    return { items, nextCursor: more && last ? encodeCursor([last.predictionId]) : null };
  }

  /** Moves a run (and its batches' and predictions' timestamps) so that it started at `startedAt`. */
  async backdate(runKey: string, startedAt: Date, durationMs = 90_000): Promise<void> {
    const start = startedAt.toISOString();
    const end = new Date(startedAt.getTime() + durationMs).toISOString();
    await this.db.transaction().execute(async (trx) => {
      const run = await trx.selectFrom('runs').select(['id', 'status']).where('run_key', '=', runKey).executeTakeFirst();
      if (!run) throw new Error(`backdate: no run '${runKey}'`);
      await trx
        .updateTable('runs')
        .set({ started_at: start, finished_at: run.status === 'completed' ? end : null })
        .where('id', '=', run.id)
        .execute();
      await trx.updateTable('batches').set({ created_at: start }).where('run_id', '=', run.id).execute();
      await trx.updateTable('predictions').set({ created_at: start }).where('run_id', '=', run.id).execute();
    });
  }

  /** RunSummary for rows of the runs table: per-class stats and feedback in two queries for the page. */
  private async summaries(rows: RunRow[]): Promise<RunSummary[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const stats = await this.db.selectFrom('run_class_stats').selectAll().where('run_id', 'in', ids).execute();
    const feedback = await this.db
      .selectFrom('feedback as f')
      .innerJoin('predictions as p', 'p.id', 'f.prediction_id')
      .select((eb) => ['p.run_id', eb.fn.countAll<number>().as('n'), feedbackRight.as('right')])
      .where('p.run_id', 'in', ids)
      .groupBy('p.run_id')
      .execute();
    const reviews = await this.db
      .selectFrom('predictions')
      .select((eb) => ['run_id', 'review', eb.fn.countAll<number>().as('n')])
      .where('review', 'is not', null)
      .where('run_id', 'in', ids)
      .groupBy(['run_id', 'review'])
      .execute();
    return rows.map((r) => {
      const perClass = CLASS_NAMES.map((className, classIndex) => ({
        classIndex,
        className,
        count: 0,
        meanConfidence: null as number | null,
      }));
      for (const s of stats) {
        if (s.run_id !== r.id) continue;
        perClass[s.class_index] = {
          classIndex: s.class_index,
          className: CLASS_NAMES[s.class_index]!,
          count: s.count,
          meanConfidence: s.count ? s.confidence_sum / s.count : null,
        };
      }
      const fb = feedback.find((f) => f.run_id === r.id);
      const byReason = { mismatch: 0, 'out-of-scope': 0, 'low-confidence': 0 };
      for (const x of reviews) if (x.run_id === r.id && x.review) byReason[x.review] = Number(x.n);
      const processMs = r.process_ms ?? (r.status === 'completed' ? r.server_ms : null);
      return {
        id: r.id,
        runKey: r.run_key,
        source: r.source,
        modelVersion: r.model_version,
        status: r.status,
        startedAt: r.started_at,
        finishedAt: r.finished_at,
        images: r.images,
        failures: r.failures,
        processMs,
        inferenceMs: r.inference_ms,
        // Client wall time per image once the run is closed; server handling time per image before.
        msPerPrediction: r.images ? (processMs ?? r.server_ms) / r.images : null,
        meanConfidence: r.images ? r.confidence_sum / r.images : null,
        // The served probabilities are the calibrated ones, so their mean is the accuracy the model
        // expects of itself; beside the measured accuracy it shows when the model is fooling itself.
        estimatedAccuracy: r.images ? r.confidence_sum / r.images : null,
        accuracy: r.labelled ? r.correct / r.labelled : null,
        labelled: r.labelled,
        feedbackAccuracy: fb && fb.n ? Number(fb.right) / fb.n : null,
        reviews: byReason,
        photos: r.photo_images,
        health: r.health as HealthStatus | null,
        perClass,
        checks: r.checks_json ? (JSON.parse(r.checks_json) as HealthCheck[]) : [],
      };
    });
  }
}

function toStoredBatch(
  row:
    | {
        id: number;
        run_id: number;
        run_key: string;
        batch_index: number;
        idempotency_key: string | null;
        request_hash: string;
        images: number;
        response_json: string;
        created_at: string;
      }
    | undefined,
): StoredBatch | undefined {
  if (!row) return undefined;
  return {
    id: row.id,
    runId: row.run_id,
    runKey: row.run_key,
    batchIndex: row.batch_index,
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    images: row.images,
    response: row.response_json ? JSON.parse(row.response_json) : null,
    createdAt: row.created_at,
  };
}

/**
 * The metrics store: one SQLite file (WAL) holding runs, batches, predictions and per-class stats.
 * Every batch is written in one IMMEDIATE transaction, and the UNIQUE constraints on
 * (run_id, batch_index) and idempotency_key make "record once" hold across processes too.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  CLASS_NAMES,
  NUM_CLASSES,
  type HealthCheck,
  type HealthStatus,
  type RunSource,
  type RunSummary,
  type TopK,
} from '@refund-vision/shared';
import { MIGRATIONS } from './db/schema.ts';
import type { PixelStats } from './pixel-stats.ts';
import { overallStatus, type RunHealthInput } from './health.ts';

export interface BatchImage {
  id: string;
  group?: string | undefined;
  hash?: string | undefined;
  label?: number | undefined;
}

export interface BatchPrediction {
  classIndex: number;
  confidence: number;
  top3: TopK[];
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
  pixelStats: PixelStats;
  inferenceMs: number;
  totalMs: number;
  /** Builds the stored answer once the prediction ids are known. */
  respond: (predictionIds: number[]) => unknown;
}

export type RecordBatchResult =
  | { outcome: 'recorded' | 'replayed'; runId: number; batchId: number; response: unknown }
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

export interface StoredPrediction {
  predictionId: number;
  batchIndex: number;
  position: number;
  id: string;
  group: string | null;
  hash: string | null;
  classIndex: number;
  className: string;
  confidence: number;
  top3: TopK[];
  label: number | null;
  feedbackClass: number | null;
  createdAt: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export class CursorError extends Error {
  override name = 'CursorError';
}

interface RunRow {
  id: number;
  run_key: string;
  source: RunSource;
  model_version: string;
  engine: string | null;
  status: 'open' | 'completed';
  started_at: string;
  finished_at: string | null;
  images: number;
  failures: number;
  process_ms: number | null;
  inference_ms: number;
  server_ms: number;
  confidence_sum: number;
  labelled: number;
  correct: number;
  pixel_sum: number;
  pixel_sumsq: number;
  pixel_near_zero: number;
  pixel_count: number;
  health: HealthStatus | null;
  checks_json: string | null;
}

interface BatchRow {
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

const BUSY_TIMEOUT_MS = 10_000;
/** Only for Atomics.wait: a synchronous sub-millisecond sleep between write attempts. */
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

export class MetricsStore {
  /** The raw connection, for queries that live with their feature (history, feedback). */
  readonly db: Database.Database;
  readonly path: string;
  private readonly stmt;
  private readonly recordTx: (input: RecordBatchInput) => RecordBatchResult;

  constructor(path: string) {
    this.path = path;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    // busy timeout: several worker processes may write at once; they wait rather than fail.
    this.db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.migrate();
    const db = this.db;
    this.stmt = {
      runByKey: db.prepare<[string], RunRow>('SELECT * FROM runs WHERE run_key = ?'),
      runById: db.prepare<[number], RunRow>('SELECT * FROM runs WHERE id = ?'),
      insertRun: db.prepare(
        `INSERT INTO runs (run_key, source, model_version, engine, started_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (run_key) DO NOTHING`,
      ),
      batchByIndex: db.prepare<[string, number], BatchRow>(
        'SELECT b.*, r.run_key FROM batches b JOIN runs r ON r.id = b.run_id WHERE r.run_key = ? AND b.batch_index = ?',
      ),
      batchByKey: db.prepare<[string], BatchRow>(
        'SELECT b.*, r.run_key FROM batches b JOIN runs r ON r.id = b.run_id WHERE b.idempotency_key = ?',
      ),
      insertBatch: db.prepare(
        `INSERT INTO batches (run_id, batch_index, idempotency_key, request_hash, images, inference_ms, total_ms, response_json, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, '', ?)`,
      ),
      setBatchResponse: db.prepare('UPDATE batches SET response_json = ? WHERE id = ?'),
      insertPrediction: db.prepare(
        `INSERT INTO predictions (run_id, batch_id, position, image_id, image_group, content_hash, class_index, confidence, top3_json, label, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      upsertClass: db.prepare(
        `INSERT INTO run_class_stats (run_id, class_index, count, confidence_sum) VALUES (?, ?, ?, ?)
         ON CONFLICT (run_id, class_index) DO UPDATE SET count = count + excluded.count, confidence_sum = confidence_sum + excluded.confidence_sum`,
      ),
      addToRun: db.prepare(
        `UPDATE runs SET images = images + ?, inference_ms = inference_ms + ?, server_ms = server_ms + ?,
           confidence_sum = confidence_sum + ?, labelled = labelled + ?, correct = correct + ?,
           pixel_sum = pixel_sum + ?, pixel_sumsq = pixel_sumsq + ?, pixel_near_zero = pixel_near_zero + ?, pixel_count = pixel_count + ?
         WHERE id = ?`,
      ),
      complete: db.prepare(
        `UPDATE runs SET status = 'completed', finished_at = ?, failures = ?, process_ms = COALESCE(?, process_ms, server_ms),
           images_seen = ?, health = ?, checks_json = ? WHERE id = ? AND status = 'open'`,
      ),
      classStats: db.prepare<[number], { class_index: number; count: number; confidence_sum: number }>(
        'SELECT class_index, count, confidence_sum FROM run_class_stats WHERE run_id = ?',
      ),
      confidences: db.prepare<[number], { confidence: number }>('SELECT confidence FROM predictions WHERE run_id = ?'),
      recentMixes: db.prepare<[number, number], { id: number }>(
        `SELECT id FROM runs WHERE status = 'completed' AND images > 0 AND id != ? ORDER BY finished_at DESC, id DESC LIMIT ?`,
      ),
    };
    this.recordTx = this.db.transaction((input: RecordBatchInput) => this.recordInTx(input)).immediate as (
      input: RecordBatchInput,
    ) => RecordBatchResult;
  }

  private migrate() {
    const all = MIGRATIONS;
    const step = this.db.transaction(() => {
      const version = this.db.pragma('user_version', { simple: true }) as number;
      for (let v = version; v < all.length; v++) this.db.exec(all[v]!);
      this.db.pragma(`user_version = ${all.length}`);
    });
    // IMMEDIATE so that two processes starting together migrate once.
    step.immediate();
  }

  /**
   * Records a batch exactly once: creates the run if needed, inserts the batch, its predictions,
   * the per-class stats and the run counters in one transaction. A batch already stored under the
   * same (run key, batch index) or idempotency key is replayed when its request hash matches and
   * refused (conflict) when it does not.
   */
  recordBatch(input: RecordBatchInput): RecordBatchResult {
    // With several worker processes, SQLite's own busy handler sleeps 1, 2, 5, 10 … ms while another
    // worker holds the write lock for ~0.1 ms, which caps small-batch throughput. Here the batch write
    // waits in short, growing steps of its own instead; other writes keep the connection's timeout.
    this.db.pragma('busy_timeout = 0');
    try {
      const deadline = Date.now() + BUSY_TIMEOUT_MS;
      for (let attempt = 0; ; attempt++) {
        try {
          return this.recordTx(input);
        } catch (e) {
          if ((e as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw e;
          Atomics.wait(SLEEPER, 0, 0, Math.min(0.05 * 2 ** attempt, 2));
        }
      }
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }

  private recordInTx(input: RecordBatchInput): RecordBatchResult {
    // Checked again inside the transaction: another process may have recorded it meanwhile.
    const existing = this.checkBatch(input.runKey, input.batchIndex, input.idempotencyKey, input.requestHash);
    if (existing) return existing;
    const now = new Date().toISOString();
    this.stmt.insertRun.run(input.runKey, input.source, input.modelVersion, input.engine, now);
    const run = this.stmt.runByKey.get(input.runKey)!;
    const n = input.images.length;
    const batchId = Number(
      this.stmt.insertBatch.run(
        run.id,
        input.batchIndex,
        input.idempotencyKey ?? null,
        input.requestHash,
        n,
        input.inferenceMs,
        input.totalMs,
        now,
      ).lastInsertRowid,
    );
    const ids: number[] = new Array(n);
    const count = new Array<number>(NUM_CLASSES).fill(0);
    const confSum = new Array<number>(NUM_CLASSES).fill(0);
    let confidenceSum = 0;
    let labelled = 0;
    let correct = 0;
    for (let i = 0; i < n; i++) {
      const img = input.images[i]!;
      const p = input.predictions[i]!;
      ids[i] = Number(
        this.stmt.insertPrediction.run(
          run.id,
          batchId,
          i,
          img.id,
          img.group ?? null,
          img.hash ?? null,
          p.classIndex,
          p.confidence,
          JSON.stringify(p.top3),
          img.label ?? null,
          now,
        ).lastInsertRowid,
      );
      count[p.classIndex]!++;
      confSum[p.classIndex]! += p.confidence;
      confidenceSum += p.confidence;
      if (img.label !== undefined) {
        labelled++;
        if (img.label === p.classIndex) correct++;
      }
    }
    for (let c = 0; c < NUM_CLASSES; c++) if (count[c]! > 0) this.stmt.upsertClass.run(run.id, c, count[c], confSum[c]);
    const px = input.pixelStats;
    this.stmt.addToRun.run(
      n,
      input.inferenceMs,
      input.totalMs,
      confidenceSum,
      labelled,
      correct,
      px.sum,
      px.sumSq,
      px.nearZero,
      px.count,
      run.id,
    );
    const response = input.respond(ids);
    this.stmt.setBatchResponse.run(JSON.stringify(response), batchId);
    return { outcome: 'recorded', runId: run.id, batchId, response };
  }

  /** The batch stored under (run key, batch index), if any. */
  findBatch(runKey: string, batchIndex: number): StoredBatch | undefined {
    return toStoredBatch(this.stmt.batchByIndex.get(runKey, batchIndex));
  }

  /** The batch stored under an `Idempotency-Key`, if any. */
  findBatchByIdempotencyKey(key: string): StoredBatch | undefined {
    return toStoredBatch(this.stmt.batchByKey.get(key));
  }

  /**
   * Decides what to do with a request before any work is done: replay the stored answer, refuse it
   * (a different body under a used key), or proceed (undefined).
   */
  checkBatch(
    runKey: string,
    batchIndex: number,
    idempotencyKey: string | null | undefined,
    requestHash: string,
  ): RecordBatchResult | undefined {
    const byKey = idempotencyKey ? this.stmt.batchByKey.get(idempotencyKey) : undefined;
    const byIndex = this.stmt.batchByIndex.get(runKey, batchIndex);
    for (const [row, what] of [
      [byKey, `Idempotency-Key '${idempotencyKey}'`],
      [byIndex, `batch ${batchIndex} of run '${runKey}'`],
    ] as const) {
      if (!row) continue;
      if (row.request_hash !== requestHash || row.run_key !== runKey || row.batch_index !== batchIndex) {
        return { outcome: 'conflict', message: `${what} was already used for a different request` };
      }
    }
    const row = byKey ?? byIndex;
    return row ? { outcome: 'replayed', runId: row.run_id, batchId: row.id, response: JSON.parse(row.response_json) } : undefined;
  }

  /**
   * Closes a run: failures, client wall time, health. Idempotent: a completed run is left as it was.
   * Returns undefined when no such run exists.
   */
  completeRun(runKey: string, input: CompleteRunInput, checks: HealthCheck[]): RunSummary | undefined {
    const run = this.stmt.runByKey.get(runKey);
    if (!run) return undefined;
    this.stmt.complete.run(
      new Date().toISOString(),
      input.failures ?? 0,
      input.processMs ?? null,
      input.imagesSeen ?? null,
      overallStatus(checks),
      JSON.stringify(checks),
      run.id,
    );
    return this.getRun(run.id);
  }

  /** A run by numeric id or by run key (a numeric string is tried as an id first). */
  getRun(idOrKey: number | string): RunSummary | undefined {
    const row = this.runRow(idOrKey);
    return row ? this.summaries([row])[0] : undefined;
  }

  /** A run by its key only (run keys may look like numbers). */
  getRunByKey(runKey: string): RunSummary | undefined {
    const row = this.stmt.runByKey.get(runKey);
    return row ? this.summaries([row])[0] : undefined;
  }

  private runRow(idOrKey: number | string): RunRow | undefined {
    if (typeof idOrKey === 'number') return this.stmt.runById.get(idOrKey);
    if (/^\d{1,15}$/.test(idOrKey)) return this.stmt.runById.get(Number(idOrKey)) ?? this.stmt.runByKey.get(idOrKey);
    return this.stmt.runByKey.get(idOrKey);
  }

  /** What the health checks need: counters, per-class counts and every max-probability. */
  runHealthInput(idOrKey: number | string): RunHealthInput | undefined {
    const row = this.runRow(idOrKey);
    if (!row) return undefined;
    const perClassCount = new Array<number>(NUM_CLASSES).fill(0);
    for (const s of this.stmt.classStats.all(row.id)) perClassCount[s.class_index] = s.count;
    return {
      images: row.images,
      confidences: this.stmt.confidences.all(row.id).map((r) => r.confidence),
      perClassCount,
      pixelSum: row.pixel_sum,
      pixelSumSq: row.pixel_sumsq,
      pixelNearZero: row.pixel_near_zero,
      pixelCount: row.pixel_count,
    };
  }

  /** Predicted class shares (each sums to 1) of the most recent completed runs, newest first. */
  recentClassMixes(excludeRunId: number, limit = 10): number[][] {
    return this.stmt.recentMixes.all(excludeRunId, limit).map(({ id }) => {
      const counts = new Array<number>(NUM_CLASSES).fill(0);
      for (const s of this.stmt.classStats.all(id)) counts[s.class_index] = s.count;
      const total = counts.reduce((a, b) => a + b, 0);
      return counts.map((c) => c / total);
    });
  }

  /** Runs newest first, keyset-paginated on (started_at, id). */
  listRuns(query: ListRunsQuery = {}): Page<RunSummary> {
    const limit = Math.min(Math.max(query.limit ?? 50, 1), 500);
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (query.from) (where.push('started_at >= ?'), args.push(query.from));
    if (query.to) (where.push('started_at < ?'), args.push(query.to));
    if (query.cursor) {
      const [startedAt, id] = decodeCursor(query.cursor, isRunCursor);
      where.push('(started_at < ? OR (started_at = ? AND id < ?))');
      args.push(startedAt, startedAt, id);
    }
    const rows = this.db
      .prepare<
        (string | number)[],
        RunRow
      >(`SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id DESC LIMIT ?`)
      .all(...args, limit + 1);
    const more = rows.length > limit;
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { items: this.summaries(page), nextCursor: more && last ? encodeCursor([last.started_at, last.id]) : null };
  }

  /** A run's predictions in the order they were recorded. */
  runPredictions(runId: number, query: { limit?: number | undefined; cursor?: string | undefined } = {}): Page<StoredPrediction> {
    const limit = Math.min(Math.max(query.limit ?? 100, 1), 1000);
    const after = query.cursor ? decodeCursor(query.cursor, isIdCursor)[0] : 0;
    const rows = this.db
      .prepare<[number, number, number], any>(
        `SELECT p.*, b.batch_index, f.correct_class FROM predictions p JOIN batches b ON b.id = p.batch_id
         LEFT JOIN feedback f ON f.prediction_id = p.id
         WHERE p.run_id = ? AND p.id > ? ORDER BY p.id LIMIT ?`,
      )
      .all(runId, after, limit + 1);
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
      top3: JSON.parse(r.top3_json),
      label: r.label,
      feedbackClass: r.correct_class ?? null,
      createdAt: r.created_at,
    }));
    const last = items.at(-1);
    return { items, nextCursor: more && last ? encodeCursor([last.predictionId]) : null };
  }

  private summaries(rows: RunRow[]): RunSummary[] {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const marks = ids.map(() => '?').join(',');
    const stats = this.db
      .prepare<
        number[],
        { run_id: number; class_index: number; count: number; confidence_sum: number }
      >(`SELECT * FROM run_class_stats WHERE run_id IN (${marks})`)
      .all(...ids);
    const feedback = this.db
      .prepare<number[], { run_id: number; n: number; right: number }>(
        `SELECT p.run_id, COUNT(*) AS n, SUM(f.correct_class = p.class_index) AS right
         FROM feedback f JOIN predictions p ON p.id = f.prediction_id WHERE p.run_id IN (${marks}) GROUP BY p.run_id`,
      )
      .all(...ids);
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
        accuracy: r.labelled ? r.correct / r.labelled : null,
        labelled: r.labelled,
        feedbackAccuracy: fb && fb.n ? fb.right / fb.n : null,
        health: r.health,
        perClass,
        checks: r.checks_json ? (JSON.parse(r.checks_json) as HealthCheck[]) : [],
      };
    });
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function toStoredBatch(row: BatchRow | undefined): StoredBatch | undefined {
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

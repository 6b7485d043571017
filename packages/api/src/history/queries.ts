/**
 * SQL for feedback and the metrics history, against the metrics store's connection. History
 * queries read the per-run counters and run_class_stats; they never scan predictions.
 */
import type Database from 'better-sqlite3';
import { CLASS_NAMES, NUM_CLASSES, type HealthStatus, type RunSummary } from '@refund-vision/shared';
import { HEALTH_RANK } from '../health.ts';
import type { MetricsStore } from '../metrics-store.ts';
import type { TimeRange } from './range.ts';

type Db = Database.Database;

function rangeWhere(range: TimeRange, column = 'started_at'): { sql: string; args: string[] } {
  const parts: string[] = [];
  const args: string[] = [];
  if (range.from) (parts.push(`${column} >= ?`), args.push(range.from));
  if (range.to) (parts.push(`${column} < ?`), args.push(range.to));
  return { sql: parts.length ? parts.join(' AND ') : '1', args };
}

// ---- feedback ---------------------------------------------------------------------------------

export interface FeedbackResult {
  predictionId: number;
  runId: number;
  runKey: string;
  imageId: string;
  predictedClass: number;
  predictedClassName: string;
  correctClass: number;
  correctClassName: string;
  correct: boolean;
  /** The run's accuracy over all predictions that have feedback, this one included. */
  runFeedbackAccuracy: number;
  runFeedbackCount: number;
}

export function findPrediction(
  db: Db,
  predictionId: number,
): { id: number; run_id: number; class_index: number; image_id: string; run_key: string } | undefined {
  return db
    .prepare<
      [number],
      { id: number; run_id: number; class_index: number; image_id: string; run_key: string }
    >('SELECT p.id, p.run_id, p.class_index, p.image_id, r.run_key FROM predictions p JOIN runs r ON r.id = p.run_id WHERE p.id = ?')
    .get(predictionId);
}

/** Stores the correct class for a prediction; the latest word wins. Undefined when no such prediction. */
export function recordFeedback(db: Db, predictionId: number, correctClass: number | 'predicted'): FeedbackResult | undefined {
  return db.transaction(() => {
    const p = findPrediction(db, predictionId);
    if (!p) return undefined;
    const cls = correctClass === 'predicted' ? p.class_index : correctClass;
    db.prepare(
      `INSERT INTO feedback (prediction_id, correct_class, created_at) VALUES (?, ?, ?)
       ON CONFLICT (prediction_id) DO UPDATE SET correct_class = excluded.correct_class, created_at = excluded.created_at`,
    ).run(predictionId, cls, new Date().toISOString());
    const fb = db
      .prepare<[number], { n: number; right: number }>(
        `SELECT COUNT(*) AS n, COALESCE(SUM(f.correct_class = p.class_index), 0) AS right
         FROM feedback f JOIN predictions p ON p.id = f.prediction_id WHERE p.run_id = ?`,
      )
      .get(p.run_id)!;
    return {
      predictionId,
      runId: p.run_id,
      runKey: p.run_key,
      imageId: p.image_id,
      predictedClass: p.class_index,
      predictedClassName: CLASS_NAMES[p.class_index]!,
      correctClass: cls,
      correctClassName: CLASS_NAMES[cls]!,
      correct: cls === p.class_index,
      runFeedbackAccuracy: fb.n ? fb.right / fb.n : 0,
      runFeedbackCount: fb.n,
    };
  })();
}

// ---- summary over a range ---------------------------------------------------------------------

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  /** How many values the percentiles were taken over. */
  n: number;
}

export interface Summary {
  from: string | null;
  to: string | null;
  runs: number;
  completedRuns: number;
  openRuns: number;
  images: number;
  failures: number;
  /** Mean max-probability: how sure the model was, NOT how often it was right. */
  meanConfidence: number | null;
  /** Share right among images sent with a label. */
  accuracy: { value: number | null; labelled: number };
  /** Share right among predictions someone gave feedback on. */
  feedbackAccuracy: { value: number | null; count: number };
  health: { OK: number; WARN: number; ALERT: number; unchecked: number };
  /** Per run: wall time of the run per image (client time once completed), as in RunSummary. */
  msPerPrediction: Percentiles;
  /** Per batch: server handling time per image. */
  serverMsPerPrediction: Percentiles;
}

/** Linear-interpolated percentile of an ascending array. */
export function percentile(sorted: number[], q: number): number | null {
  if (!sorted.length) return null;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

function percentiles(values: number[]): Percentiles {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), n: sorted.length };
}

export function summarize(db: Db, range: TimeRange): Summary {
  const w = rangeWhere(range);
  const wr = rangeWhere(range, 'r.started_at');
  const t = db
    .prepare<string[], Record<string, number | null>>(
      `SELECT COUNT(*) AS runs, SUM(status = 'completed') AS completed, SUM(images) AS images, SUM(failures) AS failures,
              SUM(confidence_sum) AS conf, SUM(labelled) AS labelled, SUM(correct) AS correct,
              SUM(health = 'OK') AS ok, SUM(health = 'WARN') AS warn, SUM(health = 'ALERT') AS alert
       FROM runs WHERE ${w.sql}`,
    )
    .get(...w.args)!;
  const fb = db
    .prepare<string[], { n: number; right: number | null }>(
      `SELECT COUNT(*) AS n, SUM(f.correct_class = p.class_index) AS right
       FROM feedback f JOIN predictions p ON p.id = f.prediction_id JOIN runs r ON r.id = p.run_id WHERE ${wr.sql}`,
    )
    .get(...wr.args)!;
  const runMs = db
    .prepare<string[], { v: number }>(`SELECT COALESCE(process_ms, server_ms) * 1.0 / images AS v FROM runs WHERE images > 0 AND ${w.sql}`)
    .all(...w.args)
    .map((r) => r.v);
  const batchMs = db
    .prepare<string[], { v: number }>(
      `SELECT b.total_ms * 1.0 / b.images AS v FROM batches b JOIN runs r ON r.id = b.run_id WHERE b.images > 0 AND ${wr.sql}`,
    )
    .all(...wr.args)
    .map((r) => r.v);
  const num = (x: number | null | undefined) => x ?? 0;
  const runs = num(t.runs);
  const images = num(t.images);
  const labelled = num(t.labelled);
  const checked = num(t.ok) + num(t.warn) + num(t.alert);
  return {
    from: range.from ?? null,
    to: range.to ?? null,
    runs,
    completedRuns: num(t.completed),
    openRuns: runs - num(t.completed),
    images,
    failures: num(t.failures),
    meanConfidence: images ? num(t.conf) / images : null,
    accuracy: { value: labelled ? num(t.correct) / labelled : null, labelled },
    feedbackAccuracy: { value: fb.n ? num(fb.right) / fb.n : null, count: fb.n },
    health: { OK: num(t.ok), WARN: num(t.warn), ALERT: num(t.alert), unchecked: runs - checked },
    msPerPrediction: percentiles(runMs),
    serverMsPerPrediction: percentiles(batchMs),
  };
}

// ---- every run of a range, as the API describes runs ------------------------------------------

/** RunSummary for every run in the range, oldest first (the store pages newest first). */
export function allRuns(store: MetricsStore, range: TimeRange): RunSummary[] {
  const out: RunSummary[] = [];
  let cursor: string | undefined;
  do {
    const page = store.listRuns({ ...range, limit: 500, cursor });
    out.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out.reverse();
}

// ---- compact series for the dashboard ---------------------------------------------------------

interface RunRow {
  id: number;
  run_key: string;
  source: string;
  status: string;
  started_at: string;
  images: number;
  confidence_sum: number;
  labelled: number;
  correct: number;
  ms: number | null;
  health: HealthStatus | null;
}

export interface RecentRun {
  id: number;
  runKey: string;
  source: string;
  status: string;
  startedAt: string;
  images: number;
  meanConfidence: number | null;
  accuracy: number | null;
  labelled: number;
  feedbackAccuracy: number | null;
  feedbackCount: number;
  msPerPrediction: number | null;
  health: HealthStatus | null;
}

/**
 * Column-oriented so a year of daily runs is one small JSON document: index i of every array is
 * point i. A point is one run, or one UTC day when there are more runs than `maxPoints`.
 */
export interface HistorySeries {
  from: string;
  to: string;
  bucket: 'run' | 'day';
  classNames: string[];
  runs: number;
  points: number;
  t: number[];
  label: string[];
  runId: (number | null)[];
  images: number[];
  meanConfidence: (number | null)[];
  /** classConfidence[c][i]: mean confidence of predictions of class c at point i (null: none). */
  classConfidence: (number | null)[][];
  msPerPrediction: (number | null)[];
  health: (HealthStatus | null)[];
  accuracy: (number | null)[];
  labelled: number[];
  feedbackAccuracy: (number | null)[];
  feedbackCount: number[];
  /** Newest first, never bucketed: the dashboard's table of recent runs. */
  recent: RecentRun[];
}

interface Acc {
  t: number;
  label: string;
  runId: number | null;
  images: number;
  conf: number;
  classCount: number[];
  classConf: number[];
  ms: number;
  msImages: number;
  health: HealthStatus | null;
  labelled: number;
  correct: number;
  fbN: number;
  fbRight: number;
}

export function historySeries(db: Db, opts: { days: number; now?: number; maxPoints?: number; recent?: number }): HistorySeries {
  const now = opts.now ?? Date.now();
  const from = new Date(now - opts.days * 86_400_000).toISOString();
  const to = new Date(now + 1).toISOString();
  const maxPoints = opts.maxPoints ?? 1500;
  const runs = db
    .prepare<[string, string], RunRow>(
      `SELECT id, run_key, source, status, started_at, images, confidence_sum, labelled, correct,
              COALESCE(process_ms, server_ms) AS ms, health
       FROM runs WHERE started_at >= ? AND started_at < ? ORDER BY started_at, id`,
    )
    .all(from, to);
  const classRows = db
    .prepare<[string, string], { run_id: number; class_index: number; count: number; confidence_sum: number }>(
      `SELECT s.run_id, s.class_index, s.count, s.confidence_sum FROM run_class_stats s JOIN runs r ON r.id = s.run_id
       WHERE r.started_at >= ? AND r.started_at < ?`,
    )
    .all(from, to);
  const fbRows = db
    .prepare<[string, string], { run_id: number; n: number; right: number }>(
      `SELECT p.run_id, COUNT(*) AS n, SUM(f.correct_class = p.class_index) AS right
       FROM feedback f JOIN predictions p ON p.id = f.prediction_id JOIN runs r ON r.id = p.run_id
       WHERE r.started_at >= ? AND r.started_at < ? GROUP BY p.run_id`,
    )
    .all(from, to);
  const classByRun = new Map<number, typeof classRows>();
  for (const r of classRows) classByRun.set(r.run_id, [...(classByRun.get(r.run_id) ?? []), r]);
  const fbByRun = new Map(fbRows.map((r) => [r.run_id, r]));

  const byDay = runs.length > maxPoints;
  const points: Acc[] = [];
  const recent: RecentRun[] = [];
  for (const r of runs) {
    const key = byDay ? r.started_at.slice(0, 10) : r.started_at;
    let p = points.at(-1);
    if (!p || !byDay || p.label !== key) {
      p = {
        t: byDay ? Date.parse(`${key}T12:00:00Z`) : Date.parse(r.started_at),
        label: byDay ? key : r.run_key,
        runId: byDay ? null : r.id,
        images: 0,
        conf: 0,
        classCount: new Array(NUM_CLASSES).fill(0),
        classConf: new Array(NUM_CLASSES).fill(0),
        ms: 0,
        msImages: 0,
        health: null,
        labelled: 0,
        correct: 0,
        fbN: 0,
        fbRight: 0,
      };
      points.push(p);
    }
    p.images += r.images;
    p.conf += r.confidence_sum;
    for (const s of classByRun.get(r.id) ?? []) {
      p.classCount[s.class_index]! += s.count;
      p.classConf[s.class_index]! += s.confidence_sum;
    }
    if (r.ms !== null && r.images > 0) ((p.ms += r.ms), (p.msImages += r.images));
    if (r.health && (!p.health || HEALTH_RANK[r.health] > HEALTH_RANK[p.health])) p.health = r.health;
    p.labelled += r.labelled;
    p.correct += r.correct;
    const fb = fbByRun.get(r.id);
    if (fb) ((p.fbN += fb.n), (p.fbRight += fb.right));
    recent.push({
      id: r.id,
      runKey: r.run_key,
      source: r.source,
      status: r.status,
      startedAt: r.started_at,
      images: r.images,
      meanConfidence: r.images ? r.confidence_sum / r.images : null,
      accuracy: r.labelled ? r.correct / r.labelled : null,
      labelled: r.labelled,
      feedbackAccuracy: fb?.n ? fb.right / fb.n : null,
      feedbackCount: fb?.n ?? 0,
      msPerPrediction: r.ms !== null && r.images ? r.ms / r.images : null,
      health: r.health,
    });
  }
  // Five decimals are far below what a chart shows and shrink a year of points by ~40%.
  const ratio = (a: number, b: number) => (b ? Math.round((a / b) * 1e5) / 1e5 : null);
  return {
    from,
    to,
    bucket: byDay ? 'day' : 'run',
    classNames: [...CLASS_NAMES],
    runs: runs.length,
    points: points.length,
    t: points.map((p) => p.t),
    label: points.map((p) => p.label),
    runId: points.map((p) => p.runId),
    images: points.map((p) => p.images),
    meanConfidence: points.map((p) => ratio(p.conf, p.images)),
    classConfidence: CLASS_NAMES.map((_, c) => points.map((p) => ratio(p.classConf[c]!, p.classCount[c]!))),
    msPerPrediction: points.map((p) => ratio(p.ms, p.msImages)),
    health: points.map((p) => p.health),
    accuracy: points.map((p) => ratio(p.correct, p.labelled)),
    labelled: points.map((p) => p.labelled),
    feedbackAccuracy: points.map((p) => ratio(p.fbRight, p.fbN)),
    feedbackCount: points.map((p) => p.fbN),
    recent: recent.reverse().slice(0, opts.recent ?? 30),
  };
}

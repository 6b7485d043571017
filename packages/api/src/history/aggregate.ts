/**
 * The metrics history: a range's summary, every run of a range, and the dashboard's compact series,
 * computed from the rows the store's history repository reads (no SQL here).
 */
import { CLASS_NAMES, NUM_CLASSES, percentile, type HealthStatus, type RunSummary } from '@refund-vision/shared';
import { HEALTH_RANK } from '../health.ts';
import type { Store } from '../store/index.ts';
import type { TimeRange } from './range.ts';

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

function percentiles(values: number[]): Percentiles {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), n: sorted.length };
}

export async function summarize(store: Store, range: TimeRange): Promise<Summary> {
  const t = await store.history.totals(range);
  const fb = await store.history.feedbackTotals(range);
  const runMs = await store.history.runMsPerImage(range);
  const batchMs = await store.history.batchMsPerImage(range);
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
export async function allRuns(store: Store, range: TimeRange): Promise<RunSummary[]> {
  const out: RunSummary[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.runs.listRuns({ ...range, limit: 500, cursor });
    out.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return out.reverse();
}

// ---- compact series for the dashboard ---------------------------------------------------------

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

export async function historySeries(
  store: Store,
  opts: { days: number; now?: number; maxPoints?: number; recent?: number },
): Promise<HistorySeries> {
  const now = opts.now ?? Date.now();
  const from = new Date(now - opts.days * 86_400_000).toISOString();
  const to = new Date(now + 1).toISOString();
  const maxPoints = opts.maxPoints ?? 1500;
  const runs = await store.history.seriesRuns({ from, to });
  const classRows = await store.history.seriesClassStats({ from, to });
  const fbRows = await store.history.seriesFeedback({ from, to });
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

/**
 * The model step every protocol shares: N×784 uint8 pixels → probabilities → class, confidence,
 * top 3 per image; then recording a one-shot run (legacy, V2, upload) and closing a run with its
 * health checks.
 */
import { randomBytes } from 'node:crypto';
import { AppError, PIXELS_PER_IMAGE, topK, type RunSource, type RunSummary } from '@refund-vision/shared';
import { reviewPolicyOf, reviewPriority, reviewReasonAt } from './review/reasons.ts';
import type { AppDeps } from './deps.ts';
import { assessRun, describeProblems } from './health.ts';
import type { BatchImage, BatchPrediction, CompleteRunInput } from './store/index.ts';
import { pixelStats } from './pixel-stats.ts';

export interface Classified {
  probs: Float32Array;
  /** The model version that answered (a hot swap may change it between two requests). */
  modelVersion: string;
  engine: string;
  predictions: BatchPrediction[];
  inferenceMs: number;
}

/** Confidences are float32 underneath; six decimals say all they have to say, in fewer bytes. */
export const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * Classifies N images. `expected` holds each image's label when the sender knew it (the order's
 * class): an answer that contradicts it carries the review reason `mismatch`.
 */
export async function classify(
  deps: Pick<AppDeps, 'classifier' | 'inference' | 'state' | 'config'>,
  pixels: Uint8Array,
  n: number,
  expected: readonly (number | undefined)[] = [],
): Promise<Classified> {
  if (!deps.state.ready) throw new AppError(503, 'not-ready', 'the model is still loading');
  if (pixels.length !== n * PIXELS_PER_IMAGE)
    throw new AppError(400, 'bad-pixels', `expected ${n}×${PIXELS_PER_IMAGE} pixels, got ${pixels.length}`);
  const t0 = performance.now();
  const {
    result: { probs, labels },
    model,
  } = await deps.classifier.withModel((m) => deps.inference.predictRows(m, pixels, n));
  const inferenceMs = performance.now() - t0;
  // the policy of the model that answered (a swap may have happened since): its label head's rows fit it
  const policy = reviewPolicyOf(model.card, deps.config.review);
  const predictions: BatchPrediction[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const top3 = topK(probs, i, 3).map((t) => ({ ...t, confidence: round6(t.confidence) }));
    const classIndex = top3[0]!.classIndex;
    const review = reviewReasonAt(probs, i, classIndex, expected[i], policy, labels);
    predictions[i] = { classIndex, confidence: top3[0]!.confidence, top3, review };
    if (review) predictions[i]!.priority = round6(reviewPriority(probs, i, review, expected[i]));
  }
  return { probs, modelVersion: model.version, engine: model.engine, predictions, inferenceMs };
}

export function newRunKey(source: RunSource): string {
  return `${source}-${new Date().toISOString()}-${randomBytes(4).toString('hex')}`;
}

export interface OneShotInput {
  source: RunSource;
  images: BatchImage[];
  pixels: Uint8Array;
  classified: Classified;
  startedAt: number;
  requestHash?: string;
}

/** Records a request that is its own run (legacy, V2, upload) and closes it at once. */
export async function recordOneShotRun(
  deps: AppDeps,
  input: OneShotInput,
  respond: (predictionIds: number[]) => unknown,
): Promise<{ runKey: string; response: unknown }> {
  const runKey = newRunKey(input.source);
  const totalMs = performance.now() - input.startedAt;
  const result = await deps.store.runs.recordBatch({
    runKey,
    source: input.source,
    batchIndex: 0,
    requestHash: input.requestHash ?? runKey,
    modelVersion: input.classified.modelVersion,
    engine: input.classified.engine,
    images: input.images,
    predictions: input.classified.predictions,
    pixels: input.pixels,
    pixelStats: pixelStats(input.pixels),
    inferenceMs: input.classified.inferenceMs,
    totalMs,
    respond,
  });
  if (result.outcome === 'conflict') throw new AppError(409, 'conflict', result.message);
  deps.metrics.observePredictions(input.classified.predictions);
  deps.shadow.observe(input.pixels, input.images.length, result.predictionIds);
  await completeRun(deps, runKey, { processMs: totalMs }, { quiet: true });
  return { runKey, response: result.response };
}

/**
 * Closes a run: health checks against the model card and recent runs, stored with the run, and an
 * event when the model looks less trustworthy. A completed run is returned as it is.
 */
export async function completeRun(
  deps: AppDeps,
  runKey: string,
  input: CompleteRunInput,
  opts: { quiet?: boolean } = {},
): Promise<RunSummary> {
  const { store, classifier, config, logger } = deps;
  const run = await store.runs.getRunByKey(runKey);
  if (!run) throw new AppError(404, 'run-not-found', `no run with key '${runKey}'`);
  if (run.status === 'completed') return run;
  const health = (await store.runs.runHealthInput(run.id))!;
  const checks = assessRun(health, classifier.card, config.health, await store.runs.recentClassMixes(run.id));
  const done = (await store.runs.completeRun(runKey, input, checks))!;
  const fields = {
    run: runKey,
    images: done.images,
    failures: done.failures,
    health: done.health,
    meanConfidence: done.meanConfidence === null ? null : Number(done.meanConfidence.toFixed(4)),
    accuracy: done.accuracy === null ? undefined : Number(done.accuracy.toFixed(4)),
  };
  const problems = describeProblems(checks);
  if (problems) logger.log(done.health === 'ALERT' ? 'error' : 'warn', `run health ${done.health}: ${problems}`, fields);
  // One-shot runs (a legacy, V2 or upload request each) would flood the events log at info.
  else logger.log(opts.quiet ? 'debug' : 'info', 'run completed', fields);
  return done;
}

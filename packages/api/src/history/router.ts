/**
 * Feedback and the metrics history (summary, CSV, the dashboard's series); the dashboard's files
 * are served by dashboard/static.ts ahead of the key check. Errors are AppErrors passed on to the
 * app's JSON error handler.
 */
import express, { type Request } from 'express';
import { z } from 'zod';
import { AppError, CLASS_NAMES, classIndexOf, notFound, type Config, type Logger } from '@refund-vision/shared';
import type { Classifier } from '@refund-vision/model';
import type { Store } from '../store/index.ts';
import { jsonBody } from '../http/json-body.ts';
import { describeZodError } from '../http/errors.ts';
import { runsCsv } from './csv.ts';
import { allRuns, historySeries, summarize } from './aggregate.ts';
import { parseDays, parseRange } from './range.ts';

export interface HistoryDeps {
  store: Store;
  config: Config;
  logger: Logger;
  classifier: Classifier;
}

const FeedbackBody = z.union([
  z.object({ correctClass: z.union([z.number(), z.string().max(64)]), correct: z.boolean().optional() }).strict(),
  z.object({ correct: z.literal(true) }).strict(),
]);

/** Prediction ids are positive integers; anything else names no prediction (404, not 400). */
function predictionId(req: Request): number {
  const raw = String(req.params.id ?? '');
  const id = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(id) || id < 1) throw notFound('prediction-not-found', `no prediction with id '${raw.slice(0, 40)}'`);
  return id;
}

function parseFeedback(body: unknown): { correctClass: number | 'predicted'; claimsCorrect: boolean } {
  const parsed = FeedbackBody.safeParse(body);
  if (!parsed.success) {
    throw new AppError(
      400,
      'invalid-feedback',
      `expected {"correctClass": <0–9 or class name>} or {"correct": true}: ${describeZodError(parsed.error)}`,
    );
  }
  const b = parsed.data;
  if (!('correctClass' in b)) return { correctClass: 'predicted', claimsCorrect: true };
  const cls = classIndexOf(b.correctClass);
  if (cls === undefined) {
    throw new AppError(
      400,
      'invalid-class',
      `correctClass: '${String(b.correctClass).slice(0, 64)}' is not a class; use 0–9 or one of ${CLASS_NAMES.join(', ')}`,
    );
  }
  return { correctClass: cls, claimsCorrect: b.correct === true };
}

export function createHistoryRouter(deps: HistoryDeps): express.Router {
  const { store, logger } = deps;
  const router = express.Router();

  router.post('/v1/predictions/:id/feedback', ...jsonBody(16 * 1024), async (req, res) => {
    const id = predictionId(req);
    const { correctClass, claimsCorrect } = parseFeedback(req.body);
    const prediction = await store.feedback.findPrediction(id);
    if (!prediction) throw notFound('prediction-not-found', `no prediction with id ${id}`);
    if (claimsCorrect && correctClass !== 'predicted' && correctClass !== prediction.classIndex) {
      throw new AppError(
        400,
        'invalid-feedback',
        `"correct": true contradicts correctClass ${correctClass}: the prediction was ${CLASS_NAMES[prediction.classIndex]}`,
      );
    }
    const result = await store.feedback.recordFeedback(id, correctClass);
    if (!result) throw notFound('prediction-not-found', `no prediction with id ${id}`);
    logger.info(result.correct ? 'feedback: prediction confirmed' : 'feedback: prediction corrected', {
      run: result.runKey,
      file: result.imageId,
      prediction: id,
      predicted: result.predictedClassName,
      actual: result.correctClassName,
    });
    res.json(result);
  });

  router.get('/v1/summary', async (req, res) => {
    res.json(await summarize(store, parseRange(req.query as Record<string, unknown>)));
  });

  router.get('/v1/runs.csv', async (req, res) => {
    const range = parseRange(req.query as Record<string, unknown>);
    const name = `refund-vision-runs${range.from ? `-from-${range.from.slice(0, 10)}` : ''}${range.to ? `-to-${range.to.slice(0, 10)}` : ''}.csv`;
    res
      .type('text/csv; charset=utf-8')
      .attachment(name)
      .send(runsCsv(await allRuns(store, range)));
  });

  router.get('/v1/history', async (req, res) => {
    const days = parseDays(req.query.days, 365);
    res.json({ ...(await historySeries(store, { days })), baseline: baselineOf(deps.classifier) });
  });

  return router;
}

/** What the dashboard compares a run with: the model card's test-set figures. */
function baselineOf(classifier: Classifier) {
  const m = classifier.card.monitoring;
  return {
    modelVersion: classifier.version,
    testAccuracy: classifier.card.evaluation.accuracy,
    meanConfidence: m.meanConfidence,
    perClassMeanConfidence: m.perClassMeanConfidence,
  };
}

/**
 * POST /v1/predict — the native batch format (shared `PredictRequest`): base64 of N×784 uint8
 * pixels plus image ids. Exactly-once: a batch is (run key, batch index) and, when sent, the
 * `Idempotency-Key` header; a repeat gets the stored answer (`replayed: true`), a different body
 * under a used key gets 409. Identical requests in flight at the same moment share one inference.
 */
import { createHash } from 'node:crypto';
import { Router } from 'express';
import { AppError, badRequest, decodePixels, CLASS_NAMES, PredictRequest, type PredictResponse } from '@refund-vision/shared';
import type { AppDeps } from '../deps.ts';
import { arrivedAt } from '../http/timing.ts';
import { jsonBody } from '../http/json-body.ts';
import { classify } from '../inference.ts';
import type { RecordBatchResult } from '../store/index.ts';
import { pixelStats } from '../pixel-stats.ts';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

export function predictV1Router(deps: AppDeps): Router {
  const { config, store, metrics } = deps;
  const router = Router();
  /** In-flight batches by (run key, batch index) and by idempotency key, this process only. */
  const inFlight = new Map<string, { hash: string; done: Promise<RecordBatchResult> }>();

  /** The stored answer, or 409 when the key belongs to a different request. */
  const answer = (result: RecordBatchResult, sameRequest = true): PredictResponse => {
    if (result.outcome === 'conflict') throw new AppError(409, 'idempotency-conflict', result.message);
    if (!sameRequest)
      throw new AppError(409, 'idempotency-conflict', 'a different request with the same batch or Idempotency-Key is being processed');
    return result.response as PredictResponse;
  };

  router.post('/v1/predict', ...jsonBody(config.api.bodyLimitBytes), async (req, res) => {
    const t0 = arrivedAt(res);
    const body = PredictRequest.parse(req.body);
    const n = body.images.length;
    if (n > config.api.maxBatch) throw badRequest('too-many-images', `at most ${config.api.maxBatch} images per batch, got ${n}`);
    const idem = req.get('idempotency-key');
    if (idem !== undefined && !IDEMPOTENCY_KEY.test(idem))
      throw badRequest('bad-idempotency-key', 'Idempotency-Key: 1–255 visible ASCII characters');

    // The canonical request: the same batch hashes the same whether it came gzipped or not.
    const hash = createHash('sha256')
      .update(JSON.stringify([body.runKey, body.batchIndex, body.source, body.images]))
      .update(body.pixels)
      .digest('hex');
    const keys = [`b:${body.runKey}\0${body.batchIndex}`, ...(idem ? [`k:${idem}`] : [])];

    const prior = await store.runs.checkBatch(body.runKey, body.batchIndex, idem, hash);
    if (prior) return res.json({ ...answer(prior), replayed: true });
    const running = keys.map((k) => inFlight.get(k)).find((x) => x);
    if (running) {
      const result = await running.done;
      return res.json({ ...answer(result, running.hash === hash), replayed: true });
    }

    const pixels = decodePixels(body.pixels);
    const done = (async (): Promise<RecordBatchResult> => {
      const classified = await classify(
        deps,
        pixels,
        n,
        body.images.map((img) => img.label),
      );
      const totalMs = performance.now() - t0;
      const result = await store.runs.recordBatch({
        runKey: body.runKey,
        source: body.source,
        batchIndex: body.batchIndex,
        idempotencyKey: idem ?? null,
        requestHash: hash,
        modelVersion: classified.modelVersion,
        engine: classified.engine,
        images: body.images,
        predictions: classified.predictions,
        pixels,
        pixelStats: pixelStats(pixels),
        inferenceMs: classified.inferenceMs,
        totalMs,
        respond: (ids): PredictResponse => ({
          runKey: body.runKey,
          batchIndex: body.batchIndex,
          modelVersion: classified.modelVersion,
          replayed: false,
          predictions: classified.predictions.map((p, i) => ({
            predictionId: ids[i]!,
            id: body.images[i]!.id,
            classIndex: p.classIndex,
            className: CLASS_NAMES[p.classIndex]!,
            confidence: p.confidence,
            top3: p.top3,
            review: p.review ?? null,
          })),
          timing: { inferenceMs: classified.inferenceMs, totalMs, perImageMs: totalMs / n },
        }),
      });
      if (result.outcome === 'recorded') {
        metrics.observePredictions(classified.predictions);
        deps.shadow.observe(pixels, n, result.predictionIds);
      }
      return result;
    })();
    const entry = { hash, done };
    for (const k of keys) inFlight.set(k, entry);
    try {
      const result = await done;
      const response = answer(result);
      // Recorded by another process between our check and our write: that answer is the answer.
      res.json(result.outcome === 'replayed' ? { ...response, replayed: true } : response);
    } finally {
      for (const k of keys) if (inFlight.get(k) === entry) inFlight.delete(k);
    }
  });
  return router;
}

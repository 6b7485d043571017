/**
 * The metrics history: GET /v1/runs (newest first, keyset pages), GET /v1/runs/:id (numeric id or
 * run key, with the per-class breakdown and a page of predictions), POST /v1/runs/:runKey/complete.
 */
import { Router } from 'express';
import { z } from 'zod';
import { AppError, CompleteRunRequest, RunKey } from '@refund-vision/shared';
import type { AppDeps } from '../deps.ts';
import { ISO_TIME, rangeBoundMs } from '../history/range.ts';
import { jsonBody } from '../http/json-body.ts';
import { completeRun } from '../inference.ts';
import { CursorError } from '../store/index.ts';

/** An ISO date or date-time; a bare date as `to` means the end of that day. */
const isoTime = (end: boolean) =>
  z
    .string()
    .max(40)
    .refine((s) => ISO_TIME.test(s) && !Number.isNaN(Date.parse(s)), 'expected an ISO 8601 date or date-time')
    .transform((s) => new Date(rangeBoundMs(s, end)).toISOString());

const ListQuery = z
  .object({
    from: isoTime(false).optional(),
    to: isoTime(true).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    cursor: z.string().max(200).optional(),
  })
  .strict();

const DetailQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).default(100),
    cursor: z.string().max(200).optional(),
  })
  .strict();

const withCursorErrors = async <T>(fn: () => Promise<T>): Promise<T> => {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof CursorError) throw new AppError(400, 'bad-cursor', e.message);
    throw e;
  }
};

export function runsRouter(deps: AppDeps): Router {
  const { store } = deps;
  const router = Router();

  router.get('/v1/runs', async (req, res) => {
    const q = ListQuery.parse(req.query);
    const page = await withCursorErrors(() => store.runs.listRuns(q));
    res.json({ runs: page.items, nextCursor: page.nextCursor });
  });

  router.get('/v1/runs/:id', async (req, res) => {
    const q = DetailQuery.parse(req.query);
    const run = await store.runs.getRun(req.params.id!);
    if (!run) throw new AppError(404, 'run-not-found', `no run with id or key '${req.params.id}'`);
    const page = await withCursorErrors(() => store.runs.runPredictions(run.id, q));
    res.json({ run, predictions: page.items, nextCursor: page.nextCursor });
  });

  router.post('/v1/runs/:runKey/complete', ...jsonBody(64 * 1024, { allowEmpty: true }), async (req, res) => {
    const runKey = RunKey.parse(req.params.runKey);
    const body = CompleteRunRequest.parse(req.body);
    res.json(await completeRun(deps, runKey, body));
  });
  return router;
}

/**
 * The review queue over HTTP: the queue (filters, CSV export), one item with what the model saw
 * and the thumbnail, claims with a lease, decisions (append-only), the audit trail, saliency, the
 * client's thumbnails, and the reviewed items as training data for `pnpm train --with-reviews`.
 */
import { Router, type Request } from 'express';
import { z } from 'zod';
import {
  AppError,
  CLASS_NAMES,
  ReviewClaimRequest,
  ReviewDecisionRequest,
  ReviewReason,
  ThumbnailsRequest,
  csvLine,
  decodePixels,
  notFound,
  type TrainingSetResponse,
} from '@refund-vision/shared';
import type { AppDeps } from '../deps.ts';
import { jsonBody } from '../http/json-body.ts';
import type { ReviewItem } from '../store/index.ts';
import { occlusionSaliency } from './saliency.ts';

const ListQuery = z
  .object({
    status: z.enum(['open', 'decided', 'all']).default('open'),
    reason: ReviewReason.optional(),
    /** A run's numeric id or key. */
    run: z.string().max(128).optional(),
    limit: z.coerce.number().int().min(1).max(10_000).default(100),
    offset: z.coerce.number().int().min(0).default(0),
    format: z.enum(['json', 'csv']).default('json'),
  })
  .strict();

const DecisionsQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(10_000).default(200), item: z.coerce.number().int().min(1).optional() })
  .strict();

/** Review item ids are prediction ids: positive integers; anything else names no item (404). */
function itemId(req: Request): number {
  const raw = String(req.params.id ?? '');
  const id = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(id) || id < 1) throw notFound('review-not-found', `no review item '${raw.slice(0, 40)}'`);
  return id;
}

const CSV_COLUMNS = [
  'id',
  'run',
  'file',
  'group',
  'reason',
  'predicted',
  'confidence',
  'top3',
  'expected',
  'decision',
  'decided_class',
  'decided_by',
  'decided_at',
  'model_version',
];

function csvRow(i: ReviewItem): string {
  const d = i.latest;
  return csvLine([
    i.id,
    i.runKey,
    i.imageId,
    i.group ?? '',
    i.reason,
    i.className,
    i.confidence.toFixed(4),
    i.top3.map((t) => `${t.className} ${t.confidence.toFixed(4)}`).join('; '),
    i.expected === null ? '' : CLASS_NAMES[i.expected],
    d?.decision ?? '',
    d?.className ?? (d?.decision === 'none' ? 'none of these' : ''),
    d?.decidedBy ?? '',
    d?.decidedAt ?? '',
    i.modelVersion,
  ]);
}

export function reviewRouter(deps: AppDeps): Router {
  const { store, config, logger } = deps;
  const router = Router();
  const lease = () => config.review.leaseSeconds;

  router.get('/v1/reviews', async (req, res) => {
    const q = ListQuery.parse(req.query);
    let runId: number | undefined;
    if (q.run !== undefined) {
      const run = await store.runs.getRun(q.run);
      if (!run) throw notFound('run-not-found', `no run with id or key '${q.run.slice(0, 128)}'`);
      runId = run.id;
    }
    const page = await store.reviews.list({ status: q.status, reason: q.reason, runId, limit: q.limit, offset: q.offset });
    if (q.format === 'csv') {
      res
        .type('text/csv; charset=utf-8')
        .attachment(`refund-vision-reviews-${q.status}.csv`)
        .send(csvLine(CSV_COLUMNS) + page.items.map(csvRow).join(''));
      return;
    }
    res.json({ ...page, leaseSeconds: lease() });
  });

  router.get('/v1/reviews/decisions', async (req, res) => {
    const q = DecisionsQuery.parse(req.query);
    res.json({ decisions: await store.reviews.decisions({ limit: q.limit, itemId: q.item }) });
  });

  router.get('/v1/reviews/training-set', async (_req, res) => {
    const items = await store.reviews.trainingSet();
    const body: TrainingSetResponse = { items: items.map((i) => ({ ...i, id: String(i.id) })) };
    res.json(body);
  });

  router.post('/v1/reviews/thumbnails', ...jsonBody(config.api.bodyLimitBytes), async (req, res) => {
    const body = ThumbnailsRequest.parse(req.body);
    let stored = 0;
    const missing: number[] = [];
    for (const t of body.items) {
      if (await store.reviews.setThumbnail(t.predictionId, t.type, t.data)) stored++;
      else missing.push(t.predictionId);
    }
    res.json({ stored, missing });
  });

  router.post('/v1/reviews/claim', ...jsonBody(64 * 1024), async (req, res) => {
    const body = ReviewClaimRequest.parse(req.body);
    const item = await store.reviews.claimNext(body.reviewer, lease(), body.exclude ?? []);
    res.json({ item: item ? await store.reviews.get(item.id) : null, leaseSeconds: lease() });
  });

  router.get('/v1/reviews/:id', async (req, res) => {
    const item = await store.reviews.get(itemId(req));
    if (!item) throw notFound('review-not-found', `no review item ${req.params.id}`);
    res.json(item);
  });

  router.post('/v1/reviews/:id/claim', ...jsonBody(16 * 1024), async (req, res) => {
    const id = itemId(req);
    const body = ReviewClaimRequest.parse(req.body);
    if (!(await store.reviews.get(id))) throw notFound('review-not-found', `no review item ${id}`);
    if (!(await store.reviews.claim(id, body.reviewer, lease())))
      throw new AppError(409, 'claimed', `review item ${id} is claimed by another reviewer`);
    res.json({ item: await store.reviews.get(id), leaseSeconds: lease() });
  });

  router.post('/v1/reviews/:id/release', ...jsonBody(16 * 1024), async (req, res) => {
    const id = itemId(req);
    const body = ReviewClaimRequest.parse(req.body);
    res.json({ released: await store.reviews.release(id, body.reviewer) });
  });

  router.post('/v1/reviews/:id/decision', ...jsonBody(16 * 1024), async (req, res) => {
    const id = itemId(req);
    const body = ReviewDecisionRequest.parse(req.body);
    let input;
    if (body.decision === 'class' || body.decision === 'confirm') {
      const item = await store.reviews.get(id);
      if (!item) throw notFound('review-not-found', `no review item ${id}`);
      const classIndex = body.decision === 'confirm' ? item.classIndex : body.classIndex!;
      input = { decision: 'class' as const, classIndex, by: body.reviewer, secondsSpent: body.secondsSpent };
    } else input = { decision: body.decision, by: body.reviewer, secondsSpent: body.secondsSpent };
    const result = await store.reviews.decide(id, input);
    if (result.outcome === 'not-found') throw notFound('review-not-found', `no review item ${id}`);
    if (result.outcome === 'claimed-by-other')
      throw new AppError(409, 'claimed', `review item ${id} is claimed by ${result.claimedBy} until ${result.until}`);
    if (result.outcome === 'nothing-to-undo') throw new AppError(409, 'nothing-to-undo', `review item ${id} has no decision to undo`);
    logger.info('review decision', {
      run: result.item.runKey,
      file: result.item.imageId,
      item: id,
      decision: result.decision.decision,
      class: result.decision.className ?? undefined,
      by: body.reviewer,
    });
    res.json(result);
  });

  router.get('/v1/reviews/:id/saliency', async (req, res) => {
    const id = itemId(req);
    const cached = await store.reviews.saliency(id);
    if (cached === undefined) throw notFound('review-not-found', `no review item ${id}`);
    const item = (await store.reviews.get(id))!;
    if (cached) return res.json({ id, classIndex: item.classIndex, values: cached, cached: true });
    const values = await occlusionSaliency(
      (p, n) => deps.classifier.withModel((m) => deps.inference.predict(m, p, n)).then((r) => r.result),
      decodePixels(item.pixels),
      item.classIndex,
    );
    await store.reviews.setSaliency(id, values);
    res.json({ id, classIndex: item.classIndex, values, cached: false });
  });

  return router;
}

/**
 * The Open Inference Protocol (KServe V2 / Triton / MLServer) for model `fashion-cnn`.
 * Input: one tensor, UINT8 (pixels 0–255) or FP32 (pixel/255, 0–1), shape [N,28,28], [N,28,28,1]
 * or [N,784], data flat or nested row-major. Outputs: `probabilities`, FP32 [N,10], and `review`, BYTES [N]:
 * each image's review reason ('' when the answer can be trusted). A request naming `outputs` gets those only.
 * Errors follow the protocol: `{"error": "<message>"}` with a 4xx status.
 * Each inference is a recorded run (source 'v2') that is completed at once.
 */
import { Router, type ErrorRequestHandler } from 'express';
import { z } from 'zod';
import { AppError, badRequest, IMAGE_SIZE, NUM_CLASSES, PIXELS_PER_IMAGE } from '@refund-vision/shared';
import type { AppDeps } from '../deps.ts';
import { arrivedAt } from '../http/timing.ts';
import { toAppError } from '../http/errors.ts';
import { jsonBody } from '../http/json-body.ts';
import { classify, recordOneShotRun } from '../inference.ts';

export const V2_MODEL_NAME = 'fashion-cnn';
const SERVER_NAME = 'refund-vision';
const SERVER_VERSION = '0.1.0';

const Tensor = z
  .object({
    name: z.string().max(256),
    shape: z.array(z.number().int().min(0).max(1_000_000)).min(2).max(4),
    datatype: z.string(),
    data: z.array(z.unknown()),
    parameters: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

const InferRequest = z
  .object({
    id: z.string().max(256).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    inputs: z.array(Tensor).length(1, 'exactly one input tensor'),
    outputs: z.array(z.object({ name: z.string(), parameters: z.record(z.string(), z.unknown()).optional() }).strict()).optional(),
  })
  .strict();

const ACCEPTED_SHAPES = '[N,28,28], [N,28,28,1] or [N,784]';
const OUTPUTS = ['probabilities', 'review'];

function imagesFromShape(shape: number[]): number {
  const [n, ...rest] = shape;
  const ok =
    (rest.length === 2 && rest[0] === IMAGE_SIZE && rest[1] === IMAGE_SIZE) ||
    (rest.length === 3 && rest[0] === IMAGE_SIZE && rest[1] === IMAGE_SIZE && rest[2] === 1) ||
    (rest.length === 1 && rest[0] === PIXELS_PER_IMAGE);
  if (!ok || !n) throw badRequest('bad-shape', `input shape must be ${ACCEPTED_SHAPES} with N ≥ 1, got [${shape.join(',')}]`);
  return n;
}

/** Flattens row-major nested data into pixels, checking every value on the way. */
export function toPixels(data: unknown[], datatype: 'UINT8' | 'FP32', expected: number): Uint8Array {
  const out = new Uint8Array(expected);
  let k = 0;
  const visit = (arr: unknown[], depth: number) => {
    for (const v of arr) {
      if (Array.isArray(v)) {
        if (depth >= 4) throw badRequest('bad-data', 'data nested deeper than the shape');
        visit(v, depth + 1);
        continue;
      }
      if (k >= expected) throw badRequest('bad-data', `data has more than the ${expected} values the shape declares`);
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw badRequest('bad-data', `data[${k}]: expected a number, got ${JSON.stringify(v)?.slice(0, 40)}`);
      if (datatype === 'UINT8') {
        if (!Number.isInteger(v) || v < 0 || v > 255) throw badRequest('bad-data', `data[${k}]: UINT8 must be an integer 0–255, got ${v}`);
        out[k++] = v;
      } else {
        if (v < 0 || v > 1) throw badRequest('bad-data', `data[${k}]: FP32 input is pixel/255 in [0, 1], got ${v} (send UINT8 for 0–255)`);
        out[k++] = Math.round(v * 255);
      }
    }
  };
  visit(data, 0);
  if (k !== expected) throw badRequest('bad-data', `data has ${k} values, the shape declares ${expected}`);
  return out;
}

export function v2HealthRouter(deps: AppDeps): Router {
  const router = Router();
  router.get('/v2/health/live', (_req, res) => res.status(deps.state.failed ? 503 : 200).json({ live: !deps.state.failed }));
  router.get('/v2/health/ready', (_req, res) => {
    // Ready = model loaded and warm, not draining, and the database answers (database-watch.ts).
    const ready = deps.state.ready && !deps.state.draining && !deps.state.failed && !deps.state.database && !deps.store.closed;
    res.status(ready ? 200 : 503).json({ ready });
  });
  return router;
}

export function v2Router(deps: AppDeps): Router {
  const { classifier, config } = deps;
  const router = Router();
  const metadata = () => ({
    name: V2_MODEL_NAME,
    versions: [classifier.version],
    platform: `refund-vision/${classifier.engine}`,
    inputs: [{ name: 'input', datatype: 'UINT8', shape: [-1, IMAGE_SIZE, IMAGE_SIZE] }],
    outputs: [
      { name: 'probabilities', datatype: 'FP32', shape: [-1, NUM_CLASSES] },
      { name: 'review', datatype: 'BYTES', shape: [-1] },
    ],
    parameters: { accepts: `UINT8 0–255 or FP32 0–1; shapes ${ACCEPTED_SHAPES}` },
  });
  const known = (name: string, version?: string) => {
    if (name !== V2_MODEL_NAME) throw new AppError(404, 'model-not-found', `model '${name}' is not served here; try '${V2_MODEL_NAME}'`);
    if (version !== undefined && version !== classifier.version)
      throw new AppError(404, 'version-not-found', `model '${name}' has no version '${version}'; serving '${classifier.version}'`);
  };

  router.get('/v2', (_req, res) => res.json({ name: SERVER_NAME, version: SERVER_VERSION, extensions: [] }));
  router.get(['/v2/models/:name', '/v2/models/:name/versions/:version'], (req, res) => {
    known(String(req.params.name), req.params.version as string | undefined);
    res.json(metadata());
  });
  router.get(['/v2/models/:name/ready', '/v2/models/:name/versions/:version/ready'], (req, res) => {
    known(String(req.params.name), req.params.version as string | undefined);
    const ready = deps.state.ready && !deps.state.draining;
    res.status(ready ? 200 : 503).json({ name: V2_MODEL_NAME, ready });
  });
  router.post(
    ['/v2/models/:name/infer', '/v2/models/:name/versions/:version/infer'],
    ...jsonBody(config.api.bodyLimitBytes),
    async (req, res) => {
      const t0 = arrivedAt(res);
      known(String(req.params.name), req.params.version as string | undefined);
      const body = InferRequest.parse(req.body);
      const input = body.inputs[0]!;
      if (input.datatype !== 'UINT8' && input.datatype !== 'FP32')
        throw badRequest('bad-datatype', `datatype must be UINT8 or FP32, got ${input.datatype}`);
      for (const o of body.outputs ?? [])
        if (!OUTPUTS.includes(o.name)) throw badRequest('bad-output', `unknown output '${o.name}'; this model has ${OUTPUTS.join(', ')}`);
      const n = imagesFromShape(input.shape);
      if (n > config.api.maxBatch) throw badRequest('too-many-images', `at most ${config.api.maxBatch} images per request, got ${n}`);
      const pixels = toPixels(input.data, input.datatype, n * PIXELS_PER_IMAGE);
      const classified = await classify(deps, pixels, n);
      const wanted = new Set(body.outputs?.map((o) => o.name) ?? OUTPUTS);
      const outputs = [
        {
          name: 'probabilities',
          datatype: 'FP32',
          shape: [n, NUM_CLASSES],
          data: Array.from(classified.probs.subarray(0, n * NUM_CLASSES)),
        },
        { name: 'review', datatype: 'BYTES', shape: [n], data: classified.predictions.map((p) => p.review ?? '') },
      ].filter((o) => wanted.has(o.name));
      const response = {
        model_name: V2_MODEL_NAME,
        model_version: classified.modelVersion,
        ...(body.id !== undefined ? { id: body.id } : {}),
        outputs,
      };
      const prefix = body.id ?? 'v2';
      await recordOneShotRun(
        deps,
        { source: 'v2', images: Array.from({ length: n }, (_, i) => ({ id: `${prefix}[${i}]` })), pixels, classified, startedAt: t0 },
        () => ({
          model_name: V2_MODEL_NAME,
          model_version: classified.modelVersion,
          id: body.id,
          images: n,
        }),
      );
      res.json(response);
    },
  );
  router.use('/v2', (req, _res, next) =>
    next(new AppError(404, 'not-found', `no V2 route for ${req.method} ${req.originalUrl.split('?')[0]}`)),
  );
  return router;
}

/** V2's own error form: `{"error": "<message>"}`. */
export const v2ErrorHandler: ErrorRequestHandler = (err, req, res, next) => {
  if (!req.path.startsWith('/v2/') && req.path !== '/v2') return next(err);
  const app = toAppError(err);
  if (!app) return next(err);
  if (res.headersSent) return res.destroy();
  res.status(app.status).json({ error: app.message });
};

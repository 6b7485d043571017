/** The OpenAPI 3 document served at /openapi.json; message schemas come from the shared zod contract. */
import { z } from 'zod';
import {
  CompleteRunRequest,
  ErrorBody,
  PredictRequest,
  PredictResponse,
  ReviewClaimRequest,
  ReviewDecisionRequest,
  RunDetailResponse,
  RunSummary,
  ThumbnailsRequest,
} from '@refund-vision/shared';
import { historyOpenApiPaths } from './history/openapi.ts';
import { reviewOpenApiPaths } from './review/openapi.ts';

const schema = (s: z.ZodType) =>
  z.toJSONSchema(s, { io: 'input', unrepresentable: 'any', target: 'openapi-3.0' }) as Record<string, unknown>;
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (s: unknown) => ({ 'application/json': { schema: s } });
const errors = (...codes: number[]) =>
  Object.fromEntries(codes.map((c) => [String(c), { description: ERROR_TEXT[c] ?? 'error', content: json(ref('ErrorBody')) }]));
const ERROR_TEXT: Record<number, string> = {
  400: 'malformed request',
  401: 'missing or wrong API key',
  404: 'not found',
  409: 'a different request under a used batch or Idempotency-Key',
  413: 'body over the limit',
  415: 'wrong Content-Type or Content-Encoding',
  503: 'model not loaded yet',
};
const v2Error = {
  description: 'V2 error',
  content: json({ type: 'object', properties: { error: { type: 'string' } }, required: ['error'] }),
};
const v2Tensor = {
  type: 'object',
  required: ['name', 'shape', 'datatype', 'data'],
  properties: {
    name: { type: 'string' },
    shape: { type: 'array', items: { type: 'integer' } },
    datatype: { type: 'string', enum: ['UINT8', 'FP32'] },
    data: { type: 'array', items: {} },
  },
};

export function openApiDocument(version: string) {
  return {
    openapi: '3.0.3',
    info: {
      title: 'refund-vision API',
      version: '0.1.0',
      description: `Fashion-MNIST classification of returned items. Serving model ${version}. Every route except /healthz, /readyz, /v2/health/* and the static pages (/, /dashboard/*, /docs, /openapi.json) needs \`Authorization: Bearer <API key>\` when the server has a key; the dashboard asks for it.`,
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        PredictRequest: schema(PredictRequest),
        PredictResponse: schema(PredictResponse),
        CompleteRunRequest: schema(CompleteRunRequest),
        RunSummary: schema(RunSummary),
        RunDetailResponse: schema(RunDetailResponse),
        ErrorBody: schema(ErrorBody),
        ReviewClaimRequest: schema(ReviewClaimRequest),
        ReviewDecisionRequest: schema(ReviewDecisionRequest),
        ThumbnailsRequest: schema(ThumbnailsRequest),
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/predict': {
        post: {
          summary: 'Classify a batch (native format); exactly-once per (runKey, batchIndex) and Idempotency-Key',
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } }],
          requestBody: { required: true, content: json(ref('PredictRequest')) },
          responses: {
            200: { description: 'predictions (replayed: true for a batch already recorded)', content: json(ref('PredictResponse')) },
            ...errors(400, 401, 409, 413, 415, 503),
          },
        },
      },
      '/predict': {
        post: {
          summary: 'Legacy: pandas DataFrame.to_json() of an N×784 int frame → [[num, item, confidence_percent], …]',
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              additionalProperties: { type: 'object', additionalProperties: { type: 'integer', minimum: 0, maximum: 255 } },
            }),
          },
          responses: {
            200: {
              description: 'one row per frame row, in row order',
              content: json({ type: 'array', items: { type: 'array', items: {}, minItems: 3, maxItems: 3 } }),
            },
            ...errors(400, 401, 413, 415),
          },
        },
      },
      '/v1/predict/image': {
        post: {
          summary: 'Upload image files (PNG, JPEG, WebP, GIF, BMP, TIFF); top 3 per file or its error',
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: { type: 'object', properties: { files: { type: 'array', items: { type: 'string', format: 'binary' } } } },
              },
            },
          },
          responses: { 200: { description: 'one entry per file, in upload order' }, ...errors(400, 401, 413, 415) },
        },
      },
      '/v1/runs': {
        get: {
          summary: 'Runs, newest first (keyset pagination)',
          parameters: ['from', 'to', 'cursor']
            .map((name) => ({ name, in: 'query', schema: { type: 'string' } }))
            .concat([{ name: 'limit', in: 'query', schema: { type: 'integer' } as never }]),
          responses: { 200: { description: '{ runs: RunSummary[], nextCursor }' }, ...errors(400, 401) },
        },
      },
      '/v1/models': {
        get: {
          summary:
            'The model served by this process, the registry (versions, champion/challenger, history of moves) and the shadow comparison',
          responses: {
            200: { description: '{ serving, challenger, versions, history, shadow: { comparisons, skippedImages } }' },
            ...errors(401, 503),
          },
        },
      },
      '/v1/runs/{id}': {
        get: {
          summary: 'One run (numeric id or run key) with per-class breakdown and a page of predictions',
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
            { name: 'limit', in: 'query', schema: { type: 'integer' } },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
          ],
          responses: {
            200: {
              description: 'the run and a page of its predictions, each with its feedback (feedbackNone: a reviewer said no class fits)',
              content: json(ref('RunDetailResponse')),
            },
            ...errors(400, 401, 404),
          },
        },
      },
      '/v1/runs/{runKey}/complete': {
        post: {
          summary: 'Close a run: final metrics and health checks (idempotent)',
          parameters: [{ name: 'runKey', in: 'path', required: true, schema: { type: 'string' } }],
          requestBody: { required: false, content: json(ref('CompleteRunRequest')) },
          responses: { 200: { description: 'the final run summary', content: json(ref('RunSummary')) }, ...errors(400, 401, 404) },
        },
      },
      ...historyOpenApiPaths(),
      ...reviewOpenApiPaths(),
      '/v2': { get: { summary: 'V2 server metadata', responses: { 200: { description: 'name, version, extensions' } } } },
      '/v2/health/live': { get: { summary: 'V2 liveness', security: [], responses: { 200: { description: 'live' } } } },
      '/v2/health/ready': {
        get: { summary: 'V2 readiness', security: [], responses: { 200: { description: 'ready' }, 503: { description: 'loading' } } },
      },
      '/v2/models/fashion-cnn': {
        get: { summary: 'V2 model metadata', responses: { 200: { description: 'inputs and outputs' }, 404: v2Error } },
      },
      '/v2/models/fashion-cnn/ready': {
        get: { summary: 'V2 model readiness', responses: { 200: { description: 'ready' }, 503: { description: 'loading' } } },
      },
      '/v2/models/fashion-cnn/infer': {
        post: {
          summary: 'V2 inference: UINT8 (0–255) or FP32 (0–1) input [N,28,28], [N,28,28,1] or [N,784] → FP32 probabilities [N,10]',
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              required: ['inputs'],
              properties: { id: { type: 'string' }, inputs: { type: 'array', items: v2Tensor } },
            }),
          },
          responses: {
            200: { description: 'outputs: [{name: probabilities, datatype: FP32, shape: [N,10], data}]' },
            400: v2Error,
            404: v2Error,
            413: v2Error,
          },
        },
      },
      '/healthz': { get: { summary: 'Liveness', security: [], responses: { 200: { description: 'process is up' } } } },
      '/readyz': {
        get: {
          summary: 'Readiness: model loaded and warmed up',
          security: [],
          responses: { 200: { description: 'ready' }, 503: { description: 'loading or draining' } },
        },
      },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'text exposition format' } } } },
    },
  };
}

/**
 * OpenAPI paths of the history routes, for the API's document (`...historyOpenApiPaths()` in its
 * `paths`). Refers to the document's ErrorBody component.
 */
const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorBody' } } },
});
const range = [
  {
    name: 'from',
    in: 'query',
    required: false,
    schema: { type: 'string', format: 'date-time' },
    description: 'ISO date or date-time, inclusive',
  },
  {
    name: 'to',
    in: 'query',
    required: false,
    schema: { type: 'string', format: 'date-time' },
    description: 'ISO date-time, exclusive; a bare date includes that whole day',
  },
];

export function historyOpenApiPaths() {
  return {
    '/v1/predictions/{id}/feedback': {
      post: {
        summary: 'Feedback on one prediction: the correct class (index 0–9 or name), or {"correct": true}. The latest word wins.',
        parameters: [
          {
            name: 'id',
            in: 'path',
            required: true,
            schema: { type: 'integer', minimum: 1 },
            description: 'predictionId from a predict response',
          },
        ],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                oneOf: [
                  {
                    type: 'object',
                    required: ['correctClass'],
                    additionalProperties: false,
                    properties: {
                      correctClass: { oneOf: [{ type: 'integer', minimum: 0, maximum: 9 }, { type: 'string' }] },
                      correct: { type: 'boolean' },
                    },
                  },
                  {
                    type: 'object',
                    required: ['correct'],
                    additionalProperties: false,
                    properties: { correct: { type: 'boolean', enum: [true] } },
                  },
                ],
              },
            },
          },
        },
        responses: {
          200: { description: 'stored: predicted and correct class, and the run’s feedback accuracy so far' },
          400: error('not a class, or a malformed body'),
          404: error('no such prediction'),
          415: error('not JSON'),
        },
      },
    },
    '/v1/summary': {
      get: {
        summary:
          'Runs, images, mean confidence, accuracy from labels and from feedback, health counts, p50/p95 ms per prediction over a time range',
        parameters: range,
        responses: { 200: { description: 'the summary' }, 400: error('bad time range') },
      },
    },
    '/v1/runs.csv': {
      get: {
        summary: 'Every run of a time range as CSV (one row per run, per-class counts and confidences)',
        parameters: range,
        responses: {
          200: { description: 'text/csv', content: { 'text/csv': { schema: { type: 'string' } } } },
          400: error('bad time range'),
        },
      },
    },
    '/v1/history': {
      get: {
        summary: 'Compact column-oriented series for the dashboard: one point per run (per day past 1,500 runs)',
        parameters: [{ name: 'days', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 3660, default: 365 } }],
        responses: { 200: { description: 'the series, the 30 most recent runs, and the model card baseline' }, 400: error('bad days') },
      },
    },
    '/': {
      get: {
        summary:
          'The dashboard (HTML page; its script, style and Chart.js are served from /dashboard/). Public: the page asks for the API key and sends it with its API calls',
        security: [],
        responses: { 200: { description: 'text/html' } },
      },
    },
  };
}

/**
 * OpenAPI paths of the review queue, for the API's document (`...reviewOpenApiPaths()` in its
 * `paths`). Request bodies refer to the document's components made from the shared zod contract.
 */
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ 'application/json': { schema } });
const error = (description: string) => ({ description, content: json(ref('ErrorBody')) });
const id = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'integer', minimum: 1 },
  description: 'the review item (its prediction id)',
};
const item = {
  description: 'the item: what the model saw (base64 of 784 bytes), thumbnail, top 3, expected class, claim, latest decision',
};

export function reviewOpenApiPaths() {
  return {
    '/v1/reviews': {
      get: {
        summary:
          'The review queue across runs: mismatches (lowest probability of the ordered class first), then out-of-scope, then low confidence (smallest margin first). format=csv exports it.',
        parameters: [
          { name: 'status', in: 'query', required: false, schema: { type: 'string', enum: ['open', 'decided', 'all'], default: 'open' } },
          {
            name: 'reason',
            in: 'query',
            required: false,
            schema: { type: 'string', enum: ['mismatch', 'out-of-scope', 'low-confidence'] },
          },
          { name: 'run', in: 'query', required: false, schema: { type: 'string' }, description: 'a run id or key' },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 10000, default: 100 } },
          { name: 'offset', in: 'query', required: false, schema: { type: 'integer', minimum: 0, default: 0 } },
          { name: 'format', in: 'query', required: false, schema: { type: 'string', enum: ['json', 'csv'], default: 'json' } },
        ],
        responses: {
          200: { description: '{items, total, leaseSeconds}, or text/csv with format=csv' },
          400: error('bad filter'),
          404: error('no such run'),
        },
      },
    },
    '/v1/reviews/claim': {
      post: {
        summary: 'Claim the next open item nobody else holds, for the configured lease (review.leaseSeconds); item null when none is left',
        requestBody: { required: true, content: json(ref('ReviewClaimRequest')) },
        responses: { 200: { description: '{item, leaseSeconds}' }, 400: error('malformed request') },
      },
    },
    '/v1/reviews/{id}': { get: { summary: 'One review item', parameters: [id], responses: { 200: item, 404: error('no such item') } } },
    '/v1/reviews/{id}/claim': {
      post: {
        summary: 'Claim one item (again, e.g. after an undo)',
        parameters: [id],
        requestBody: { required: true, content: json(ref('ReviewClaimRequest')) },
        responses: { 200: item, 404: error('no such item'), 409: error('claimed by another reviewer whose lease has not expired') },
      },
    },
    '/v1/reviews/{id}/release': {
      post: {
        summary: "Give an item back (skip); only the holder's claim is released",
        parameters: [id],
        requestBody: { required: true, content: json(ref('ReviewClaimRequest')) },
        responses: { 200: { description: '{released}' } },
      },
    },
    '/v1/reviews/{id}/decision': {
      post: {
        summary:
          'Decide an item: a class, "none" of these classes, "confirm" the model, or "undo" the latest decision. Each is a new row in the audit trail; measured accuracy follows the latest.',
        parameters: [id],
        requestBody: { required: true, content: json(ref('ReviewDecisionRequest')) },
        responses: {
          200: { description: '{outcome, item, decision}' },
          400: error('malformed decision'),
          404: error('no such item'),
          409: error('claimed by another reviewer, or nothing to undo'),
        },
      },
    },
    '/v1/reviews/{id}/saliency': {
      get: {
        summary: 'Occlusion saliency over the 28×28 (784 values 0–1, 1 = what the answer rested on most); computed on demand, cached',
        parameters: [id],
        responses: { 200: { description: '{id, classIndex, values, cached}' }, 404: error('no such item') },
      },
    },
    '/v1/reviews/decisions': {
      get: {
        summary: 'The audit trail, newest first: item, decision, who, when, seconds spent, model version, previous decision',
        parameters: [
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 10000, default: 200 } },
          { name: 'item', in: 'query', required: false, schema: { type: 'integer', minimum: 1 } },
        ],
        responses: { 200: { description: '{decisions}' } },
      },
    },
    '/v1/reviews/thumbnails': {
      post: {
        summary: "The client's second request: small photos (WebP/JPEG, ≤ ~160 px) of the images answered with a review reason",
        requestBody: { required: true, content: json(ref('ThumbnailsRequest')) },
        responses: { 200: { description: '{stored, missing}' }, 400: error('malformed request'), 413: error('body over the limit') },
      },
    },
    '/v1/reviews/training-set': {
      get: {
        summary: 'Every item whose latest decision stands, with its 28×28 and class (null = none of these): pnpm train --with-reviews',
        responses: { 200: { description: 'TrainingSetResponse (packages/shared/src/review.ts)' } },
      },
    },
  };
}

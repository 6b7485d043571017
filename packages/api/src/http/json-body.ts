/**
 * JSON request bodies, read as raw bytes first so that every failure has its own clear 4xx:
 * wrong content type (415), over the limit (413, also after gzip inflation), empty, too deeply
 * nested, or not JSON (400). The raw text stays available (`rawJson`) for formats whose key order
 * matters (the legacy pandas frame).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import express from 'express';
import { AppError, badRequest } from '@refund-vision/shared';

export const MAX_JSON_DEPTH = 16;

/** Deepest nesting of arrays/objects in a JSON text, stopping early past `limit`. */
export function jsonDepth(buf: Uint8Array, limit = MAX_JSON_DEPTH): number {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let depth = 0;
  let max = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c === 34) {
      // Jump over the string with a native search for its closing quote (base64 payloads are long).
      let end = b.indexOf(34, i + 1);
      while (end > 0) {
        let slashes = 0;
        while (b[end - 1 - slashes] === 92) slashes++;
        if (slashes % 2 === 0) break;
        end = b.indexOf(34, end + 1);
      }
      if (end < 0) return max; // unterminated: JSON.parse will say so
      i = end;
    } else if (c === 91 || c === 123) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 93 || c === 125) depth--;
  }
  return max;
}

export function isJsonContentType(req: Request): boolean {
  return !!req.is(['application/json', 'application/*+json']);
}

const hasBody = (req: Request) => req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';

/**
 * Body parser for JSON routes. With `allowEmpty`, a request without a body reads as `{}` (e.g. a
 * run completion with nothing to report).
 */
export function jsonBody(limitBytes: number, opts: { maxDepth?: number; allowEmpty?: boolean } = {}): RequestHandler[] {
  const maxDepth = opts.maxDepth ?? MAX_JSON_DEPTH;
  const raw = express.raw({ type: () => true, limit: limitBytes, inflate: true });
  const parse = (req: Request, res: Response, next: NextFunction) => {
    const buf = req.body;
    if (!Buffer.isBuffer(buf) || buf.length === 0) return next(badRequest('empty-body', 'request body is empty'));
    if (jsonDepth(buf, maxDepth) > maxDepth) return next(badRequest('too-deep', `JSON nested deeper than ${maxDepth} levels`));
    const text = buf.toString('utf8');
    try {
      req.body = JSON.parse(text);
    } catch (e) {
      return next(badRequest('invalid-json', `body is not valid JSON: ${(e as Error).message.slice(0, 200)}`));
    }
    res.locals.rawJson = text as string;
    next();
  };
  // An array so routes may spread it or pass it as is (express flattens handler arrays).
  const handler: RequestHandler = (req, res, next) => {
    if (opts.allowEmpty && !hasBody(req)) {
      req.body = {};
      return next();
    }
    if (!isJsonContentType(req)) {
      const got = req.get('content-type');
      return next(new AppError(415, 'unsupported-media-type', `expected Content-Type: application/json${got ? `, got ${got}` : ''}`));
    }
    raw(req, res, (err?: unknown) => (err ? next(err) : parse(req, res, next)));
  };
  return [handler];
}

/**
 * One place that turns every failure into a JSON answer: AppError and zod issues as 4xx with a
 * stable code, body-parser and multipart errors by their type, anything else a logged 500 that
 * never carries a stack trace.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import multer from 'multer';
import { z } from 'zod';
import { AppError, type Logger } from '@refund-vision/shared';
import { storeFailure } from '../store/errors.ts';

/** zod issues as one readable line: `images.3.id: Too small; pixels: expected …`. */
export function describeZodError(err: z.ZodError, max = 5): string {
  const parts = err.issues.slice(0, max).map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`);
  if (err.issues.length > max) parts.push(`… ${err.issues.length - max} more`);
  return parts.join('; ');
}

const BODY_PARSER_CODES: Record<string, [number, string]> = {
  'entity.too.large': [413, 'body-too-large'],
  'encoding.unsupported': [415, 'unsupported-encoding'],
  'charset.unsupported': [415, 'unsupported-charset'],
  'request.aborted': [400, 'request-aborted'],
  'request.size.invalid': [400, 'bad-content-length'],
  'stream.encoding.set': [500, 'internal'],
};

const MULTER_STATUS: Record<string, number> = { LIMIT_FILE_SIZE: 413, LIMIT_PART_COUNT: 413, LIMIT_FIELD_VALUE: 413 };

/** Maps anything thrown to an AppError; undefined for a real bug. */
export function toAppError(err: unknown): AppError | undefined {
  if (err instanceof AppError) return err;
  // A store that fails mid-request (locked, unreachable, damaged) is a 503 with a stable code.
  const store = storeFailure(err);
  if (store) return store;
  if (err instanceof z.ZodError) return new AppError(400, 'invalid-request', describeZodError(err));
  if (err instanceof multer.MulterError)
    return new AppError(MULTER_STATUS[err.code] ?? 400, err.code.toLowerCase().replace(/_/g, '-'), err.message);
  const e = err as { type?: string; status?: number; statusCode?: number; expose?: boolean; message?: string; code?: string } | undefined;
  if (e?.type && BODY_PARSER_CODES[e.type]) {
    const [status, code] = BODY_PARSER_CODES[e.type]!;
    if (status < 500) return new AppError(status, code, e.message ?? code);
  }
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new AppError(
      status,
      e?.type?.replace(/\./g, '-') ?? 'bad-request',
      e?.expose !== false && e?.message ? e.message : 'bad request',
    );
  }
  return undefined;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const app = toAppError(err);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (app) {
      if (app.status >= 500)
        logger.error('request failed', { method: req.method, path: req.path, code: app.code, error: (err as Error)?.message });
      res.status(app.status).json(app.toJSON());
      return;
    }
    logger.error('unhandled error', { method: req.method, path: req.path, error: (err as Error)?.stack ?? String(err) });
    res.status(500).json({ error: { code: 'internal', message: 'internal server error' } });
  };
}

export const notFoundHandler: RequestHandler = (req, res) => {
  res.status(404).json({ error: { code: 'not-found', message: `no route for ${req.method} ${req.path}` } });
};

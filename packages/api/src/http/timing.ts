/** When a request arrived, so that reported handling times include reading and parsing its body. */
import type { RequestHandler, Response } from 'express';

export const markArrival: RequestHandler = (_req, res, next) => {
  res.locals.arrivedAt = performance.now();
  next();
};

export const arrivedAt = (res: Response): number => (res.locals.arrivedAt as number | undefined) ?? performance.now();

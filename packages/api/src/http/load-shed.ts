/**
 * Admission control for the work routes. Node serves every request on one thread: when more work
 * is admitted than the engine can finish, every request (and every probe behind it) waits longer,
 * until clients time out. So past `maxInFlight` requests in flight a new one is refused at once,
 * before its body is read, with 503 and Retry-After (which the client honours); while the process
 * drains or after a fatal error every new work request is refused the same way. Mounted after the
 * probes, so health checks are never shed.
 */
import type { RequestHandler } from 'express';
import type { ServerState } from '../deps.ts';

export interface LoadShedder {
  middleware: RequestHandler;
  /** Requests admitted and not yet answered (or abandoned). */
  readonly inFlight: number;
}

export function createLoadShedder(opts: { maxInFlight: number; retryAfterSeconds: number; state: ServerState }): LoadShedder {
  let inFlight = 0;
  const refuse = (res: Parameters<RequestHandler>[1], code: string, message: string) => {
    res.set('Retry-After', String(opts.retryAfterSeconds));
    // The body is not parsed; Node reads and discards it after the answer (bounded by the request
    // timeout). Closing with it unread would reset the connection under a client still sending it,
    // which then sees a network error instead of this 503 and its Retry-After.
    res.status(503).json({ error: { code, message } });
  };
  const middleware: RequestHandler = (_req, res, next) => {
    const { state } = opts;
    if (state.failed || state.draining) return refuse(res, 'shutting-down', 'the server is shutting down; retry on another instance');
    if (inFlight >= opts.maxInFlight)
      return refuse(
        res,
        'overloaded',
        `${inFlight} requests in flight (limit ${opts.maxInFlight}); retry after ${opts.retryAfterSeconds} s`,
      );
    inFlight++;
    // Counted out at the first of 'finish' (the answer is written) and 'close' (also when the client
    // went away): a client that sends its next request as soon as it has the answer finds the place free.
    let counted = true;
    const release = () => {
      if (counted) inFlight--;
      counted = false;
    };
    res.once('finish', release);
    res.once('close', release);
    next();
  };
  return {
    middleware,
    get inFlight() {
      return inFlight;
    },
  };
}

/**
 * Admission control for the work routes. Node serves every request on one thread: when more work
 * is admitted than the engine can finish, every request (and every probe behind it) waits longer,
 * until clients time out. So past `maxInFlight` requests in flight a new one is refused at once,
 * before its body is read, with 503 and Retry-After (which the client honours); while the process
 * drains or after a fatal error every new work request is refused the same way. Mounted after the
 * probes, so health checks are never shed.
 */
import type { Request, RequestHandler, Response } from 'express';
import type { ServerState } from '../deps.ts';

export interface LoadShedder {
  middleware: RequestHandler;
  /** Requests admitted and not yet answered (or abandoned). */
  readonly inFlight: number;
}

export interface LoadShedderOptions {
  maxInFlight: number;
  retryAfterSeconds: number;
  /**
   * How long the rest of an overloaded refusal's body stays unread (0: read it at once); see
   * holdUnreadBody.
   */
  holdBodyMs: number;
  state: ServerState;
}

/**
 * A refused request's body is still on its way: Node would read and discard it as soon as the 503
 * is written, and the connection would be free for the sender's next request at once. A sender that
 * ignores Retry-After (a load generator, a hostile client) then turns refusals into a busy loop: under
 * batch-256 load on 64 connections the API read and refused ~8,000 bodies of 268 KB in 12 s, and the
 * CPU that took halved the admitted requests' throughput. Here the rest of the body is left in the
 * socket for `ms` (TCP flow control stops the sender; nothing is read, nothing is spent), then read
 * and discarded as before, so the connection stays usable and the sender still sees the 503, never
 * a reset. A request whose body has already arrived is not held.
 */
function holdUnreadBody(req: Request, ms: number): void {
  if (ms <= 0 || req.complete) return;
  // Reading starts (so Node does not dump the body when the answer is finished) and stops at once:
  // the stream's buffer fills, Node stops reading the socket, and the sender's window closes.
  req.pause();
  req.read(0);
  setTimeout(() => req.resume(), ms).unref();
}

export function createLoadShedder(opts: LoadShedderOptions): LoadShedder {
  let inFlight = 0;
  const refuse = (res: Response, code: string, message: string) => {
    res.set('Retry-After', String(opts.retryAfterSeconds));
    // The body is not parsed; it is read and discarded after the answer (bounded by the request
    // timeout). Closing with it unread would reset the connection under a client still sending it,
    // which then sees a network error instead of this 503 and its Retry-After.
    res.status(503).json({ error: { code, message } });
  };
  const middleware: RequestHandler = (req, res, next) => {
    const { state } = opts;
    // Draining or failing: the connection must empty quickly, so the body is read at once.
    if (state.failed || state.draining) return refuse(res, 'shutting-down', 'the server is shutting down; retry on another instance');
    if (inFlight >= opts.maxInFlight) {
      holdUnreadBody(req, opts.holdBodyMs);
      return refuse(
        res,
        'overloaded',
        `${inFlight} requests in flight (limit ${opts.maxInFlight}); retry after ${opts.retryAfterSeconds} s`,
      );
    }
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

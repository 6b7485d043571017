/**
 * Request and response classes for `http.createServer` whose objects are born with the Express
 * app's own prototypes (`app.request`, `app.response`).
 *
 * Express gives every request its methods by `Object.setPrototypeOf(req, app.request)` (and the
 * same for the response). On Node 20 that prototype change on an `IncomingMessage` /
 * `ServerResponse` makes V8 keep each request's objects past two scavenges: they are promoted to the
 * old generation and die there. Measured with `--trace-gc-nvp` under autocannon (4 connections):
 * on a bare Express app 1.5–5.6 MB promoted per scavenge, against 1–24 KB when the objects are
 * created with the final prototype, as here (Express's own setPrototypeOf then changes nothing); in
 * the API under batch-1 /v1/predict load 0.7–1 MB per scavenge before, ~0.1 MB after. That
 * old-generation garbage grew the heap by up to ~50 MB between mark-compacts: a sawtooth of ±15 % in
 * RSS under steady load (bench row 7a).
 */
import { IncomingMessage, ServerResponse, type ServerOptions } from 'node:http';
import type { Express } from 'express';

/** Node's constructor run on `this`; Node 20's IncomingMessage and ServerResponse are plain functions. */
type Init = (this: unknown, ...args: unknown[]) => void;

export function expressMessageClasses(app: Express): Pick<ServerOptions, 'IncomingMessage' | 'ServerResponse'> {
  // Functions, not classes: a class's `prototype` cannot be replaced. Node calls `new Request(socket)`,
  // which makes `this` from Request.prototype (app.request itself); Node's constructor then
  // initialises it in place. Reflect.construct(IncomingMessage, args, Request) would give the same
  // prototype, but V8 then still promoted ~600 KB per scavenge on the bare app: only the plain call
  // brings it down to a few KB.
  function Request(this: unknown, ...args: unknown[]) {
    (IncomingMessage as unknown as Init).apply(this, args);
  }
  Request.prototype = app.request;
  function Response(this: unknown, ...args: unknown[]) {
    (ServerResponse as unknown as Init).apply(this, args);
  }
  Response.prototype = app.response;
  return {
    IncomingMessage: Request as unknown as typeof IncomingMessage,
    ServerResponse: Response as unknown as typeof ServerResponse,
  };
}

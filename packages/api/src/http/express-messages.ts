/**
 * Request and response classes for `http.createServer` whose objects are born with the Express
 * app's own prototypes (`app.request`, `app.response`).
 *
 * Express gives every request its methods by `Object.setPrototypeOf(req, app.request)` (and the
 * same for the response). On Node 20 that prototype change on an `IncomingMessage` /
 * `ServerResponse` makes V8 keep each request's objects past two scavenges: they are promoted to the
 * old generation and die there. Measured with `--trace-gc-nvp` under autocannon (4 connections,
 * GET on a bare Express app): 1.5–5.6 MB promoted per scavenge, against 1–24 KB when the objects are
 * created with the final prototype, as here; Express's own setPrototypeOf then changes nothing. In
 * the API this old-generation garbage grew the heap by ~50 MB between mark-compacts, a ±15 % sawtooth
 * in RSS under steady batch-1 load (bench row 7a).
 */
import { IncomingMessage, ServerResponse, type ServerOptions } from 'node:http';
import type { Express } from 'express';

export function expressMessageClasses(app: Express): Pick<ServerOptions, 'IncomingMessage' | 'ServerResponse'> {
  // Functions, not classes: a class's `prototype` cannot be replaced. `new Request(socket)` is
  // what Node calls; Reflect.construct runs Node's constructor on an object made from
  // Request.prototype, which is app.request itself.
  function Request(this: unknown, ...args: unknown[]) {
    return Reflect.construct(IncomingMessage, args, Request) as IncomingMessage;
  }
  Request.prototype = app.request;
  function Response(this: unknown, ...args: unknown[]) {
    return Reflect.construct(ServerResponse, args, Response) as ServerResponse;
  }
  Response.prototype = app.response;
  return {
    IncomingMessage: Request as unknown as typeof IncomingMessage,
    ServerResponse: Response as unknown as typeof ServerResponse,
  };
}

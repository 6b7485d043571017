/** Helpers shared by the client's tests (temp folders, reading the events log). Not used at run time. */
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventFiles } from './events.ts';

const leftForExit: string[] = [];
let exitHook = false;

/**
 * A temp folder. `cleanup` removes it when the test process exits, not at once: loggers stay open
 * and a winston file transport that opens or writes its file after the folder vanished crashes the
 * process with an uncaught ENOENT (a race with every test that logs into its temp folder).
 */
export function tempDir(prefix = 'rv-client-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (!exitHook) process.once('exit', () => leftForExit.forEach((d) => rmSync(d, { recursive: true, force: true })));
  exitHook = true;
  return { dir, cleanup: () => void leftForExit.push(dir) };
}

/**
 * The events log text of `dir` with everything this process logged there so far: that folder's
 * loggers are flushed first (they stay open), so no line can still be on its way. No polling, no
 * guess at how long a write takes.
 */
export async function eventsText(dir: string): Promise<string> {
  await flushLogs(dir);
  return existsSync(dir)
    ? eventFiles(dir)
        .map((f) => readFileSync(f, 'utf8'))
        .join('')
    : '';
}

import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export async function listen(server: Server, port = 0): Promise<string> {
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections?.();
  return new Promise((r) => server.close(() => r()));
}

/** A request handler that first reads the whole request body. */
function withBody(handle: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  };
}

/** Sends the request on to `target` (502 when it cannot be reached); `onResponse` gets the answer. */
function forward(target: string, req: IncomingMessage, res: ServerResponse, body: Buffer, onResponse: (r: IncomingMessage) => void): void {
  const up = httpRequest(
    `${target}${req.url}`,
    { method: req.method, headers: { ...req.headers, host: new URL(target).host } },
    onResponse,
  );
  up.on('error', () => res.writeHead(502).end());
  up.end(body);
}

/**
 * A real HTTP proxy in front of a real server that answers the first `failures` requests to
 * matching paths itself with `status` (503 by default), then forwards. Records every request.
 */
export async function flakyProxy(target: string, opts: { failures: number; status?: number; path?: RegExp; retryAfter?: string }) {
  const seen: Recorded[] = [];
  let left = opts.failures;
  const server = createServer(
    withBody((req, res, body) => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (left > 0 && (!opts.path || opts.path.test(req.url!))) {
        left--;
        res.writeHead(opts.status ?? 503, {
          'content-type': 'application/json',
          ...(opts.retryAfter ? { 'retry-after': opts.retryAfter } : {}),
        });
        res.end(JSON.stringify({ error: { code: 'unavailable', message: 'proxy says no' } }));
        return;
      }
      forward(target, req, res, body, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
    }),
  );
  const url = await listen(server);
  return { url, seen, setFailures: (n: number) => (left = n), close: () => closeServer(server) };
}

import { writeFileSync, mkdirSync } from 'node:fs';
import { flushLogs, loadConfig, type Config, type ConfigOverrides } from '@refund-vision/shared';

/** A config rooted in `dir`, ignoring the environment and any config file of the checkout. */
export function clientConfig(dir: string, overrides: ConfigOverrides = {}): Config {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'refund-vision.config.json');
  writeFileSync(file, '{}');
  return loadConfig({
    env: {},
    file,
    overrides: { ...overrides, root: dir, logs: { dir: join(dir, 'logs'), console: false, ...overrides.logs } },
  });
}

/**
 * A proxy that lets the test decide, per POST /v1/predict (numbered from 1), to pass it, to hold
 * the request without forwarding it, or to forward it and hold the API's answer (the batch is then
 * recorded but the client never hears so). `onHold` fires when something is held.
 */
export async function gateProxy(
  target: string,
  gate: (n: number) => 'pass' | 'hold-request' | 'hold-response',
  onHold: (n: number) => void,
) {
  let n = 0;
  const server = createServer(
    withBody((req, res, body) => {
      const isPredict = req.method === 'POST' && req.url === '/v1/predict';
      const what = isPredict ? gate(++n) : 'pass';
      const seq = n;
      if (what === 'hold-request') return onHold(seq);
      forward(target, req, res, body, (r) => {
        const answer: Buffer[] = [];
        r.on('data', (c) => answer.push(c));
        r.on('end', () => {
          if (what === 'hold-response') return onHold(seq);
          res.writeHead(r.statusCode ?? 502, r.headers);
          res.end(Buffer.concat(answer));
        });
      });
    }),
  );
  const url = await listen(server);
  return { url, count: () => n, close: () => closeServer(server) };
}

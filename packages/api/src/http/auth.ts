/**
 * Bearer-key check, compared in constant time. It guards every route mounted after it: all data
 * and inference routes. Health and readiness pass here by path; the static page shells (dashboard,
 * API docs) are mounted before it in app.ts.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { ConfigError, isLoopback, type Config } from '@refund-vision/shared';

/** Paths a load balancer or orchestrator probes without credentials. */
export const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/v2/health/live', '/v2/health/ready']);

// Hashing both sides gives equal lengths, so timingSafeEqual never leaks the key's length.
const digest = (s: string) => createHash('sha256').update(s).digest();

export function requireApiKey(apiKey: string): RequestHandler {
  const expected = digest(apiKey);
  return (req, res, next) => {
    if (PUBLIC_PATHS.has(req.path)) return next();
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.get('authorization') ?? '');
    if (m && timingSafeEqual(digest(m[1]!), expected)) return next();
    res.set('WWW-Authenticate', 'Bearer realm="refund-vision"');
    res.status(401).json({ error: { code: 'unauthorized', message: m ? 'invalid API key' : 'missing Authorization: Bearer <API key>' } });
  };
}

/** Listening beyond loopback without a key would expose every route: refuse to start instead. */
export function checkExposure(config: Config): void {
  if (!isLoopback(config.api.host) && !config.api.apiKey) {
    throw new ConfigError(
      `refusing to listen on ${config.api.host} without an API key: set API_KEY (16+ characters) so every route but health needs "Authorization: Bearer <key>", or bind to 127.0.0.1`,
    );
  }
}

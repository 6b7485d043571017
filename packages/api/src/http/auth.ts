/** Bearer-key check for every route but health and readiness, compared in constant time. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';

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

/**
 * Liveness and readiness: /healthz answers while the process runs, /readyz once the model is warm and
 * while the database answers (database-watch.ts pings it in the background).
 * Both are registered before every body parser, the key check and the load shedder, and do no I/O
 * beyond a flag read, so they answer even when the work routes are saturated. After a fatal error
 * (crash-policy.ts) both say 503 with the reason until the process exits.
 */
import { Router } from 'express';
import type { AppDeps } from '../deps.ts';

export function probesRouter(deps: AppDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    const { failed } = deps.state;
    if (failed) res.status(503).json({ status: 'failing', reason: failed });
    else res.json({ status: 'ok' });
  });
  router.get('/readyz', (_req, res) => {
    const { ready, draining, failed } = deps.state;
    const dbOpen = !deps.store.closed;
    // state.database is the background ping's answer (database-watch.ts): still a flag read here.
    const dbDown = deps.state.database;
    const ok = ready && !draining && !failed && dbOpen && !dbDown;
    res.status(ok ? 200 : 503).json({
      status: ok
        ? 'ready'
        : failed
          ? 'failing'
          : draining
            ? 'draining'
            : !dbOpen
              ? 'database closed'
              : dbDown
                ? 'database unreachable'
                : 'loading',
      ...(failed ? { reason: failed } : dbDown ? { reason: dbDown } : {}),
      model: { version: deps.classifier.version, engine: deps.classifier.engine },
    });
  });
  return router;
}

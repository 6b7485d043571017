/** Liveness and readiness: /healthz answers while the process runs, /readyz once the model is warm. */
import { Router } from 'express';
import type { AppDeps } from '../deps.ts';

export function probesRouter(deps: AppDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => res.json({ status: 'ok' }));
  router.get('/readyz', (_req, res) => {
    const { ready, draining } = deps.state;
    const dbOpen = !deps.store.closed;
    const ok = ready && !draining && dbOpen;
    res.status(ok ? 200 : 503).json({
      status: ok ? 'ready' : draining ? 'draining' : !dbOpen ? 'database closed' : 'loading',
      model: { version: deps.classifier.version, engine: deps.classifier.engine },
    });
  });
  return router;
}

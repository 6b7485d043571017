/**
 * GET /v1/models: what a person needs before promoting — the version served (by this process), the
 * registry's versions and aliases, the history of moves, and how the challenger compared with the
 * champion on live traffic (agreement, and both accuracies where the truth is known).
 */
import { Router } from 'express';
import { AppError } from '@refund-vision/shared';
import type { AppDeps } from '../deps.ts';

export function modelsRouter(deps: AppDeps): Router {
  const router = Router();
  router.get('/v1/models', async (_req, res) => {
    let versions;
    let history;
    try {
      versions = deps.registry.list();
      history = deps.registry.history();
    } catch (e) {
      throw new AppError(503, 'registry-unreadable', (e as Error).message);
    }
    const challenger = deps.modelWatcher.challenger();
    res.json({
      serving: { version: deps.classifier.version, engine: deps.classifier.engine },
      challenger: challenger ? { version: challenger.version, engine: challenger.engine } : null,
      versions: versions.map(({ dir: _dir, ...v }) => v),
      // Newest first; the gate's per-set numbers stay in the registry file (pnpm model history --json).
      history: history
        .slice(-50)
        .reverse()
        .map(({ gate, ...m }) => ({ ...m, gatePassed: (gate as { passed?: boolean } | undefined)?.passed ?? null })),
      shadow: { comparisons: await deps.store.shadow.summary(), skippedImages: deps.shadow.skippedImages },
    });
  });
  return router;
}

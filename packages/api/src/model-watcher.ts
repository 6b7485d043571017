/**
 * Keeps the served model in step with the model registry: every `pollMs` it compares registry.json's
 * stamp, and when the champion moved it loads and warms the new version, then swaps it in (requests
 * in flight finish on the old one; readiness never drops). Each API process — and each replica
 * sharing the registry's volume — runs its own watcher, so all of them switch within one poll.
 * The challenger, when one is set, is loaded beside the champion for shadow predictions.
 * A version that fails to load is logged and skipped; the current model keeps serving.
 */
import type { Logger } from '@refund-vision/shared';
import { loadClassifier, type Classifier } from '@refund-vision/model/classifier';
import type { BackendChoice, ModelRegistry, SwappableClassifier } from '@refund-vision/model';

export interface ModelWatcherOptions {
  registry: ModelRegistry;
  slot: SwappableClassifier;
  backend: BackendChoice;
  logger: Logger;
  pollMs: number;
  /** Called after a swap (metrics, logs). */
  onSwap?: (from: string, to: string) => void;
}

export interface ModelWatcher {
  /** Checks the registry now (the poll calls this); resolves when any swap it started is done. */
  check(): Promise<void>;
  /** The challenger's classifier when one is set and loaded. */
  challenger(): Classifier | null;
  stop(): Promise<void>;
}

export function startModelWatcher(opts: ModelWatcherOptions): ModelWatcher {
  const { registry, slot, logger } = opts;
  let stamp: string | undefined;
  let challenger: Classifier | null = null;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const failed = new Set<string>(); // versions that failed to load at this stamp: not retried every poll

  async function load(version: string, dir: string): Promise<Classifier | null> {
    try {
      return await loadClassifier({ dir, backend: opts.backend, logger });
    } catch (e) {
      failed.add(version);
      logger.error('model version cannot be loaded; keeping the current one', { version, dir, error: (e as Error).message });
      return null;
    }
  }

  async function tick() {
    const now = registry.stamp();
    if (now === stamp || stopped) return;
    let champion: { version: string; dir: string } | null;
    let wanted: { version: string; dir: string } | null;
    try {
      champion = registry.resolveAlias('champion');
      wanted = registry.resolveAlias('challenger');
    } catch (e) {
      logger.error('model registry unreadable; keeping the current model', { error: (e as Error).message });
      return;
    }
    if (stamp !== undefined && now !== stamp) failed.clear();
    stamp = now;
    if (champion && champion.version !== slot.version && !failed.has(champion.version)) {
      const next = await load(champion.version, champion.dir);
      if (next && !stopped) {
        const from = slot.version;
        const t0 = performance.now();
        await slot.swap(next);
        logger.info('model swapped', { from, to: next.version, engine: next.engine, swapMs: Math.round(performance.now() - t0) });
        opts.onSwap?.(from, next.version);
      } else if (next) await next.dispose();
    }
    const want = wanted && wanted.version !== slot.version ? wanted : null;
    if ((challenger?.version ?? null) !== (want?.version ?? null)) {
      const old = challenger;
      challenger = want && !failed.has(want.version) ? await load(want.version, want.dir) : null;
      if (challenger) await challenger.warmup();
      if (old) await old.dispose();
      if (challenger) logger.info('shadowing challenger', { version: challenger.version });
    }
  }

  const check = () => (running = running.then(tick, tick));
  const timer = opts.pollMs > 0 ? setInterval(() => void check(), opts.pollMs) : undefined;
  timer?.unref();
  void check();

  return {
    check,
    challenger: () => challenger,
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await running.catch(() => undefined);
      if (challenger) await challenger.dispose();
      challenger = null;
    },
  };
}

/**
 * Readiness means "the model is warm AND the database answers", but the probes only read flags so
 * they answer even when the work routes are saturated (routes/probes.ts). This pings the store in
 * the background and keeps the answer in `state.database`: unset while pings succeed, the reason
 * when one fails or takes longer than the timeout. Liveness never looks at it — a database outage
 * takes replicas out of the Service, it does not restart them.
 */
import type { Logger } from '@refund-vision/shared';
import type { ServerState } from './deps.ts';
import type { Store } from './store/index.ts';

export interface DatabaseWatchOptions {
  /** Time between pings. */
  intervalMs: number;
  /** A ping slower than this counts as no answer. */
  timeoutMs: number;
  logger?: Logger;
}

export interface DatabaseWatch {
  /** Pings once now (the next timer tick continues from there). */
  check(): Promise<void>;
  stop(): Promise<void>;
}

export const DATABASE_WATCH_DEFAULTS: DatabaseWatchOptions = { intervalMs: 2000, timeoutMs: 1500 };

export function watchDatabase(
  store: Pick<Store, 'ping' | 'closed' | 'kind'>,
  state: ServerState,
  opts: DatabaseWatchOptions,
): DatabaseWatch {
  let stopped = false;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;

  const ping = async () => {
    let timeout: NodeJS.Timeout | undefined;
    try {
      const answer = store.ping();
      // A ping that loses the race still settles later (e.g. when a frozen server finally drops the
      // connection): handled here, or it would be an unhandled rejection that ends the process.
      answer.catch(() => {});
      await Promise.race([
        answer,
        new Promise((_, reject) => {
          timeout = setTimeout(() => reject(new Error(`no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs);
        }),
      ]);
      if (state.database) opts.logger?.info('database answers again', { store: store.kind });
      state.database = undefined;
    } catch (e) {
      if (stopped || store.closed) return;
      const reason = `database unreachable: ${(e as Error).message}`;
      if (state.database !== reason)
        opts.logger?.warn('database does not answer: not ready', { store: store.kind, error: (e as Error).message });
      state.database = reason;
    } finally {
      clearTimeout(timeout);
    }
  };
  const check = () => (running ??= ping().finally(() => (running = undefined)));
  const tick = () => {
    if (stopped) return;
    void check().finally(() => {
      if (!stopped) timer = setTimeout(tick, opts.intervalMs).unref();
    });
  };
  timer = setTimeout(tick, opts.intervalMs).unref();

  return {
    check,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

/** What every route module is built from. */
import type { Config, Logger } from '@refund-vision/shared';
import type { SwappableClassifier } from '@refund-vision/model';
import type { Store } from './store/index.ts';
import type { ApiMetrics } from './routes/prometheus.ts';
import type { ShadowObserver } from './shadow.ts';
import type { ModelWatcher } from './model-watcher.ts';
import type { ModelRegistry } from '@refund-vision/model';
import type { InferenceQueue } from './inference-queue.ts';

export interface ServerState {
  /** Model loaded and warmed up. */
  ready: boolean;
  /** Shutting down: readiness reports 503 so balancers stop sending. */
  draining: boolean;
  /** Set when an error escaped every handler (crash-policy.ts): liveness and readiness fail with it. */
  failed?: string;
  /** Set while the database does not answer (database-watch.ts): readiness fails with it, liveness does not. */
  database?: string | undefined;
}

export interface AppDeps {
  config: Config;
  /** The served model (hot-swappable): ask it per request, never cache its version. */
  classifier: SwappableClassifier;
  /** Every model run of this process goes through it: one at a time, each on its own event-loop turn. */
  inference: InferenceQueue;
  store: Store;
  logger: Logger;
  metrics: ApiMetrics;
  state: ServerState;
  /** The challenger's shadow answers (recorded, never returned). */
  shadow: ShadowObserver;
  registry: ModelRegistry;
  modelWatcher: ModelWatcher;
}

/**
 * Starting and stopping the API: refuse an exposed address without a key, open the metrics store,
 * load and warm up the model once, then listen — so the first /readyz that answers says 200.
 * Closing drains: readiness turns 503, in-flight requests finish, then the store closes.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { createLogger, loadConfig, type Config, type Logger } from '@refund-vision/shared';
import { loadClassifier, type Classifier } from '@refund-vision/model/classifier';
import { ModelRegistry, SwappableClassifier } from '@refund-vision/model';
import { createApp } from './app.ts';
import { checkExposure } from './http/auth.ts';
import { expressMessageClasses } from './http/express-messages.ts';
import type { ServerState } from './deps.ts';
import { DATABASE_WATCH_DEFAULTS, watchDatabase, type DatabaseWatchOptions } from './database-watch.ts';
import { createInferenceQueue } from './inference-queue.ts';
import { startModelWatcher, type ModelWatcher } from './model-watcher.ts';
import { createShadowObserver, type ShadowObserver } from './shadow.ts';
import { openStore, storeOptions, type Store } from './store/index.ts';
import { ApiMetrics } from './routes/prometheus.ts';
import { createUploadDecoder } from './upload-decoder.ts';

export interface StartServerOptions {
  config?: Config;
  /** An already loaded classifier (tests share one); the server then leaves disposing it to the caller. */
  classifier?: Classifier;
  logger?: Logger;
  /** How often readiness checks that the database answers (tests shorten it). */
  databaseWatch?: Partial<Omit<DatabaseWatchOptions, 'logger'>>;
}

export interface ServerHandle {
  url: string;
  port: number;
  host: string;
  app: Express;
  server: Server;
  store: Store;
  /** The served model; a registry promotion swaps what it runs without a restart. */
  classifier: SwappableClassifier;
  registry: ModelRegistry;
  /** Checks the registry now instead of waiting for the next poll (tests, admin tools). */
  modelWatcher: ModelWatcher;
  shadow: ShadowObserver;
  state: ServerState;
  logger: Logger;
  close(): Promise<void>;
}

/** How long in-flight requests get to finish on shutdown before their connections are cut. */
const DRAIN_MS = 10_000;

export async function startServer(opts: StartServerOptions = {}): Promise<ServerHandle> {
  const config = opts.config ?? loadConfig();
  checkExposure(config);
  const logger = opts.logger ?? createLogger('api', { dir: config.logs.dir, level: config.logs.level, console: config.logs.console });
  const t0 = performance.now();
  // A damaged, empty or read-only store stops the start here, with its path in the message.
  const store = await openStore(storeOptions(config));
  const registry = new ModelRegistry({ root: config.model.registry, bundledDir: config.model.dir });
  let classifier: SwappableClassifier;
  try {
    // The registry's champion serves; before any promotion that is the bundled model (model.dir).
    const champion = registry.resolveAlias('champion');
    const initial =
      opts.classifier && (!champion || champion.version === opts.classifier.version)
        ? borrowed(opts.classifier)
        : await loadClassifier({ dir: champion?.dir ?? config.model.dir, backend: config.model.backend, logger });
    classifier = new SwappableClassifier(initial);
    await classifier.warmup();
  } catch (e) {
    await store.close();
    throw e;
  }
  const metrics = new ApiMetrics();
  const modelWatcher = startModelWatcher({
    registry,
    slot: classifier,
    backend: config.model.backend,
    logger,
    pollMs: config.model.registryPollMs,
    onSwap: () => metrics.setModel(classifier.version, classifier.engine),
  });
  const state: ServerState = { ready: false, draining: false };
  const databaseWatch = watchDatabase(store, state, { ...DATABASE_WATCH_DEFAULTS, ...opts.databaseWatch, logger });
  metrics.setModel(classifier.version, classifier.engine);
  const uploads = createUploadDecoder(config.api, logger);
  const inference = createInferenceQueue();
  const shadow = createShadowObserver({ challenger: modelWatcher.challenger, inference, store, logger });
  const app = createApp({ config, classifier, inference, store, logger, metrics, state, shadow, registry, modelWatcher }, uploads);

  // Slow, stalled or malformed requests must not hold connections forever: whatever the body,
  // Node answers 408 and closes once the request has not fully arrived in time. The deadlines are
  // checked every connectionsCheckingInterval (default 30 s, too coarse for short limits).
  const requestTimeout = config.api.requestTimeoutMs;
  const headersTimeout = Math.min(config.api.headersTimeoutMs, requestTimeout);
  const server = createServer(
    {
      requestTimeout,
      headersTimeout,
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(headersTimeout / 4))),
      ...expressMessageClasses(app),
    },
    app,
  );
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.api.port, config.api.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (e) {
    await databaseWatch.stop();
    await store.close();
    await modelWatcher.stop();
    await classifier.dispose();
    throw e;
  }
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  state.ready = true;
  setImmediate(() => void uploads.preload().catch((e) => logger.error('image preprocessing unavailable', { error: (e as Error).message })));
  logger.info('api ready', {
    url: `http://${host}:${port}`,
    model: classifier.version,
    engine: classifier.engine,
    startupMs: Math.round(performance.now() - t0),
    sinceProcessStartMs: Math.round(performance.now()),
  });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      state.draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive connections turn idle as their last response goes out: close them as they do.
      server.closeIdleConnections();
      const idle = setInterval(() => server.closeIdleConnections(), 25);
      const cut = setTimeout(() => server.closeAllConnections(), DRAIN_MS);
      await closed;
      clearInterval(idle);
      clearTimeout(cut);
      await uploads.close();
      await shadow.idle();
      await databaseWatch.stop();
      await store.close();
      await modelWatcher.stop();
      await classifier.dispose();
      logger.info('api stopped');
    })());

  return {
    url: `http://${host}:${port}`,
    port,
    host: config.api.host,
    app,
    server,
    store,
    classifier,
    registry,
    modelWatcher,
    shadow,
    state,
    logger,
    close,
  };
}

/** A classifier the caller owns (tests share one): the server uses it but never disposes it. */
function borrowed(c: Classifier): Classifier {
  return {
    get version() {
      return c.version;
    },
    get engine() {
      return c.engine;
    },
    get card() {
      return c.card;
    },
    predict: (p, n) => c.predict(p, n),
    predictRows: (p, n) => c.predictRows(p, n),
    warmup: () => c.warmup(),
    dispose: async () => undefined,
  };
}

export { checkExposure };

export function stopServer(handle: ServerHandle): Promise<void> {
  return handle.close();
}

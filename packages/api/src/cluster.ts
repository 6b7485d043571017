/**
 * Multi-process serving: the primary migrates the database once, forks `api.workers` workers (each
 * loads its own engine: the wasm and onnx engines use one core each) and restarts a worker that
 * dies. Exactly-once holds across workers because every batch is written in an IMMEDIATE
 * transaction that re-checks the UNIQUE keys, and writers wait on the busy timeout.
 */
import cluster, { type Worker } from 'node:cluster';
import { closeLoggers, createLogger, type Config } from '@refund-vision/shared';
import client from 'prom-client';
import { openStore, storeOptions } from './store/index.ts';
import { METRICS_REPLY, METRICS_REQUEST } from './cluster-protocol.ts';

export async function runPrimary(config: Config): Promise<void> {
  const logger = createLogger('api', { dir: config.logs.dir, level: config.logs.level, console: config.logs.console });
  // Migrate (and check) once here, before any worker opens the store.
  await (await openStore(storeOptions(config))).close();
  let stopping = false;
  let ready = 0;
  const fork = (): Worker => {
    const w = cluster.fork();
    w.on('listening', () => {
      if (++ready === config.api.workers) logger.info('api cluster ready', { workers: config.api.workers, port: config.api.port });
    });
    return w;
  };
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    logger.error('api worker died, starting another', { pid: worker.process.pid, code, signal });
    ready--;
    fork();
  });
  // A worker's /metrics asks here; the answer sums every worker's registry.
  const aggregator = new client.AggregatorRegistry();
  cluster.on('message', (worker, m: { type?: string; id?: string }) => {
    if (m?.type !== METRICS_REQUEST) return;
    aggregator.clusterMetrics().then(
      (text) => worker.isConnected() && worker.send({ type: METRICS_REPLY, id: m.id, text }),
      (e) => {
        logger.warn('cluster metrics failed', { error: (e as Error).message });
        if (worker.isConnected()) worker.send({ type: METRICS_REPLY, id: m.id });
      },
    );
  });
  for (let i = 0; i < config.api.workers; i++) fork();

  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('api cluster stopping', { signal });
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            w.once('exit', () => resolve());
            // A signal, not an IPC message: a worker still loading its model has no message
            // listener yet and would lose the message; an early SIGTERM ends it (nothing to drain),
            // a later one drains it. A second SIGTERM from the process group is harmless.
            w.process.kill('SIGTERM');
          }),
      ),
    );
    await closeLoggers();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/**
 * `node bin/migrate.mjs` (the Kubernetes migration Job, compose's one-shot `migrate` service): brings
 * the metrics store's schema up to date, then exits, so API replicas never race to migrate at start.
 */
import { closeLoggers, loadConfig } from '@refund-vision/shared';
import { MetricsStore } from '@refund-vision/api';

const config = loadConfig();
try {
  const store = new MetricsStore(config.api.dbPath);
  store.close();
  process.stdout.write(`migrate: ${config.api.dbPath} is up to date\n`);
} catch (e) {
  process.stderr.write(`migrate: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
await closeLoggers();

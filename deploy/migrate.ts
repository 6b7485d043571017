/**
 * `node bin/migrate.mjs` (the Kubernetes migration Job, compose's one-shot `migrate` service): opens
 * the store the config names (DATABASE_URL, else DB_PATH) as a writer, which brings its schema to the
 * latest migration, then exits — so API replicas start against a migrated database.
 */
import { closeLoggers, loadConfig } from '@refund-vision/shared';
import { openStore, storeOptions } from '@refund-vision/api';

const config = loadConfig();
try {
  const store = await openStore(storeOptions(config));
  await store.ping();
  process.stdout.write(`migrate: ${store.kind} ${store.location} is up to date\n`);
  await store.close();
} catch (e) {
  process.stderr.write(`migrate: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
await closeLoggers();

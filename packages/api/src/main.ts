/**
 * `pnpm api`: one process, or with api.workers > 1 (API_WORKERS) a node:cluster primary and that
 * many workers, each with its own engine, sharing the port and the SQLite file.
 * SIGTERM/SIGINT: stop accepting, let in-flight requests finish, close SQLite, exit.
 * An error that escapes every handler: crash-policy.ts (say so, fail the probes, drain, exit 70).
 */
import cluster from 'node:cluster';
import { closeLoggers, ConfigError, createLogger, loadConfig } from '@refund-vision/shared';
import { installCrashPolicy } from './crash-policy.ts';
import { checkExposure } from './http/auth.ts';

async function main() {
  const config = loadConfig();
  checkExposure(config);
  // The primary only forks: it never loads the model or the web stack.
  if (config.api.workers > 1 && cluster.isPrimary) return (await import('./cluster.ts')).runPrimary(config);
  // The crash policy is in place before anything can fail in the background (see crash-policy.ts).
  const logger = createLogger('api', { dir: config.logs.dir, level: config.logs.level, console: config.logs.console });
  const policy = installCrashPolicy({ logger, announceMs: config.api.fatalAnnounceMs });
  // Listen for the stop request before the (slow) start: a cluster primary stopping while this
  // worker still loads its model sends 'shutdown' once, and a message nobody listens to is lost —
  // the worker would then start and serve forever while the primary waits for it to exit.
  let stop: ((signal: string) => Promise<void>) | undefined;
  let requested: string | undefined;
  const request = (signal: string) => {
    if (stop) void stop(signal);
    else requested ??= signal;
  };
  process.on('SIGTERM', () => request('SIGTERM'));
  process.on('SIGINT', () => request('SIGINT'));
  // A worker's primary asks for shutdown by message: signals to the group would arrive twice.
  process.on('message', (m) => m === 'shutdown' && request('shutdown'));
  const { startServer } = await import('./server.ts');
  const handle = await startServer({ config, logger });
  policy.attach(handle);
  let stopping = false;
  stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`api: ${signal}, draining\n`);
    await handle.close();
    await closeLoggers();
    process.exit(0);
  };
  if (requested) await stop(requested);
}

main().catch(async (e) => {
  // The reason, not a stack: a missing model or a taken port is the operator's to fix.
  const msg =
    e instanceof ConfigError || process.env.LOG_LEVEL !== 'debug'
      ? ((e as Error)?.message ?? String(e))
      : ((e as Error).stack ?? String(e));
  process.stderr.write(`api: cannot start: ${msg}\n`);
  await closeLoggers();
  process.exit(1);
});

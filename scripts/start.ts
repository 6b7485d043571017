/**
 * `npm start`: the API and the client's scheduler in one process, one Ctrl-C to stop both.
 * `--now` (or RUN_NOW=1) also runs the client once at start. The scheduler talks to the API
 * started here, whatever client.apiUrl says.
 */
import { existsSync, readdirSync } from 'node:fs';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, closeLoggers, createLogger, loadConfig } from '@refund-vision/shared';
import { startServer } from '@refund-vision/api';
import { Scheduler } from '@refund-vision/client';

const { values } = parseArgs({ options: { now: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } } });
if (values.help) {
  console.log('usage: npm start [-- --now]\n  starts the API and the daily client run; --now (or RUN_NOW=1) also runs the client at once');
  process.exit(0);
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('app', config.logs);
  const api = await startServer({ config });
  config.client.apiUrl = api.url;
  const scheduler = new Scheduler({ config, logger: createLogger('client', config.logs) });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      console.error('forced exit');
      process.exit(1);
    }
    stopping = true;
    logger.info(`shutting down on ${signal}`);
    // A run cut short here resumes at the next start: the client journals every step.
    await scheduler.stop({ wait: false });
    await api.close();
    await closeLoggers();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const runNow = values.now || process.env.RUN_NOW === '1' || process.env.RUN_NOW === 'true';
  await scheduler.start({ runNow });

  const c = config.client;
  const rel = (p: string) => relative(process.cwd(), p) || '.';
  const inboxItems = existsSync(c.inbox) ? readdirSync(c.inbox).filter((n) => !n.startsWith('.')).length : 0;
  const lines = [
    '',
    'refund-vision is running',
    `  dashboard   ${api.url}/`,
    `  API docs    ${api.url}/docs`,
    `  inbox       ${rel(c.inbox)}${inboxItems ? '' : '  (empty: `pnpm samples` writes Fashion-MNIST test images to data/inbox/samples)'}`,
    `  schedule    "${c.cron}" ${c.timezone ?? 'local time'}; next run ${scheduler.nextRun()?.toString() ?? 'never'}${runNow ? '; a run starts now' : '; `npm start -- --now` runs one at once'}`,
    `  results     ${rel(c.results)}/<run>.csv   events: ${rel(config.logs.dir)}/events.log (\`pnpm events\`)`,
    '  Ctrl-C to stop',
    '',
  ];
  console.log(lines.join('\n'));
}

main().catch(async (e) => {
  console.error(e instanceof ConfigError ? `error: ${e.message}` : e);
  await closeLoggers();
  process.exit(2);
});

/** `pnpm schedule [--now]`: runs the client on its cron schedule until Ctrl-C. */
import { parseArgs } from 'node:util';
import { createLogger, loadConfig } from '@refund-vision/shared';
import { Scheduler } from '../schedule.ts';
import { exitWith, main } from './args.ts';

await main(async () => {
  const { values } = parseArgs({ options: { now: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log('usage: pnpm schedule [--now]\n  runs the client daily (client.cron, default 18:00); --now also runs once at start');
    return 0;
  }
  const config = loadConfig();
  const logger = createLogger('client', config.logs);
  const scheduler = new Scheduler({ config, logger });
  await scheduler.start({ runNow: values.now || process.env.RUN_NOW === '1' });
  console.log(`next run: ${scheduler.nextRun()?.toString() ?? 'never'} — Ctrl-C to stop`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      // A run cut short resumes at the next start (the client is crash-safe), so don't wait long.
      logger.child({ component: 'scheduler' }).info(`scheduler stopping on ${sig}`);
      void scheduler.stop({ wait: false }).then(resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return exitWith(0);
});

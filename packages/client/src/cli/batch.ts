/**
 * `pnpm batch [folder...] [--reprocess]`: one run now over the folders (default: the inbox).
 * Prints a one-line summary; exits 1 when anything could not be delivered, 2 on a setup error,
 * 3 when the API refused the credentials (API_KEY) and the run stopped.
 */
import { parseArgs } from 'node:util';
import { createLogger, loadConfig } from '@refund-vision/shared';
import { runBatch } from '../run.ts';
import { main } from './args.ts';

await main(async () => {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { reprocess: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(
      'usage: pnpm batch [folder...] [--reprocess]\n  classifies new images in the folders (default: the inbox) and exits\n' +
        '  exit 0 all delivered, 1 something not delivered (outbox), 2 setup error, 3 API refused the credentials',
    );
    return 0;
  }
  const config = loadConfig();
  const logger = createLogger('client', config.logs);
  const report = await runBatch({ config, folders: positionals, reprocess: values.reprocess, logger });
  console.log(report.summary);
  return report.stopped === 'auth' ? 3 : report.delivered ? 0 : 1;
});

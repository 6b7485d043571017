/** `pnpm events [--level error|warn|info] [--since 1d] [--run KEY]`: prints matching events. */
import { parseArgs } from 'node:util';
import { loadConfig, type Level } from '@refund-vision/shared';
import { eventFiles, parseSince, readEvents } from '../events.ts';
import { main } from './args.ts';

await main(async () => {
  const { values } = parseArgs({
    options: {
      level: { type: 'string' },
      since: { type: 'string' },
      run: { type: 'string' },
      component: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log('usage: pnpm events [--level error|warn|info|debug] [--since 1d|12h|30m|<date>] [--run KEY] [--component client|api]');
    return 0;
  }
  if (values.level && !['error', 'warn', 'info', 'debug'].includes(values.level))
    throw new RangeError(`--level: expected error, warn, info or debug, got ${values.level}`);
  const dir = loadConfig().logs.dir;
  if (!eventFiles(dir).length) {
    console.error(`no events log in ${dir} yet`);
    return 0;
  }
  let n = 0;
  for await (const e of readEvents(dir, {
    ...(values.level ? { level: values.level as Level } : {}),
    ...(values.since ? { since: parseSince(values.since) } : {}),
    ...(values.run ? { run: values.run } : {}),
    ...(values.component ? { component: values.component } : {}),
  })) {
    console.log(e.line);
    n++;
  }
  if (!n) console.error('no matching events');
  return 0;
});

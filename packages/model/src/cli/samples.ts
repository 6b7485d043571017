/** pnpm samples [--count 50] [--offset 0] [--out data/inbox/samples] */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '@refund-vision/shared';
import { writeSamples } from '../samples.ts';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '50' },
    offset: { type: 'string', default: '0' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write('usage: pnpm samples [--count 50] [--offset 0] [--out data/inbox/samples]\n');
  process.exit(0);
}
try {
  const count = Number(values.count);
  const offset = Number(values.offset);
  if (!Number.isInteger(count) || count < 1) throw new Error(`--count: expected a positive integer, got '${values.count}'`);
  if (!Number.isInteger(offset) || offset < 0) throw new Error(`--offset: expected an integer ≥ 0, got '${values.offset}'`);
  const out = values.out ? resolve(values.out) : resolve(loadConfig().client.inbox, 'samples');
  const files = await writeSamples({ out, count, offset });
  process.stderr.write(`wrote ${files.length} PNG files and labels.csv to ${out}\n`);
} catch (e) {
  process.stderr.write(`samples failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
}

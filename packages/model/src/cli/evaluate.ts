/** pnpm evaluate [--json] [--backend auto|onnx|node|wasm|cpu] [--dir models/fashion-cnn] [--limit N] */
import { parseArgs } from 'node:util';
import { CLASS_NAMES, closeLoggers, createLogger, loadConfig } from '@refund-vision/shared';
import { parseBackend } from '../engine.ts';
import { evaluateModel } from '../evaluate.ts';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    backend: { type: 'string' },
    dir: { type: 'string' },
    limit: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write('usage: pnpm evaluate [--json] [--backend auto|onnx|node|wasm|cpu] [--dir DIR] [--limit N]\n');
  process.exit(0);
}

try {
  const cfg = loadConfig();
  const logger = createLogger('evaluate', { dir: cfg.logs.dir, level: cfg.logs.level, console: false });
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0))
    throw new Error(`--limit: expected a positive integer, got '${values.limit}'`);
  const r = await evaluateModel({
    dir: values.dir ?? cfg.model.dir,
    backend: parseBackend(values.backend ?? cfg.model.backend),
    limit,
    logger,
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } else {
    const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
    const lines = [
      `model ${r.model} ${r.version} on ${r.engine}: ${r.testImages} test images, ${r.msPerImage} ms/img`,
      `accuracy ${pct(r.accuracy)} (card: ${pct(r.cardAccuracy)})  mean confidence ${r.meanConfidence.toFixed(4)}  ECE ${r.ece.toFixed(4)}  log-loss ${r.logLoss.toFixed(4)}`,
      '',
      `${'class'.padEnd(12)} precision  recall  mean conf`,
      ...r.perClass.map(
        (c) =>
          `${c.className.padEnd(12)} ${pct(c.precision).padStart(9)} ${pct(c.recall).padStart(7)} ${c.meanConfidence.toFixed(4).padStart(10)}`,
      ),
      '',
      'confusion (rows: true, columns: predicted)',
      `${''.padEnd(12)}${CLASS_NAMES.map((_, i) => String(i).padStart(5)).join('')}`,
      ...r.confusion.map(
        (row, i) => `${`${i} ${CLASS_NAMES[i]}`.padEnd(12).slice(0, 12)}${row.map((v) => String(v).padStart(5)).join('')}`,
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  await closeLoggers();
} catch (e) {
  process.stderr.write(`evaluate failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
}

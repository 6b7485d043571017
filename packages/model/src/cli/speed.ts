/** tsx packages/model/src/cli/speed.ts [--engines onnx,wasm] [--batches 1,100,1000] [--json]: ms/img per engine. */
import { parseArgs } from 'node:util';
import { loadConfig } from '@refund-vision/shared';
import { loadClassifier } from '../classifier.ts';
import { parseBackend } from '../engine.ts';
import { loadFashionMnist } from '../fashion-mnist.ts';
import { measureSpeed, type SpeedRow } from '../speed.ts';

const { values } = parseArgs({
  options: {
    engines: { type: 'string', default: 'onnx,wasm' },
    batches: { type: 'string', default: '1,100,1000' },
    dir: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
try {
  const dir = values.dir ?? loadConfig().model.dir;
  const test = await loadFashionMnist('test');
  const batches = values.batches!.split(',').map(Number);
  const rows: SpeedRow[] = [];
  for (const name of values.engines!.split(',')) {
    const clf = await loadClassifier({ dir, backend: parseBackend(name) });
    rows.push(...(await measureSpeed(clf, test.images, batches)));
    await clf.dispose();
  }
  if (values.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
  else
    for (const r of rows)
      process.stdout.write(
        `${r.engine.padEnd(5)} batch ${String(r.batch).padStart(5)}: ${r.msPerImage.toFixed(4)} ms/img (median of ${r.runs})\n`,
      );
} catch (e) {
  process.stderr.write(`speed failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
}

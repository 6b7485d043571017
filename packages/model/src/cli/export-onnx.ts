/** tsx packages/model/src/cli/export-onnx.ts [--dir models/fashion-cnn]: (re)writes model.onnx from the tfjs weights. */
import { parseArgs } from 'node:util';
import { loadConfig } from '@refund-vision/shared';
import { exportOnnx } from '../onnx-export.ts';

const { values } = parseArgs({ options: { dir: { type: 'string' } } });
try {
  const path = await exportOnnx(values.dir ?? loadConfig().model.dir);
  process.stderr.write(`wrote ${path}\n`);
} catch (e) {
  process.stderr.write(`export failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
}

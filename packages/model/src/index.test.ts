import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Whether importing `module` (this package's, by file name) in a fresh process loads TensorFlow.js. */
function loadsTfjs(module: string): boolean {
  const url = new URL(`./${module}`, import.meta.url).href;
  // tfjs-core creates its engine, a global, when it is imported.
  const script = `await import(${JSON.stringify(url)}); console.log(JSON.stringify('_tfengine' in globalThis));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: dirname(fileURLToPath(import.meta.url)),
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').at(-1)!) as boolean;
}

describe('model package entry point', function () {
  this.timeout(60_000);

  it('loads no TensorFlow.js (a process serving through ONNX Runtime never pays for it)', () => {
    expect(loadsTfjs('index.ts')).to.equal(false);
  });

  it('while the tfjs engine module does (so the probe can tell)', () => {
    expect(loadsTfjs('engine.ts')).to.equal(true);
  });
});

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '@refund-vision/shared';

const run = promisify(execFile);

describe('pnpm evaluate', () => {
  const root = projectRoot();
  const cli = join(root, 'packages', 'model', 'src', 'cli', 'evaluate.ts');
  const tsx = join(root, 'node_modules', '.bin', 'tsx');

  it('--json prints one JSON object with the figures of the committed model', async () => {
    const { stdout } = await run(tsx, [cli, '--json', '--limit', '2000', '--backend', 'onnx'], {
      cwd: root,
      env: { ...process.env, LOG_CONSOLE: 'false' },
    });
    const lines = stdout.trim().split('\n');
    expect(lines).to.have.length(1);
    const r = JSON.parse(lines[0]!);
    expect(r.engine).to.equal('onnx');
    expect(r.testImages).to.equal(2000);
    expect(r.accuracy).to.be.at.least(0.9);
    expect(r.perClass).to.have.length(10);
    expect(r.confusion.flat().reduce((a: number, b: number) => a + b, 0)).to.equal(2000);
    expect(r.version).to.match(/^[0-9a-f]{12}$/);
  });

  it('fails with a clear message for an unknown engine', async () => {
    try {
      await run(tsx, [cli, '--backend', 'gpu'], { cwd: root });
      expect.fail('accepted an unknown engine');
    } catch (e) {
      expect((e as { stderr: string }).stderr).to.contain("unknown backend 'gpu'");
    }
  });
});

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

  it('--json prints one JSON object with the figures of the committed model on both test sets', async function () {
    this.timeout(240_000); // the first run on a machine preprocesses the ~900 validation photos
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
    const p = r.photos;
    expect(p.photos).to.equal(p.inScope + p.outOfScope);
    expect(p.inScope).to.be.above(500);
    expect(p.outOfScope).to.be.above(100);
    expect(p.strictAccuracy).to.be.within(0.3, 1);
    expect(p.setAccuracy).to.be.within(0.3, 1);
    expect(p.outOfScopeAuroc.entropy).to.be.within(0, 1);
    expect(p.perLabel.reduce((s: number, l: { photos: number }) => s + l.photos, 0)).to.equal(p.photos);
    // intervals by resampling senders hold the point figures
    expect(p.bySender95.senders).to.be.above(20);
    expect(p.bySender95.strictAccuracy[0]).to.be.at.most(p.strictAccuracy);
    expect(p.bySender95.strictAccuracy[1]).to.be.at.least(p.strictAccuracy);
    expect(p.bySender95.inScopeAutoAccepted[0]).to.be.at.most(p.review.inScopeAutoAccepted);
    // the committed card says how its calibration and thresholds carry to senders they were not fitted on
    const cv = p.cardSenderCrossValidation;
    expect(cv.repeats).to.equal(5);
    for (const f of ['ece', 'eceTemperatureOnly', 'inScopeAutoAccepted', 'autoAcceptedAccuracy', 'outOfScopeFlagged'])
      expect(cv[f].min, f).to.be.at.most(cv[f].mean);
  });

  it('fails with a clear message for an unknown engine', async () => {
    // The rejection is taken out of the promise, so an assertion error cannot stand in for it.
    const failure = await run(tsx, [cli, '--backend', 'gpu'], { cwd: root }).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(failure, 'accepted an unknown engine').to.not.equal(undefined);
    expect(failure!.code).to.not.equal(0);
    expect(failure!.stderr).to.contain("unknown backend 'gpu'");
  });
});

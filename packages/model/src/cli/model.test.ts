import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '@refund-vision/shared';
import { makeVariant } from '../testing/model-variant.ts';

describe('pnpm model (registry CLI)', function () {
  this.timeout(180_000);
  const root = projectRoot();
  let tmp: string;
  let candidate: string;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'rv-model-cli-'));
    candidate = await makeVariant(join(tmp, 'cand'), 9, { withOnnx: true });
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const cli = (...args: string[]) => {
    const r = spawnSync(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'packages/model/src/cli/model.ts'), ...args], {
      encoding: 'utf8',
      env: { ...process.env, MODEL_REGISTRY: join(tmp, 'registry'), RV_USER: 'tester' },
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it('adds a version, gates it with McNemar numbers, refuses a promotion the gate fails, records a forced one, rolls back', () => {
    const bundled = cli('list', '--json');
    expect(bundled.code).to.equal(0);
    const champion = JSON.parse(bundled.out)[0].version;
    expect(cli('add', join(tmp, 'cand'), '--note', 'nudged').out).to.contain(`added ${candidate}`);

    // One nudged weight byte changes almost nothing: not better beyond noise → the gate fails.
    const g = cli('gate', candidate, '--limit', '500', '--json');
    expect(g.code).to.equal(1);
    const report = JSON.parse(g.out);
    expect(report.passed).to.equal(false);
    expect(report.sets[0]).to.include({ name: 'fashion-mnist test', n: 500 });
    // the real-photo validation split (held out by sender), through the shared preprocessing
    expect(report.sets[1].name).to.equal('photo validation');
    expect(report.sets[1].n).to.be.within(450, 500);
    // and, reported beside the verdict (not judged), what each card's review policy lets through
    expect(report.sets.slice(2).map((s: { reportedOnly?: boolean }) => s.reportedOnly)).to.deep.equal([true, true]);
    expect(report.sets.slice(2).map((s: { name: string; n: number }) => [s.name, s.n])).to.deep.equal([
      ['photo validation, accepted right', report.sets[1].n],
      ['photo validation, no wrong accepted', report.sets[1].n],
    ]);
    expect(report.sets[0].pWorse).to.be.within(0, 1);
    expect(report.sets[0].championAccuracy).to.be.above(0.85);

    const refused = cli('promote', candidate, '--limit', '500');
    expect(refused.code).to.equal(1);
    expect(refused.err).to.contain('not promoted: the gate failed');
    expect(JSON.parse(cli('list', '--json').out).find((v: any) => v.aliases.includes('champion')).version).to.equal(champion);

    const forced = cli('promote', candidate, '--limit', '500', '--force', '--reason', 'drill');
    expect(forced.code).to.equal(0);
    expect(forced.out).to.contain(`champion: ${champion} → ${candidate} (forced)`);
    const history = JSON.parse(cli('history', '--json').out);
    expect(history.at(-1)).to.include({ alias: 'champion', from: champion, to: candidate, by: 'tester', reason: 'drill', forced: true });
    expect(history.at(-1).gate.passed).to.equal(false);

    expect(cli('rollback').out).to.contain(`champion rolled back: ${candidate} → ${champion}`);
    expect(cli('promote', 'ffffffffffff').err).to.contain("unknown model version 'ffffffffffff'");
  });
});

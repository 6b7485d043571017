import { expect } from 'chai';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ModelRegistry } from './registry.ts';
import { readArtifacts, weightFiles } from './model-files.ts';
import { BUNDLED_MODEL_DIR, makeVariant } from './testing/model-variant.ts';

const BUNDLED = BUNDLED_MODEL_DIR;
const variant = makeVariant;

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('model registry', () => {
  let tmp: string;
  beforeEach(() => (tmp = mkdtempSync(join(tmpdir(), 'rv-registry-'))));
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('serves the bundled model as champion until a promotion, then records who, when and why', async () => {
    const reg = new ModelRegistry({ root: join(tmp, 'reg'), bundledDir: BUNDLED });
    const bundled = JSON.parse(readFileSync(join(BUNDLED, 'model-card.json'), 'utf8')).version;
    expect(reg.resolveAlias('champion')).to.deep.equal({ version: bundled, dir: BUNDLED });
    expect(reg.resolveAlias('challenger')).to.equal(null);

    const v2 = await variant(join(tmp, 'cand'), 1);
    expect(await reg.add(join(tmp, 'cand'), { by: 'ana' })).to.equal(v2);
    expect(await reg.add(join(tmp, 'cand'))).to.equal(v2); // idempotent
    expect(readArtifacts(join(reg.root, 'versions', v2)).weights).to.deep.equal(readArtifacts(join(tmp, 'cand')).weights);
    expect(weightFiles(join(reg.root, 'versions', v2))).to.deep.equal(weightFiles(join(tmp, 'cand')));

    await reg.move('challenger', v2, { by: 'ana', reason: 'shadow it', kind: 'challenge' });
    await reg.move('champion', v2, { by: 'ben', reason: 'gate passed', kind: 'promote' });
    expect(reg.resolveAlias('champion')!.version).to.equal(v2);
    expect(reg.resolveAlias('challenger')).to.equal(null); // a champion is not its own challenger
    const last = reg.history().at(-1)!;
    expect(last).to.include({ alias: 'champion', from: bundled, to: v2, by: 'ben', reason: 'gate passed', kind: 'promote', forced: false });

    const back = await reg.rollback({ by: 'cy' });
    expect(back).to.include({ from: v2, to: bundled, kind: 'rollback', by: 'cy' });
    expect(reg.resolveAlias('champion')!.version).to.equal(bundled);
    expect(reg.list().map((v) => [v.version, v.aliases])).to.deep.equal([
      [bundled, ['champion']],
      [v2, []],
    ]);
  });

  it('refuses a folder whose card does not match its weights, and unknown versions', async () => {
    const reg = new ModelRegistry({ root: join(tmp, 'reg'), bundledDir: BUNDLED });
    await variant(join(tmp, 'liar'), 2);
    const card = JSON.parse(readFileSync(join(tmp, 'liar', 'model-card.json'), 'utf8'));
    card.version = '000000000000';
    writeFileSync(join(tmp, 'liar', 'model-card.json'), JSON.stringify(card));
    expect((await rejection(reg.add(join(tmp, 'liar')))).message).to.match(/names weights 000000000000, the weights hash to [0-9a-f]{12}/);
    expect((await rejection(reg.move('champion', 'deadbeef0000', { reason: 'x', kind: 'promote' }))).message).to.match(
      /unknown model version 'deadbeef0000'/,
    );
    expect((await rejection(reg.rollback())).message).to.match(/nothing to roll back/);
  });

  it('a known version with a card that serves it differently is refused, not silently kept as it was', async () => {
    const reg = new ModelRegistry({ root: join(tmp, 'reg'), bundledDir: BUNDLED });
    const v = await variant(join(tmp, 'a'), 4);
    await reg.add(join(tmp, 'a'));
    cpSync(join(tmp, 'a'), join(tmp, 'b'), { recursive: true });
    const card = JSON.parse(readFileSync(join(tmp, 'b', 'model-card.json'), 'utf8'));
    card.review.lowConfidence.threshold = Math.min(0.99, card.review.lowConfidence.threshold + 0.05);
    writeFileSync(join(tmp, 'b', 'model-card.json'), JSON.stringify(card));
    expect((await rejection(reg.add(join(tmp, 'b')))).message).to.match(new RegExp(`version ${v} is registered with another calibration`));
    const kept = JSON.parse(readFileSync(join(reg.root, 'versions', v, 'model-card.json'), 'utf8'));
    expect(kept.review.lowConfidence.threshold).to.not.equal(card.review.lowConfidence.threshold);
    // the bundled model, added from a copy with the same card: still a no-op
    cpSync(BUNDLED, join(tmp, 'bundled-copy'), { recursive: true });
    expect(await reg.add(join(tmp, 'bundled-copy'))).to.equal(JSON.parse(readFileSync(join(BUNDLED, 'model-card.json'), 'utf8')).version);
  });

  it('concurrent moves from several writers all land in the history (the lock serialises them)', async () => {
    const root = join(tmp, 'reg');
    const v2 = await variant(join(tmp, 'cand'), 3);
    await new ModelRegistry({ root, bundledDir: BUNDLED }).add(join(tmp, 'cand'));
    const writers = Array.from({ length: 8 }, () => new ModelRegistry({ root, bundledDir: BUNDLED }));
    await Promise.all(writers.map((r, i) => r.move('challenger', i % 2 ? v2 : null, { reason: `w${i}`, kind: 'challenge' })));
    const reasons = new ModelRegistry({ root, bundledDir: BUNDLED }).history().map((m) => m.reason);
    expect(reasons.sort()).to.deep.equal(writers.map((_, i) => `w${i}`).sort());
  });
});

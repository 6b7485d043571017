import { expect } from 'chai';
import { loadClassifier, loadFashionMnist, type Classifier, type FashionMnist } from '@refund-vision/model';
import { loadConfig, PIXELS_PER_IMAGE, type Config, type HealthCheck } from '@refund-vision/shared';
import { assessRun, chiSquaredTest, describeProblems, jensenShannonDistance, overallStatus, type RunHealthInput } from './health.ts';
import { pixelStats } from './pixel-stats.ts';

/** Runs built from real Fashion-MNIST test images, classified by the real model. */
describe('health: per-run checks on real images and the real model', function () {
  let clf: Classifier;
  let test: FashionMnist;
  let health: Config['health'];

  before(async function () {
    const config = loadConfig();
    health = config.health;
    clf = await loadClassifier({ dir: config.model.dir });
    test = await loadFashionMnist('test');
  });
  after(async () => clf?.dispose());

  const images = (indices: number[]) => {
    const out = new Uint8Array(indices.length * PIXELS_PER_IMAGE);
    indices.forEach((k, j) => out.set(test.images.subarray(k * PIXELS_PER_IMAGE, (k + 1) * PIXELS_PER_IMAGE), j * PIXELS_PER_IMAGE));
    return out;
  };
  /** Every `step`-th test image from `offset`: a fair sample of all classes. */
  const sample = (n: number, step = 20, offset = 0) => images(Array.from({ length: n }, (_, i) => offset + i * step));
  const ofClass = (cls: number, n: number) => {
    const idx: number[] = [];
    for (let i = 0; i < test.count && idx.length < n; i++) if (test.labels[i] === cls) idx.push(i);
    return images(idx);
  };

  async function runOf(pixels: Uint8Array): Promise<RunHealthInput> {
    const n = pixels.length / PIXELS_PER_IMAGE;
    const probs = await clf.predict(pixels, n);
    const confidences: number[] = [];
    const perClassCount = new Array<number>(10).fill(0);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < 10; c++) if (probs[i * 10 + c]! > probs[i * 10 + best]!) best = c;
      confidences.push(probs[i * 10 + best]!);
      perClassCount[best]!++;
    }
    const px = pixelStats(pixels);
    return {
      images: n,
      confidences,
      perClassCount,
      pixelSum: px.sum,
      pixelSumSq: px.sumSq,
      pixelNearZero: px.nearZero,
      pixelCount: px.count,
    };
  }

  const byName = (checks: HealthCheck[], name: string) => {
    const c = checks.find((x) => x.name === name);
    expect(c, `check ${name} in ${checks.map((x) => x.name).join(', ')}`).to.exist;
    return c!;
  };
  const mixOf = (r: RunHealthInput) => r.perClassCount.map((c) => c / r.images);
  const explain = (checks: HealthCheck[]) => checks.map((c) => `${c.status} ${c.name}: ${c.message}`).join('\n');

  it('a normal sample of test images is OK on every check, also against recent normal runs', async () => {
    const run = await runOf(sample(500));
    const recent = [
      mixOf(await runOf(sample(300, 30, 7))),
      mixOf(await runOf(sample(300, 30, 13))),
      mixOf(await runOf(sample(200, 40, 17))),
    ];
    const checks = assessRun(run, clf.card, health, recent);
    expect(checks.map((c) => c.name)).to.include.members([
      'confidence',
      'low-confidence',
      'class-mix',
      'class-mix-recent',
      'input-mean',
      'input-near-zero',
      'input-std',
    ]);
    for (const c of checks) expect(c.status, explain(checks)).to.equal('OK');
    expect(overallStatus(checks)).to.equal('OK');
    expect(describeProblems(checks)).to.equal(undefined);
    expect(byName(checks, 'class-mix-recent').value).to.be.a('number').below(health.classMixWarn);
  });

  it('inverted images (photos that were not inverted) ALERT on input drift, saying by how much', async () => {
    const pixels = sample(500).map((v) => 255 - v);
    const checks = assessRun(await runOf(pixels), clf.card, health, []);
    const mean = byName(checks, 'input-mean');
    const zero = byName(checks, 'input-near-zero');
    expect(mean.status, explain(checks)).to.equal('ALERT');
    expect(zero.status, explain(checks)).to.equal('ALERT');
    expect(mean.value).to.be.above(clf.card.monitoring.pixelMean + 0.3);
    expect(mean.message)
      .to.match(/\d\.\d\d per-image SDs above/)
      .and.match(/inverted/);
    expect(zero.message).to.match(/per-image SDs below/);
    expect(overallStatus(checks)).to.equal('ALERT');
    expect(describeProblems(checks)).to.match(/ALERT input-mean: .* retraining may be due$/);
  });

  it('a one-class folder ALERTs on class mix (vs training and vs recent runs) but is not input drift', async () => {
    const sneakers = await runOf(ofClass(7, 300));
    const recent = [
      mixOf(await runOf(sample(300, 30, 7))),
      mixOf(await runOf(sample(300, 30, 13))),
      mixOf(await runOf(sample(200, 40, 17))),
    ];
    const checks = assessRun(sneakers, clf.card, health, recent);
    const mix = byName(checks, 'class-mix');
    expect(mix.status, explain(checks)).to.equal('ALERT');
    expect(mix.value).to.be.at.least(health.classMixAlert);
    expect(mix.message)
      .to.match(/Jensen–Shannon distance 0\.\d{3}/)
      .and.match(/Sneaker/);
    expect(byName(checks, 'class-mix-recent').status).to.equal('ALERT');
    // Sneakers are darker than the average item, but a legitimate folder must not look like broken input.
    expect(byName(checks, 'input-mean').status, explain(checks)).to.not.equal('ALERT');
    expect(byName(checks, 'input-near-zero').status, explain(checks)).to.not.equal('ALERT');
  });

  it('one broken run among the recent ones does not become the norm', async () => {
    const normal = [mixOf(await runOf(sample(300, 30, 7))), mixOf(await runOf(sample(300, 30, 13)))];
    const broken = mixOf(await runOf(ofClass(8, 200)));
    const small = await runOf(sample(30, 300, 11));
    const withBroken = assessRun(small, clf.card, health, [...normal, broken]);
    expect(byName(withBroken, 'class-mix-recent').status, explain(withBroken)).to.equal('OK');
    expect(byName(withBroken, 'class-mix-recent').message).to.match(/median mix of the last 3 runs/);
    const tooFew = assessRun(small, clf.card, health, normal);
    expect(byName(tooFew, 'class-mix-recent').value).to.equal(null);
    expect(byName(tooFew, 'class-mix-recent').message).to.match(/only 2 earlier completed runs/);
  });

  it('small runs are judged by chi-squared: 20 sneakers ALERT, 20 mixed items OK', async () => {
    const small = assessRun(await runOf(ofClass(7, 20)), clf.card, health, []);
    const mix = byName(small, 'class-mix');
    expect(mix.status, explain(small)).to.equal('ALERT');
    expect(mix.message).to.match(/chi-squared [\d.]+ \(9 dof, p=/);
    expect(mix.value).to.be.below(health.classMixPAlert);
    const mixed = assessRun(await runOf(sample(20, 500, 3)), clf.card, health, []);
    expect(byName(mixed, 'class-mix').status, explain(mixed)).to.equal('OK');
  });

  it('ambiguous images (two garments blended) trip the confidence checks', async () => {
    // Half one test image, half another of a different class: the model cannot be sure of either.
    const a = sample(300, 20, 0);
    const b = sample(300, 20, 5);
    const blend = a.map((v, i) => (v + b[i]!) >> 1);
    const checks = assessRun(await runOf(blend), clf.card, health, []);
    const conf = byName(checks, 'confidence');
    expect(conf.status, explain(checks)).to.be.oneOf(['WARN', 'ALERT']);
    expect(conf.value).to.be.below(clf.card.monitoring.meanConfidence - health.confidenceDropWarn);
    expect(conf.message).to.match(/below the test-set baseline/);
    expect(byName(checks, 'low-confidence').status, explain(checks)).to.be.oneOf(['WARN', 'ALERT']);
  });

  it('a run of mostly photos is judged against the photo baselines of the card when it has them', async () => {
    const m = clf.card.monitoring;
    // Photo baselines far from these (Fashion-MNIST) pixels: judged against them, the run drifts.
    const photos = { ...m, pixelMean: m.pixelMean + 4 * m.imageMeanStd, meanConfidence: 0.7 };
    const photoCard = { ...clf.card, monitoring: { ...m, photos } };
    const run = await runOf(sample(300));
    const asPhotos = assessRun({ ...run, photos: 300 }, photoCard, health, []);
    expect(byName(asPhotos, 'input-mean').status, explain(asPhotos)).to.equal('ALERT');
    expect(byName(asPhotos, 'input-mean').message).to.match(/in validation photos/);
    expect(byName(asPhotos, 'confidence').baseline).to.equal(0.7);
    expect(byName(asPhotos, 'confidence').message).to.match(/above the photo baseline 0\.700/);
    // a minority of photos, or a card without photo baselines: the test-set figures
    for (const checks of [
      assessRun({ ...run, photos: 150 }, photoCard, health, []),
      // the committed card has photo baselines since the model learnt photos: take them out
      assessRun({ ...run, photos: 300 }, { ...clf.card, monitoring: { ...m, photos: undefined } }, health, []),
    ]) {
      expect(byName(checks, 'input-mean').status, explain(checks)).to.equal('OK');
      expect(byName(checks, 'input-mean').message).to.match(/in training/);
      expect(byName(checks, 'confidence').baseline).to.equal(m.meanConfidence);
    }
  });

  it('noise images are never OK, however confident the model is about them', async () => {
    let seed = 12345;
    const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const noise = new Uint8Array(300 * PIXELS_PER_IMAGE).map(() => Math.floor(rnd() * 256));
    const checks = assessRun(await runOf(noise), clf.card, health, []);
    expect(overallStatus(checks), explain(checks)).to.equal('ALERT');
    expect(byName(checks, 'input-near-zero').status).to.equal('ALERT');
  });

  it('one odd image is not a trend: drift on 2 inverted images is at most WARN, on 50 it is ALERT', async () => {
    const few = assessRun(await runOf(sample(2).map((v) => 255 - v)), clf.card, health, []);
    expect(byName(few, 'input-mean').status).to.not.equal('ALERT');
    const many = assessRun(await runOf(sample(50).map((v) => 255 - v)), clf.card, health, []);
    expect(byName(many, 'input-mean').status).to.equal('ALERT');
  });

  it('an empty run has nothing to judge', () => {
    const checks = assessRun(
      { images: 0, confidences: [], perClassCount: new Array(10).fill(0), pixelSum: 0, pixelSumSq: 0, pixelNearZero: 0, pixelCount: 0 },
      clf.card,
      health,
      [],
    );
    expect(overallStatus(checks)).to.equal('OK');
    expect(checks[0]!.message).to.match(/no images/);
  });
});

describe('health: statistics', () => {
  it('Jensen–Shannon distance is 0 for equal mixes, 1 for disjoint ones, symmetric between', () => {
    expect(jensenShannonDistance([1, 2, 3, 0, 0, 0, 0, 0, 0, 0], [2, 4, 6, 0, 0, 0, 0, 0, 0, 0])).to.be.closeTo(0, 1e-9);
    expect(jensenShannonDistance([1, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0, 0, 0, 0])).to.be.closeTo(1, 1e-9);
    const a = [5, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    const b = new Array(10).fill(1);
    expect(jensenShannonDistance(a, b)).to.be.closeTo(jensenShannonDistance(b, a), 1e-12).and.within(0.01, 0.99);
  });

  it('chi-squared p-values match the table (16.919 at 9 dof is p = 0.05, 21.666 is p = 0.01)', () => {
    // Observed counts whose statistic against a uniform mix is exactly known.
    const uniform = new Array(10).fill(0.1);
    const at = (chi2: number) => {
      // n = 1000, expected 100 each; put the whole excess in class 0 and take it evenly from the rest.
      const d = Math.sqrt((chi2 * 100 * 9) / 10);
      return chiSquaredTest([100 + d, ...new Array(9).fill(100 - d / 9)], uniform);
    };
    expect(at(16.919).chi2).to.be.closeTo(16.919, 1e-6);
    expect(at(16.919).p).to.be.closeTo(0.05, 5e-4);
    expect(at(21.666).p).to.be.closeTo(0.01, 1e-4);
    expect(at(0).p).to.be.closeTo(1, 1e-9);
  });

  it('overallStatus is the worst check', () => {
    const c = (status: 'OK' | 'WARN' | 'ALERT'): HealthCheck => ({ name: status, status, value: null, baseline: null, message: '' });
    expect(overallStatus([])).to.equal('OK');
    expect(overallStatus([c('OK'), c('WARN'), c('OK')])).to.equal('WARN');
    expect(overallStatus([c('WARN'), c('ALERT'), c('OK')])).to.equal('ALERT');
  });
});

/**
 * Per-run model health: is the model still seeing what it was trained on, and is it still sure?
 * Called once when a run completes; every check says OK / WARN / ALERT and by how much.
 *
 * Every check judges a *conservative* effect: the observed shift minus `significanceZ` standard
 * errors. A large run is judged on its effect size alone (its standard error is tiny); a run of
 * three images needs a much bigger shift before anything is flagged, because one odd image is not
 * a trend.
 *
 * Input drift is measured in units of the training set's per-image spread (imageMeanStd,
 * imageNearZeroStd), not in standard errors of the run mean (spread/√n): runs are folders of
 * related items, not random draws from the training set, so on a 1,000-image folder of sandals
 * a z-test would scream (z≈−38) about a shift that is perfectly legitimate. A folder of a single
 * class moves the mean pixel by at most 1.2 per-image SDs; un-inverted photos move it by ~3.4.
 */
import { CLASS_NAMES, NUM_CLASSES, type Config, type HealthCheck, type HealthStatus, type ModelCard } from '@refund-vision/shared';

export interface RunHealthInput {
  images: number;
  /** Max-probability per prediction. */
  confidences: number[];
  /** Predictions per class (10). */
  perClassCount: number[];
  /** Σ pixel/255 over every pixel sent. */
  pixelSum: number;
  /** Σ (pixel/255)². */
  pixelSumSq: number;
  /** Pixels below NEAR_ZERO_THRESHOLD (of 255). */
  pixelNearZero: number;
  /** images × 784. */
  pixelCount: number;
  /** Images preprocessing called photos (0 when the sender did not say). */
  photos?: number;
}

/** The figures a run is compared with: the card's test-set ones, or its photo ones for a photo run. */
interface Baselines {
  meanConfidence: number;
  classDistribution: number[];
  pixelMean: number;
  pixelStd: number;
  nearZeroShare: number;
  imageMeanStd: number;
  imageNearZeroStd: number;
  /** How messages name it: "test-set" or "photo". */
  name: string;
  /** The training data the mix is compared with, in words. */
  mixName: string;
  /** Where the pixel figures come from, in words. */
  pixelsFrom: string;
}

/** A run of mostly photos is judged against photo baselines when the model card has them. */
export function baselinesFor(input: Pick<RunHealthInput, 'images' | 'photos'>, card: ModelCard): Baselines {
  const m = card.monitoring;
  if (m.photos && (input.photos ?? 0) * 2 > input.images)
    return { ...m.photos, name: 'photo', mixName: 'the photo validation mix', pixelsFrom: 'in validation photos' };
  return { ...m, name: 'test-set', mixName: 'the training mix', pixelsFrom: 'in training' };
}

type Thresholds = Config['health'];

/** Severity order: a point or run takes its worst status. */
export const HEALTH_RANK: Record<HealthStatus, number> = { OK: 0, WARN: 1, ALERT: 2 };

export function overallStatus(checks: HealthCheck[]): HealthStatus {
  return checks.reduce<HealthStatus>((worst, c) => (HEALTH_RANK[c.status] > HEALTH_RANK[worst] ? c.status : worst), 'OK');
}

/** One line for the events log naming every check that is not OK. */
export function describeProblems(checks: HealthCheck[]): string | undefined {
  const bad = checks.filter((c) => c.status !== 'OK');
  if (!bad.length) return undefined;
  return `${bad.map((c) => `${c.status} ${c.name}: ${c.message}`).join('; ')} — retraining may be due`;
}

export function assessRun(input: RunHealthInput, card: ModelCard, thresholds: Thresholds, recentClassMixes: number[][]): HealthCheck[] {
  if (input.images <= 0 || input.confidences.length === 0) {
    return [{ name: 'run', status: 'OK', value: 0, baseline: null, message: 'no images in this run; nothing to judge' }];
  }
  const base = baselinesFor(input, card);
  return [
    meanConfidenceCheck(input.confidences, base, thresholds),
    lowConfidenceCheck(input.confidences, thresholds),
    classMixCheck('class-mix', base.mixName, input.perClassCount, base.classDistribution, thresholds),
    recentMixCheck(input.perClassCount, recentClassMixes, thresholds),
    ...inputDriftChecks(input, base, thresholds),
  ];
}

// ---- confidence -------------------------------------------------------------------------------

const pct = (x: number, digits = 1) => `${(x * 100).toFixed(digits)}%`;
const fmt = (x: number, digits = 3) => x.toFixed(digits);

function grade(effect: number, warn: number, alert: number): HealthStatus {
  return effect >= alert ? 'ALERT' : effect >= warn ? 'WARN' : 'OK';
}

function meanAndSd(xs: number[]): { mean: number; sd: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN;
  return { mean, sd };
}

/** When a single confidence is all we have, assume a wide spread rather than none. */
const FALLBACK_CONFIDENCE_SD = 0.25;

function meanConfidenceCheck(confidences: number[], base: Baselines, t: Thresholds): HealthCheck {
  const n = confidences.length;
  const { mean, sd } = meanAndSd(confidences);
  const baseline = base.meanConfidence;
  const drop = baseline - mean;
  const se = (Number.isFinite(sd) ? sd : FALLBACK_CONFIDENCE_SD) / Math.sqrt(n);
  const judged = drop - t.significanceZ * se;
  const status = grade(judged, t.confidenceDropWarn, t.confidenceDropAlert);
  const direction = drop >= 0 ? `${fmt(drop)} below` : `${fmt(-drop)} above`;
  let message = `mean confidence ${fmt(mean)}, ${direction} the ${base.name} baseline ${fmt(baseline)}`;
  if (status !== 'OK') message += ` (WARN at a drop of ${fmt(t.confidenceDropWarn, 2)}, ALERT at ${fmt(t.confidenceDropAlert, 2)})`;
  else if (drop >= t.confidenceDropWarn) message += ` — within sampling noise for ${n} image${n === 1 ? '' : 's'}`;
  return { name: 'confidence', status, value: mean, baseline, message };
}

/** Lower end of the Wilson score interval: how low the true share could plausibly be. */
function wilsonLower(k: number, n: number, z: number): number {
  if (n === 0) return 0;
  const p = k / n;
  const z2 = z * z;
  const centre = p + z2 / (2 * n);
  const spread = z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return Math.max(0, (centre - spread) / (1 + z2 / n));
}

function lowConfidenceCheck(confidences: number[], t: Thresholds): HealthCheck {
  const n = confidences.length;
  const low = confidences.filter((c) => c < t.lowConfidence).length;
  const share = low / n;
  const status = grade(wilsonLower(low, n, t.significanceZ), t.lowShareWarn, t.lowShareAlert);
  let message = `${low} of ${n} predictions (${pct(share)}) below confidence ${t.lowConfidence}`;
  if (status !== 'OK') message += ` (WARN above ${pct(t.lowShareWarn, 0)}, ALERT above ${pct(t.lowShareAlert, 0)})`;
  else if (share >= t.lowShareWarn) message += ` — within sampling noise for ${n} image${n === 1 ? '' : 's'}`;
  return { name: 'low-confidence', status, value: share, baseline: t.lowShareWarn, message };
}

// ---- class mix --------------------------------------------------------------------------------

function normalise(xs: number[]): number[] {
  const v = Array.from({ length: NUM_CLASSES }, (_, i) => Math.max(0, Number(xs[i]) || 0));
  const sum = v.reduce((a, b) => a + b, 0);
  return sum > 0 ? v.map((x) => x / sum) : v.map(() => 1 / NUM_CLASSES);
}

function entropy2(p: number[]): number {
  return -p.reduce((h, x) => (x > 0 ? h + x * Math.log2(x) : h), 0);
}

/** Jensen–Shannon distance, base 2: 0 for identical mixes, 1 for disjoint ones. */
export function jensenShannonDistance(p: number[], q: number[]): number {
  const a = normalise(p);
  const b = normalise(q);
  const m = a.map((x, i) => (x + b[i]!) / 2);
  const div = entropy2(m) - (entropy2(a) + entropy2(b)) / 2;
  return Math.sqrt(Math.max(0, div));
}

/** Natural log of Γ(x), Lanczos approximation (g = 7, n = 9). */
function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
    -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const tt = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(tt) - tt + Math.log(a);
}

/** Regularised upper incomplete gamma Q(a, x) (series below a+1, continued fraction above). */
function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lead = -x + a * Math.log(x) - lnGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let k = 1; k < 500; k++) {
      term *= x / (a + k);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return 1 - sum * Math.exp(lead);
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 500; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.exp(lead) * h;
}

/** Chi-squared goodness of fit of observed counts to expected shares: statistic and p-value. */
export function chiSquaredTest(counts: number[], expectedShares: number[]): { chi2: number; p: number; dof: number } {
  const n = counts.reduce((a, b) => a + b, 0);
  const q = normalise(expectedShares);
  let chi2 = 0;
  let dof = -1;
  for (let i = 0; i < NUM_CLASSES; i++) {
    const e = n * q[i]!;
    if (e <= 0) continue;
    chi2 += (counts[i]! - e) ** 2 / e;
    dof++;
  }
  return { chi2, dof, p: dof > 0 ? gammaQ(dof / 2, chi2 / 2) : 1 };
}

/** Dominant classes of a mix, for the message ("62% Sneaker, 20% Sandal"). */
function topShares(counts: number[]): string {
  const p = normalise(counts);
  return p
    .map((share, i) => ({ share, i }))
    .sort((a, b) => b.share - a.share)
    .slice(0, 2)
    .filter((x) => x.share > 0)
    .map((x) => `${pct(x.share, 0)} ${CLASS_NAMES[x.i]}`)
    .join(', ');
}

function classMixCheck(name: string, against: string, counts: number[], reference: number[], t: Thresholds): HealthCheck {
  const n = counts.reduce((a, b) => a + b, 0);
  const mix = `mix ${topShares(counts)}`;
  if (n < t.smallRun) {
    // JS distance of a handful of predictions is mostly sampling noise; a test knows that.
    // A little uniform mass keeps classes that never occurred in the reference testable.
    const smoothed = normalise(reference).map((x) => 0.99 * x + 0.01 / NUM_CLASSES);
    const { chi2, p, dof } = chiSquaredTest(counts, smoothed);
    const status: HealthStatus = p < t.classMixPAlert ? 'ALERT' : p < t.classMixPWarn ? 'WARN' : 'OK';
    const pText = p < 1e-6 ? p.toExponential(1) : p.toPrecision(2);
    const message =
      `${mix}; chi-squared ${chi2.toFixed(1)} (${dof} dof, p=${pText}) against ${against} for a small run of ${n}` +
      (status === 'OK' ? '' : ` (WARN below p=${t.classMixPWarn}, ALERT below p=${t.classMixPAlert})`);
    return { name, status, value: p, baseline: t.classMixPWarn, message };
  }
  const d = jensenShannonDistance(counts, reference);
  const status = grade(d, t.classMixWarn, t.classMixAlert);
  const message =
    `${mix}; Jensen–Shannon distance ${fmt(d)} from ${against}` +
    (status === 'OK' ? '' : ` (WARN at ${t.classMixWarn}, ALERT at ${t.classMixAlert})`);
  return { name, status, value: d, baseline: 0, message };
}

/** Fewer earlier runs than this give no trustworthy picture of "recent". */
const MIN_RECENT_RUNS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function recentMixCheck(counts: number[], recent: number[][], t: Thresholds): HealthCheck {
  const usable = recent.filter((r) => r.some((x) => x > 0)).map(normalise);
  if (usable.length < MIN_RECENT_RUNS) {
    return {
      name: 'class-mix-recent',
      status: 'OK',
      value: null,
      baseline: null,
      message: `only ${usable.length} earlier completed run${usable.length === 1 ? '' : 's'}; the class mix is compared with recent runs from ${MIN_RECENT_RUNS} on`,
    };
  }
  // The per-class median, so that one broken run among the recent ones does not become the norm.
  const reference = normalise(Array.from({ length: NUM_CLASSES }, (_, i) => median(usable.map((r) => r[i]!))));
  return classMixCheck('class-mix-recent', `the median mix of the last ${usable.length} runs`, counts, reference, t);
}

// ---- input drift ------------------------------------------------------------------------------

const MIN_IMAGES_FOR_STD = 10;

function inputDriftChecks(input: RunHealthInput, m: Baselines, t: Thresholds): HealthCheck[] {
  const n = input.images;
  const count = Math.max(1, input.pixelCount);
  const mean = input.pixelSum / count;
  const std = Math.sqrt(Math.max(0, input.pixelSumSq / count - mean * mean));
  const zero = input.pixelNearZero / count;

  const shiftCheck = (
    name: string,
    what: string,
    value: number,
    baseline: number,
    spread: number,
    show: (x: number) => string,
  ): HealthCheck => {
    const sds = spread > 0 ? Math.abs(value - baseline) / spread : 0;
    const judged = sds - t.significanceZ / Math.sqrt(n);
    const status = grade(judged, t.driftWarnSd, t.driftAlertSd);
    const dir = value >= baseline ? 'above' : 'below';
    let message = `${what} ${show(value)} vs ${show(baseline)} ${m.pixelsFrom}: ${sds.toFixed(2)} per-image SDs ${dir}`;
    if (status !== 'OK') {
      message += ` (WARN at ${t.driftWarnSd}, ALERT at ${t.driftAlertSd})`;
      if (name === 'input-mean' && value > baseline && zero < m.nearZeroShare)
        message += ' — images look brighter than training data: were photos inverted?';
    }
    return { name, status, value, baseline, message };
  };

  const ratio = std > 0 && m.pixelStd > 0 ? Math.max(std / m.pixelStd, m.pixelStd / std) : Infinity;
  // A single image's contrast varies a lot (per-image std ~0.15–0.45); judge contrast on folders.
  const enough = n >= MIN_IMAGES_FOR_STD;
  const stdStatus: HealthStatus = !enough ? 'OK' : ratio >= t.stdRatioAlert ? 'ALERT' : ratio >= t.stdRatioWarn ? 'WARN' : 'OK';
  const stdCheck: HealthCheck = {
    name: 'input-std',
    status: stdStatus,
    value: std,
    baseline: m.pixelStd,
    message:
      `pixel std ${fmt(std)} vs ${fmt(m.pixelStd)} ${m.pixelsFrom} (${Number.isFinite(ratio) ? `×${ratio.toFixed(2)}` : 'flat images'})` +
      (stdStatus !== 'OK'
        ? ` (WARN at ×${t.stdRatioWarn}, ALERT at ×${t.stdRatioAlert} either way)`
        : enough
          ? ''
          : ` — not judged below ${MIN_IMAGES_FOR_STD} images`),
  };

  return [
    shiftCheck('input-mean', 'mean pixel', mean, m.pixelMean, m.imageMeanStd, (x) => fmt(x)),
    shiftCheck('input-near-zero', 'near-zero pixel share', zero, m.nearZeroShare, m.imageNearZeroStd, (x) => pct(x)),
    stdCheck,
  ];
}

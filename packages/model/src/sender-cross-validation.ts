/**
 * How well the calibration and the review thresholds carry to senders they were not fitted on.
 * The card's figures are fitted and measured on the same validation photos, so they flatter:
 * here the senders are split in two halves, temperature, confidence map and review policy are
 * fitted on one half exactly as training fits them on all, and measured on the other half; both
 * ways round, repeated over seeded shuffles of the senders. One sender's photos stay on one side.
 */
import { modelReviewReason, NUM_CLASSES, seededRandom, type ReviewReason } from '@refund-vision/shared';
import { applyTemperature, fitServedConfidenceMap, fitTemperature } from './calibration.ts';
import { applyConfidenceMap } from './confidence-map.ts';
import {
  AUTO_ACCEPT_TOLERANCE,
  chooseReviewPolicy,
  outcomeOfReasons,
  photoEce,
  labelRow,
  REVIEW_TARGETS,
  selectHeadRows,
  selectRows,
  senderGroups,
  type LabelHeadRows,
  type LabelledPhoto,
} from './photo-metrics.ts';

const K = NUM_CLASSES;

/** Mean over the repeats, and the lowest and highest. */
export interface Spread {
  mean: number;
  min: number;
  max: number;
}

export interface SenderCrossValidation {
  method: string;
  repeats: number;
  /** Photo ECE of the out-of-fold answers: temperature and map, and the temperature alone. */
  ece: Spread;
  eceTemperatureOnly: Spread;
  /** What the thresholds chosen on the other half do. */
  inScopeAutoAccepted: Spread;
  autoAcceptedAccuracy: Spread;
  outOfScopeFlagged: Spread;
}

/** Options of the cross-validation. */
export interface CrossValidationOptions {
  repeats?: number;
  seed?: number;
  /** the accuracy the thresholds demand on the half they are fitted on */
  aim?: number;
  /** the label head's probabilities for the same photos: its scores join the thresholds' choice */
  head?: LabelHeadRows;
}

/**
 * `raw`: the net's softmax before any calibration, one row per photo. Repeats whose halves lack
 * in-scope or out-of-scope photos are drawn again (at most 10× the repeats asked for); undefined
 * when no split works (too few senders).
 */
export function senderCrossValidation(
  raw: Float32Array,
  photos: readonly (LabelledPhoto & { senderId: string })[],
  opts: CrossValidationOptions = {},
): SenderCrossValidation | undefined {
  // Ten shuffles, not five: with five, the aim search (accuracyAim) stepped past an aim whose mean
  // fell just under the target by chance; two headed ensembles' figures dropped 3 points that way
  // (packages/model/README.md, "Measured with it").
  const repeats = opts.repeats ?? 10;
  const rand = seededRandom(opts.seed ?? 1);
  const groups = senderGroups(photos);
  const figures = { ece: [] as number[], eceT: [] as number[], accepted: [] as number[], accuracy: [] as number[], oos: [] as number[] };
  for (let attempt = 0; figures.ece.length < repeats && attempt < repeats * 10; attempt++) {
    const half = groups.map(() => (rand() < 0.5 ? 0 : 1));
    const sides = [0, 1].map((h) => groups.filter((_, g) => half[g] === h).flat());
    const usable = sides.every((idx) => idx.some((i) => photos[i]!.outOfScope) && idx.some((i) => !photos[i]!.outOfScope));
    if (!usable) continue;
    const served = new Float32Array(raw.length);
    const scaledOnly = new Float32Array(raw.length);
    const reasons: (ReviewReason | undefined)[] = new Array(photos.length);
    for (const test of [0, 1]) {
      const fit = sides[1 - test]!;
      const fitPhotos = fit.map((i) => photos[i]!);
      const t = fitTemperature(selectRows(raw, fit), fitPhotos);
      const scaled = applyTemperature(raw, t);
      const map = fitServedConfidenceMap(selectRows(scaled, fit), fitPhotos);
      const cal = applyConfidenceMap(Float32Array.from(scaled), map);
      const { policy } = chooseReviewPolicy(
        selectRows(cal, fit),
        fitPhotos,
        REVIEW_TARGETS,
        AUTO_ACCEPT_TOLERANCE,
        opts.aim,
        selectHeadRows(opts.head, fit),
      );
      for (const i of sides[test]!) {
        const r = cal.subarray(i * K, (i + 1) * K);
        served.set(r, i * K);
        scaledOnly.set(scaled.subarray(i * K, (i + 1) * K), i * K);
        reasons[i] = modelReviewReason(r, policy, labelRow(opts.head, i));
      }
    }
    const outcome = outcomeOfReasons(served, photos, reasons);
    figures.ece.push(photoEce(served, photos));
    figures.eceT.push(photoEce(scaledOnly, photos));
    figures.accepted.push(outcome.inScopeAutoAccepted);
    figures.accuracy.push(outcome.autoAcceptedAccuracy);
    figures.oos.push(outcome.outOfScopeFlagged);
  }
  if (!figures.ece.length) return undefined;
  const round = (x: number) => Math.round(x * 1e4) / 1e4;
  const spread = (v: number[]): Spread => ({
    mean: round(v.reduce((a, b) => a + b, 0) / Math.max(v.length, 1)),
    min: round(Math.min(...v)),
    max: round(Math.max(...v)),
  });
  return {
    method:
      `senders split in two halves at random; temperature, confidence map and review thresholds fitted on one half, measured on the other, both ways round; ${figures.ece.length} shuffles` +
      (opts.aim ? `; thresholds demanding ${Math.round(opts.aim * 1000) / 10} % on their half` : ''),
    repeats: figures.ece.length,
    ece: spread(figures.ece),
    eceTemperatureOnly: spread(figures.eceT),
    inScopeAutoAccepted: spread(figures.accepted),
    autoAcceptedAccuracy: spread(figures.accuracy),
    outOfScopeFlagged: spread(figures.oos),
  };
}

/**
 * Thresholds chosen to give 95 % on the photos they are chosen on give less on other senders
 * (committed ensemble: 92 % out of fold). The lowest aim, from the target up in steps of half a
 * point, whose thresholds keep the target on the other half of the senders (mean over the shuffles);
 * the aim itself when the split cannot be cross-validated.
 */
export function accuracyAim(
  raw: Float32Array,
  photos: readonly (LabelledPhoto & { senderId: string })[],
  target = REVIEW_TARGETS.autoAcceptedAccuracy,
  opts: Omit<CrossValidationOptions, 'aim'> & { highest?: number } = {},
): { aim: number; crossValidation?: SenderCrossValidation } {
  const highest = opts.highest ?? 0.99;
  let last: { aim: number; crossValidation?: SenderCrossValidation } = { aim: target };
  for (let aim = target; aim <= highest + 1e-9; aim = Math.round((aim + 0.005) * 1000) / 1000) {
    const crossValidation = senderCrossValidation(raw, photos, { ...opts, aim });
    if (!crossValidation) return { aim: target };
    last = { aim, crossValidation };
    if (crossValidation.autoAcceptedAccuracy.mean >= target) break;
  }
  return last;
}

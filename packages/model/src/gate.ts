/**
 * The evaluation gate a candidate model passes before it may replace the champion.
 *
 * Both models answer the same items, so their errors are paired: McNemar's exact test looks only at
 * the discordant items (one right, the other wrong). Under "no difference" each discordant item is a
 * fair coin, so the chance of the candidate losing at least `b` of `b + c` by luck is a binomial tail.
 * A candidate passes when no set says "worse beyond sampling noise" and at least one says "better
 * beyond sampling noise" — a point estimate that is higher by a handful of items is noise, not a reason
 * to swap the model every refund department relies on.
 */

export interface PairedOutcomes {
  /** e.g. "fashion-mnist-test", "photo-validation", "held-back reviews" */
  name: string;
  /** Per item: was the champion right? */
  champion: ArrayLike<boolean>;
  /** Per item: was the candidate right? Same items, same order. */
  candidate: ArrayLike<boolean>;
  /** Reported beside the verdict, not judged (see gate-sets.ts: what the review policies accept). */
  reportedOnly?: boolean;
}

export interface McNemar {
  n: number;
  championAccuracy: number | null;
  candidateAccuracy: number | null;
  /** Items the champion got right and the candidate wrong. */
  championOnly: number;
  /** Items the candidate got right and the champion wrong. */
  candidateOnly: number;
  /** One-sided exact p-value for "the candidate is worse". */
  pWorse: number;
  /** One-sided exact p-value for "the candidate is better". */
  pBetter: number;
}

/** log(n choose k) via log-gamma-free summation of logs (n is at most the set size). */
function logChoose(n: number, k: number): number {
  if (k < 0 || k > n) return -Infinity;
  k = Math.min(k, n - k);
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log(n - k + i) - Math.log(i);
  return s;
}

/** P(X ≥ k) for X ~ Binomial(n, 1/2), computed in log space so n in the thousands stays exact enough. */
export function binomialUpperTail(n: number, k: number): number {
  if (k <= 0) return 1;
  if (k > n) return 0;
  const logHalfN = n * Math.log(0.5);
  let max = -Infinity;
  const terms: number[] = [];
  for (let i = k; i <= n; i++) {
    const t = logChoose(n, i) + logHalfN;
    terms.push(t);
    if (t > max) max = t;
  }
  let sum = 0;
  for (const t of terms) sum += Math.exp(t - max);
  return Math.min(1, Math.exp(max) * sum);
}

export function mcnemar(set: Pick<PairedOutcomes, 'champion' | 'candidate'>): McNemar {
  const n = set.champion.length;
  if (set.candidate.length !== n) throw new RangeError(`paired sets differ in length: ${n} vs ${set.candidate.length}`);
  let a = 0;
  let b = 0;
  let champRight = 0;
  let candRight = 0;
  for (let i = 0; i < n; i++) {
    const ch = !!set.champion[i];
    const ca = !!set.candidate[i];
    if (ch) champRight++;
    if (ca) candRight++;
    if (ch && !ca) a++;
    else if (!ch && ca) b++;
  }
  const d = a + b;
  return {
    n,
    championAccuracy: n ? champRight / n : null,
    candidateAccuracy: n ? candRight / n : null,
    championOnly: a,
    candidateOnly: b,
    pWorse: binomialUpperTail(d, a),
    pBetter: binomialUpperTail(d, b),
  };
}

export interface GateSetResult extends McNemar {
  name: string;
  verdict: 'worse' | 'better' | 'no significant difference' | 'empty';
  /** The set was reported, and left out of the pass rule. */
  reportedOnly?: boolean;
}

export interface GateReport {
  alpha: number;
  passed: boolean;
  reason: string;
  sets: GateSetResult[];
}

export function gate(sets: PairedOutcomes[], alpha = 0.05): GateReport {
  const results: GateSetResult[] = sets.map((s) => {
    const m = mcnemar(s);
    const verdict = m.n === 0 ? 'empty' : m.pWorse < alpha ? 'worse' : m.pBetter < alpha ? 'better' : 'no significant difference';
    return { name: s.name, ...m, verdict, ...(s.reportedOnly ? { reportedOnly: true } : {}) };
  });
  const judged = results.filter((r) => !r.reportedOnly);
  const worse = judged.filter((r) => r.verdict === 'worse');
  const better = judged.filter((r) => r.verdict === 'better');
  const passed = worse.length === 0 && better.length > 0;
  const reason = worse.length
    ? `worse beyond sampling noise on ${worse.map((r) => `${r.name} (p=${r.pWorse.toPrecision(2)})`).join(', ')}`
    : better.length
      ? `not worse on any set; better on ${better.map((r) => `${r.name} (p=${r.pBetter.toPrecision(2)})`).join(', ')}`
      : 'not better beyond sampling noise on any set';
  return { alpha, passed, reason, sets: results };
}

/** One line per set, for the CLI and the registry's history. */
export function formatGateReport(r: GateReport): string {
  const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(2)} %`);
  const lines = r.sets.map(
    (s) =>
      `  ${s.name}: n=${s.n} champion ${pct(s.championAccuracy)} candidate ${pct(s.candidateAccuracy)} ` +
      `discordant ${s.championOnly}/${s.candidateOnly} (champion-only/candidate-only) p(worse)=${s.pWorse.toPrecision(3)} ` +
      `p(better)=${s.pBetter.toPrecision(3)} → ${s.verdict}${s.reportedOnly ? ' (reported, not judged)' : ''}`,
  );
  return [`gate ${r.passed ? 'PASSED' : 'FAILED'} (α=${r.alpha}): ${r.reason}`, ...lines].join('\n');
}

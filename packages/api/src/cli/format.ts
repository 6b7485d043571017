/** Plain-text tables for the metrics CLI: runs over time, and one run per class. */
import type { HealthCheck, RunSummary } from '@refund-vision/shared';
import type { Summary } from '../history/aggregate.ts';

export type Align = 'left' | 'right';

/** Columns padded to their widest cell; `align` per column (default left). */
export function renderTable(header: string[], rows: string[][], align: Align[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (align[i] === 'right' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export const pct = (x: number | null | undefined, digits = 1) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(digits)}%`);
export const msText = (x: number | null | undefined) => (x === null || x === undefined ? '—' : x < 10 ? x.toFixed(2) : x.toFixed(0));
const when = (iso: string | null) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : '—');
/** Control characters in user-chosen names would move the cursor or ring bells; show them escaped. */
const safe = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

export function runsTable(runs: RunSummary[]): string {
  if (!runs.length) return 'No runs in this period.';
  return renderTable(
    ['Started (UTC)', 'Run', 'Source', 'Images', 'Mean conf.', 'Accuracy (labels)', 'Accuracy (feedback)', 'ms/pred', 'Health'],
    runs.map((r) => [
      when(r.startedAt),
      safe(r.runKey),
      r.source,
      String(r.images),
      pct(r.meanConfidence),
      r.accuracy === null ? '—' : `${pct(r.accuracy)} of ${r.labelled}`,
      pct(r.feedbackAccuracy),
      msText(r.msPerPrediction),
      r.status === 'open' ? 'open' : (r.health ?? '—'),
    ]),
    ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'right', 'left'],
  );
}

export function summaryLines(s: Summary): string {
  return [
    `${s.runs} runs (${s.openRuns} open), ${s.images} images, ${s.failures} failures`,
    `mean confidence ${pct(s.meanConfidence)} (how sure the model was, not accuracy)`,
    `accuracy from labels ${pct(s.accuracy.value)} of ${s.accuracy.labelled}; from feedback ${pct(s.feedbackAccuracy.value)} of ${s.feedbackAccuracy.count}`,
    `health: ${s.health.ALERT} ALERT, ${s.health.WARN} WARN, ${s.health.OK} OK`,
    `ms per prediction: p50 ${msText(s.msPerPrediction.p50)}, p95 ${msText(s.msPerPrediction.p95)}`,
  ].join('\n');
}

function checkLines(checks: HealthCheck[]): string {
  return checks.map((c) => `  ${c.status.padEnd(5)} ${c.name}: ${safe(c.message)}`).join('\n');
}

/** One run: facts, health checks, and the per-class breakdown (with the test-set baseline when known). */
export function runDetail(run: RunSummary, baseline?: number[]): string {
  const facts = [
    `Run ${safe(run.runKey)} (id ${run.id}, ${run.source}, model ${run.modelVersion})`,
    `started ${when(run.startedAt)}, ${run.status === 'open' ? 'still open' : `finished ${when(run.finishedAt)}`}`,
    `${run.images} images, ${run.failures} failures, ${msText(run.msPerPrediction)} ms/prediction`,
    `mean confidence ${pct(run.meanConfidence)}; accuracy from labels ${run.accuracy === null ? '—' : `${pct(run.accuracy)} of ${run.labelled}`}; from feedback ${pct(run.feedbackAccuracy)}`,
    `health ${run.health ?? (run.status === 'open' ? 'not checked (run open)' : '—')}`,
  ];
  const checks = run.checks?.length ? `${checkLines(run.checks)}\n` : '';
  const total = run.images || 1;
  const table = renderTable(
    ['Class', 'Predictions', 'Share', 'Mean conf.', ...(baseline ? ['Test-set conf.'] : [])],
    run.perClass.map((c) => [
      c.className,
      String(c.count),
      pct(c.count / total),
      pct(c.meanConfidence),
      ...(baseline ? [pct(baseline[c.classIndex])] : []),
    ]),
    ['left', 'right', 'right', 'right', 'right'],
  );
  return `${facts.join('\n')}\n${checks}\n${table}`;
}

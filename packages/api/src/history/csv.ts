/** CSV export of runs, shared by `GET /v1/runs.csv` and `pnpm metrics --format csv`. */
import { CLASS_NAMES, defuseFormula, type RunSummary } from '@refund-vision/shared';

/**
 * One CSV cell. Strings that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) get
 * a leading apostrophe: run keys and messages can carry user-chosen text.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(Math.round(value * 1e6) / 1e6) : '';
  const s = defuseFormula(String(value));
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: string[], rows: unknown[][]): string {
  return [header, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

const slug = (name: string) =>
  name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_|_$/g, '');

export const RUN_CSV_HEADER = [
  'run_id',
  'run_key',
  'source',
  'status',
  'model_version',
  'started_at',
  'finished_at',
  'images',
  'failures',
  'process_ms',
  'inference_ms',
  'ms_per_prediction',
  'mean_confidence',
  'accuracy_labels',
  'labelled',
  'accuracy_feedback',
  'health',
  'problems',
  ...CLASS_NAMES.map((c) => `count_${slug(c)}`),
  ...CLASS_NAMES.map((c) => `confidence_${slug(c)}`),
];

export function runCsvRow(r: RunSummary): unknown[] {
  const problems = (r.checks ?? [])
    .filter((c) => c.status !== 'OK')
    .map((c) => `${c.status} ${c.name}: ${c.message}`)
    .join(' | ');
  return [
    r.id,
    r.runKey,
    r.source,
    r.status,
    r.modelVersion,
    r.startedAt,
    r.finishedAt,
    r.images,
    r.failures,
    r.processMs,
    r.inferenceMs,
    r.msPerPrediction,
    r.meanConfidence,
    r.accuracy,
    r.labelled,
    r.feedbackAccuracy ?? null,
    r.health ?? null,
    problems,
    ...r.perClass.map((c) => c.count),
    ...r.perClass.map((c) => c.meanConfidence),
  ];
}

export function runsCsv(runs: RunSummary[]): string {
  return toCsv(RUN_CSV_HEADER, runs.map(runCsvRow));
}

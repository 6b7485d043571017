/**
 * The per-run results table, `data/results/<run-key>.csv` (the old Results.csv, richer). Rows are
 * journaled in `<stateDir>/runs/<run-key>.rows.jsonl` as they happen, so a run resumed after a
 * crash (or an outbox delivered days later) rewrites the whole CSV, atomically, from the journal.
 */
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CLASS_NAMES, csvLine, type ReviewReason } from '@refund-vision/shared';
import { appendDurable, fileSafe, parseJsonLines, writeFileAtomic } from './fsutil.ts';

export type RowStatus = 'classified' | 'queued' | 'rejected' | 'duplicate' | 'failed';

export interface ResultRow {
  file: string;
  group: string;
  status: RowStatus;
  /** Why a file failed (corrupt, not-image …) or which file a duplicate repeats. */
  detail?: string;
  classIndex?: number;
  confidence?: number;
  top3?: { className: string; confidence: number }[];
  orderId?: string;
  expected?: number;
  /** The API's reason for a person to look (mismatch, out-of-scope, low-confidence); absent when trusted. */
  review?: ReviewReason;
  kind?: string;
  batch?: number;
  hash?: string;
}

export const CSV_COLUMNS = [
  'file',
  'group',
  'class',
  'confidence',
  'top3',
  'status',
  'detail',
  'order_id',
  'expected_class',
  'review',
  'kind',
  'batch',
  'hash',
] as const;

const fmt = (n: number | undefined) => (n === undefined ? '' : n.toFixed(4));

export function renderCsv(rows: ResultRow[]): string {
  const sorted = [...rows].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  let out = csvLine([...CSV_COLUMNS]);
  for (const r of sorted) {
    out += csvLine([
      r.file,
      r.group,
      r.classIndex === undefined ? '' : CLASS_NAMES[r.classIndex],
      fmt(r.confidence),
      (r.top3 ?? []).map((t) => `${t.className} ${t.confidence.toFixed(4)}`).join('; '),
      r.status,
      r.detail ?? '',
      r.orderId ?? '',
      r.expected === undefined ? '' : CLASS_NAMES[r.expected],
      r.review ?? '',
      r.kind ?? '',
      r.batch === undefined ? '' : String(r.batch),
      r.hash ?? '',
    ]);
  }
  return out;
}

export function writeResultsCsv(path: string, rows: ResultRow[]): void {
  writeFileAtomic(path, renderCsv(rows));
}

export function resultsPath(resultsDir: string, runKey: string): string {
  return join(resultsDir, `${fileSafe(runKey)}.csv`);
}

/** Append-only row log of one run; the latest row per file wins, but a classified row is final. */
export class RowJournal {
  readonly path: string;

  constructor(
    stateDir: string,
    readonly runKey: string,
  ) {
    this.path = join(stateDir, 'runs', `${fileSafe(runKey)}.rows.jsonl`);
  }

  append(rows: ResultRow[]): void {
    if (rows.length) appendDurable(this.path, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  }

  rows(): ResultRow[] {
    if (!existsSync(this.path)) return [];
    const byFile = new Map<string, ResultRow>();
    for (const r of parseJsonLines<ResultRow>(readFileSync(this.path, 'utf8'))) {
      const prev = byFile.get(r.file);
      if (prev?.status === 'classified' && r.status !== 'classified') continue;
      byFile.set(r.file, r);
    }
    return [...byFile.values()];
  }

  remove(): void {
    if (existsSync(this.path)) unlinkSync(this.path);
  }
}

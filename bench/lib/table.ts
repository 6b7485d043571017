/**
 * The one results table: metric, ours, peer, ratio (ours : peer), goal, met?. Rows are plain data
 * so that the bench can print them, write them as JSON and markdown, and tests can check them.
 */

/** How a row's goal is judged: on the ratio ours/peer, or on our own figure. */
export type GoalKind = 'ratio<=' | 'ratio>=' | 'ours<=' | 'ours>=';
export interface Goal {
  kind: GoalKind;
  value: number;
}

export interface Row {
  /** Issue 6 item number (1–10), or 11 for issue 11's replicas, the row belongs to. */
  item: number;
  metric: string;
  unit: string;
  ours: number | null;
  peer: number | null;
  /** Who the peer is, e.g. "PyTorch 1.13 (1 thread)". */
  peerName?: string;
  goal?: Goal;
  /** Why a figure is missing ("not available yet: …", "peer unavailable: …") or how it was made. */
  note?: string;
}

export interface EvaluatedRow extends Row {
  ratio: number | null;
  /** null when the goal cannot be judged (no goal, or a figure is missing). */
  met: boolean | null;
}

export function ratioOf(ours: number | null, peer: number | null): number | null {
  if (ours === null || peer === null || !Number.isFinite(ours) || !Number.isFinite(peer) || peer === 0) return null;
  return ours / peer;
}

export function evaluate(row: Row): EvaluatedRow {
  const ratio = ratioOf(row.ours, row.peer);
  let met: boolean | null = null;
  const g = row.goal;
  if (g) {
    const subject = g.kind.startsWith('ratio') ? ratio : row.ours;
    if (subject !== null && Number.isFinite(subject)) met = g.kind.endsWith('<=') ? subject <= g.value : subject >= g.value;
  }
  return { ...row, ratio, met };
}

/** Three significant figures for small values, no false precision for large ones. */
export function formatNumber(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}

export function formatGoal(g: Goal | undefined, unit: string): string {
  if (!g) return '—';
  const op = g.kind.endsWith('<=') ? '≤' : '≥';
  return g.kind.startsWith('ratio') ? `ratio ${op} ${g.value}` : `${op} ${formatNumber(g.value)} ${unit}`;
}

function cells(r: EvaluatedRow): string[] {
  const withUnit = (x: number | null) => (x === null ? '—' : `${formatNumber(x)} ${r.unit}`.trim());
  const peer = r.peer === null ? '—' : `${withUnit(r.peer)}${r.peerName ? ` (${r.peerName})` : ''}`;
  const met = r.met === null ? (r.goal ? 'n/a' : '—') : r.met ? 'yes' : 'NO';
  return [
    `${r.item}. ${r.metric}`,
    withUnit(r.ours),
    peer,
    r.ratio === null ? '—' : `${formatNumber(r.ratio)}×`,
    formatGoal(r.goal, r.unit),
    met,
  ];
}

export const HEADERS = ['metric', 'ours', 'peer', 'ratio', 'goal', 'met?'];

/** Footnotes: one per row that carries a note, numbered in row order. */
function notes(rows: EvaluatedRow[]): { marks: string[]; lines: string[] } {
  const marks: string[] = [];
  const lines: string[] = [];
  for (const r of rows) {
    if (r.note) {
      lines.push(`[${lines.length + 1}] ${r.item}. ${r.metric}: ${r.note}`);
      marks.push(` [${lines.length}]`);
    } else marks.push('');
  }
  return { marks, lines };
}

/** Fixed-width text table for the terminal. */
export function formatTable(rows: Row[]): string {
  const ev = rows.map(evaluate);
  const { marks, lines } = notes(ev);
  const body = ev.map((r, i) => {
    const c = cells(r);
    c[0] = `${c[0]}${marks[i] ?? ''}`;
    return c;
  });
  const widths = HEADERS.map((h, j) => Math.max(h.length, ...body.map((c) => c[j]!.length)));
  const line = (c: string[]) =>
    c
      .map((x, j) => (j === 0 ? x.padEnd(widths[j]!) : x.padStart(widths[j]!)))
      .join('  ')
      .trimEnd();
  const out = [line(HEADERS), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)];
  if (lines.length) out.push('', ...lines);
  return out.join('\n');
}

const mdEscape = (s: string) => s.replace(/\|/g, '\\|');

export function formatMarkdown(rows: Row[]): string {
  const ev = rows.map(evaluate);
  const { marks, lines } = notes(ev);
  const out = [`| ${HEADERS.join(' | ')} |`, `|${HEADERS.map((_, j) => (j === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  ev.forEach((r, i) => {
    const c = cells(r).map(mdEscape);
    c[0] = `${c[0]}${marks[i] ?? ''}`;
    out.push(`| ${c.join(' | ')} |`);
  });
  if (lines.length) out.push('', ...lines.map((l) => `- ${mdEscape(l)}`));
  return out.join('\n');
}

/**
 * The rows the metrics history is computed from (history/aggregate.ts does the arithmetic). They
 * read the per-run counters and run_class_stats; they never scan predictions.
 */
import type { ExpressionBuilder, Kysely } from 'kysely';
import type { HealthStatus } from '@refund-vision/shared';
import type { TimeRange } from '../history/range.ts';
import { feedbackRight } from './feedback.ts';
import type { Tables } from './tables.ts';

export interface RangeTotals {
  runs: number;
  completed: number;
  images: number;
  failures: number;
  conf: number;
  labelled: number;
  correct: number;
  ok: number;
  warn: number;
  alert: number;
}

export interface SeriesRunRow {
  id: number;
  run_key: string;
  source: string;
  status: string;
  started_at: string;
  images: number;
  confidence_sum: number;
  labelled: number;
  correct: number;
  ms: number | null;
  health: HealthStatus | null;
}

/** Runs started in [from, to), on whichever alias the query gives the runs table. */
function inRange<A extends string>(eb: ExpressionBuilder<any, any>, alias: A, range: TimeRange) {
  const col = `${alias}.started_at`;
  return eb.and([...(range.from ? [eb(col, '>=', range.from)] : []), ...(range.to ? [eb(col, '<', range.to)] : [])]);
}

export class HistoryRepository {
  constructor(private readonly db: Kysely<Tables>) {}

  /** Counters summed over the runs of a range; health counted per status. */
  async totals(range: TimeRange): Promise<RangeTotals> {
    const row = await this.db
      .selectFrom('runs as r')
      .select((eb) => {
        const countIf = (col: 'r.status' | 'r.health', value: string) =>
          eb.fn.sum<number>(
            eb
              .case()
              .when(col, '=', value as never)
              .then(1)
              .else(0)
              .end(),
          );
        return [
          eb.fn.countAll<number>().as('runs'),
          countIf('r.status', 'completed').as('completed'),
          eb.fn.sum<number>('r.images').as('images'),
          eb.fn.sum<number>('r.failures').as('failures'),
          eb.fn.sum<number>('r.confidence_sum').as('conf'),
          eb.fn.sum<number>('r.labelled').as('labelled'),
          eb.fn.sum<number>('r.correct').as('correct'),
          countIf('r.health', 'OK').as('ok'),
          countIf('r.health', 'WARN').as('warn'),
          countIf('r.health', 'ALERT').as('alert'),
        ];
      })
      .where((eb) => inRange(eb, 'r', range))
      .executeTakeFirstOrThrow();
    const out = {} as RangeTotals;
    for (const [k, v] of Object.entries(row)) out[k as keyof RangeTotals] = Number(v ?? 0);
    return out;
  }

  /** Feedback given on predictions of the range's runs: how many, how many said "right" ("none of these" is a miss). */
  async feedbackTotals(range: TimeRange): Promise<{ n: number; right: number }> {
    const row = await this.db
      .selectFrom('feedback as f')
      .innerJoin('predictions as p', 'p.id', 'f.prediction_id')
      .innerJoin('runs as r', 'r.id', 'p.run_id')
      .select((eb) => [eb.fn.countAll<number>().as('n'), feedbackRight.as('right')])
      .where((eb) => inRange(eb, 'r', range))
      .executeTakeFirstOrThrow();
    return { n: Number(row.n ?? 0), right: Number(row.right ?? 0) };
  }

  /** Per run with images: its wall time (client time once completed, else server time) per image. */
  async runMsPerImage(range: TimeRange): Promise<number[]> {
    const rows = await this.db
      .selectFrom('runs as r')
      .select((eb) => eb(eb.fn.coalesce('r.process_ms', 'r.server_ms'), '/', eb.ref('r.images')).as('v'))
      .where('r.images', '>', 0)
      .where((eb) => inRange(eb, 'r', range))
      .execute();
    return rows.map((r) => Number(r.v));
  }

  /** Per batch with images: server handling time per image. */
  async batchMsPerImage(range: TimeRange): Promise<number[]> {
    const rows = await this.db
      .selectFrom('batches as b')
      .innerJoin('runs as r', 'r.id', 'b.run_id')
      .select((eb) => eb('b.total_ms', '/', eb.ref('b.images')).as('v'))
      .where('b.images', '>', 0)
      .where((eb) => inRange(eb, 'r', range))
      .execute();
    return rows.map((r) => Number(r.v));
  }

  /** The runs of a range, oldest first, with what the dashboard's series need. */
  async seriesRuns(range: TimeRange): Promise<SeriesRunRow[]> {
    return this.db
      .selectFrom('runs as r')
      .select((eb) => [
        'r.id',
        'r.run_key',
        'r.source',
        'r.status',
        'r.started_at',
        'r.images',
        'r.confidence_sum',
        'r.labelled',
        'r.correct',
        eb.fn.coalesce('r.process_ms', 'r.server_ms').as('ms'),
        'r.health',
      ])
      .where((eb) => inRange(eb, 'r', range))
      .orderBy('r.started_at')
      .orderBy('r.id')
      .execute();
  }

  /** Per-class counts and confidence sums of the range's runs. */
  async seriesClassStats(range: TimeRange): Promise<{ run_id: number; class_index: number; count: number; confidence_sum: number }[]> {
    return this.db
      .selectFrom('run_class_stats as s')
      .innerJoin('runs as r', 'r.id', 's.run_id')
      .select(['s.run_id', 's.class_index', 's.count', 's.confidence_sum'])
      .where((eb) => inRange(eb, 'r', range))
      .execute();
  }

  /** Feedback per run of the range. */
  async seriesFeedback(range: TimeRange): Promise<{ run_id: number; n: number; right: number }[]> {
    const rows = await this.db
      .selectFrom('feedback as f')
      .innerJoin('predictions as p', 'p.id', 'f.prediction_id')
      .innerJoin('runs as r', 'r.id', 'p.run_id')
      .select((eb) => ['p.run_id', eb.fn.countAll<number>().as('n'), feedbackRight.as('right')])
      .where((eb) => inRange(eb, 'r', range))
      .groupBy('p.run_id')
      .execute();
    return rows.map((r) => ({ run_id: r.run_id, n: Number(r.n), right: Number(r.right ?? 0) }));
  }
}

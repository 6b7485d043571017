/**
 * Shadow answers: what the challenger said about predictions the champion made. The summary is what
 * a person weighs before a promotion: how often the two agree, and on items whose truth is known
 * (a label from the order, or a person's feedback) how often each was right.
 */
import type { Kysely } from 'kysely';
import { sql } from './kysely.ts';
import type { Tables } from './tables.ts';

export interface ShadowAnswer {
  predictionId: number;
  classIndex: number;
  confidence: number;
}

export interface ShadowSummary {
  challengerVersion: string;
  /** Champion answers the challenger also gave. */
  compared: number;
  agreement: number | null;
  /** Of those, items whose truth is known: a label, or feedback (a class, or none of them). */
  withTruth: number;
  championAccuracy: number | null;
  challengerAccuracy: number | null;
  firstAt: string;
  lastAt: string;
}

const num = (x: unknown) => Number(x ?? 0);

export class ShadowRepository {
  constructor(private readonly db: Kysely<Tables>) {}

  /** Records a challenger's answers; an answer already recorded for a prediction and version is kept. */
  async record(modelVersion: string, answers: ShadowAnswer[]): Promise<void> {
    if (!answers.length) return;
    const now = new Date().toISOString();
    await this.db
      .insertInto('shadow_predictions')
      .values(
        answers.map((a) => ({
          prediction_id: a.predictionId,
          model_version: modelVersion,
          class_index: a.classIndex,
          confidence: a.confidence,
          created_at: now,
        })),
      )
      .onConflict((oc) => oc.columns(['prediction_id', 'model_version']).doNothing())
      .execute();
  }

  async summary(): Promise<ShadowSummary[]> {
    // A person's feedback outranks the order's label. Feedback with no class ("none of these")
    // is a known truth that no answer matches: both models were wrong, so it must not fall back
    // to the label.
    const known = sql`(f.id is not null or p.label is not null)`;
    const truth = sql<number | null>`(case when f.id is not null then f.correct_class else p.label end)`;
    const rows = await this.db
      .selectFrom('shadow_predictions as s')
      .innerJoin('predictions as p', 'p.id', 's.prediction_id')
      .leftJoin('feedback as f', 'f.prediction_id', 'p.id')
      .select([
        's.model_version',
        sql<number>`count(*)`.as('compared'),
        sql<number>`sum(case when s.class_index = p.class_index then 1 else 0 end)`.as('agree'),
        sql<number>`sum(case when ${known} then 1 else 0 end)`.as('with_truth'),
        sql<number>`sum(case when ${truth} = p.class_index then 1 else 0 end)`.as('champion_right'),
        sql<number>`sum(case when ${truth} = s.class_index then 1 else 0 end)`.as('challenger_right'),
        sql<string>`min(s.created_at)`.as('first_at'),
        sql<string>`max(s.created_at)`.as('last_at'),
      ])
      .groupBy('s.model_version')
      .orderBy('last_at', 'desc')
      .execute();
    return rows.map((r) => {
      const compared = num(r.compared);
      const withTruth = num(r.with_truth);
      return {
        challengerVersion: r.model_version,
        compared,
        agreement: compared ? num(r.agree) / compared : null,
        withTruth,
        championAccuracy: withTruth ? num(r.champion_right) / withTruth : null,
        challengerAccuracy: withTruth ? num(r.challenger_right) / withTruth : null,
        firstAt: r.first_at,
        lastAt: r.last_at,
      };
    });
  }
}

/**
 * Feedback on predictions: the correct class as a person says it; the latest word wins. A NULL
 * class means "none of these classes" (a reviewer's decision): the prediction was wrong.
 */
import type { Kysely } from 'kysely';
import { sql } from './kysely.ts';
import { CLASS_NAMES } from '@refund-vision/shared';
import type { Tables } from './tables.ts';

export interface FeedbackResult {
  predictionId: number;
  runId: number;
  runKey: string;
  imageId: string;
  predictedClass: number;
  predictedClassName: string;
  correctClass: number;
  correctClassName: string;
  correct: boolean;
  /** The run's accuracy over all predictions that have feedback, this one included. */
  runFeedbackAccuracy: number;
  runFeedbackCount: number;
}

/**
 * Of the feedback rows joined as `f` to their predictions `p`, how many confirm the prediction.
 * Every accuracy from feedback is this over `count(*)`: a NULL class ("none of these") compares as
 * unknown, so it is in the count and never in the right ones, a miss.
 */
export const feedbackRight = sql<number>`sum(case when f.correct_class = p.class_index then 1 else 0 end)`;

export interface PredictionRef {
  id: number;
  runId: number;
  classIndex: number;
  imageId: string;
  runKey: string;
}

export class FeedbackRepository {
  constructor(private readonly db: Kysely<Tables>) {}

  async findPrediction(predictionId: number, db: Kysely<Tables> = this.db): Promise<PredictionRef | undefined> {
    const row = await db
      .selectFrom('predictions as p')
      .innerJoin('runs as r', 'r.id', 'p.run_id')
      .select(['p.id', 'p.run_id', 'p.class_index', 'p.image_id', 'r.run_key'])
      .where('p.id', '=', predictionId)
      .executeTakeFirst();
    return row && { id: row.id, runId: row.run_id, classIndex: row.class_index, imageId: row.image_id, runKey: row.run_key };
  }

  /** The correct class stored for a prediction: null for "none of these", undefined when nobody gave feedback. */
  async correctClassOf(predictionId: number): Promise<number | null | undefined> {
    const row = await this.db.selectFrom('feedback').select('correct_class').where('prediction_id', '=', predictionId).executeTakeFirst();
    return row?.correct_class;
  }

  /** Stores the correct class for a prediction; the latest word wins. Undefined when no such prediction. */
  async recordFeedback(predictionId: number, correctClass: number | 'predicted'): Promise<FeedbackResult | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const p = await this.findPrediction(predictionId, trx);
      if (!p) return undefined;
      const cls = correctClass === 'predicted' ? p.classIndex : correctClass;
      await trx
        .insertInto('feedback')
        .values({ prediction_id: predictionId, correct_class: cls, created_at: new Date().toISOString() })
        .onConflict((oc) =>
          oc
            .column('prediction_id')
            .doUpdateSet((eb) => ({ correct_class: eb.ref('excluded.correct_class'), created_at: eb.ref('excluded.created_at') })),
        )
        .execute();
      const fb = await trx
        .selectFrom('feedback as f')
        .innerJoin('predictions as p', 'p.id', 'f.prediction_id')
        .select((eb) => [eb.fn.countAll<number>().as('n'), feedbackRight.as('right')])
        .where('p.run_id', '=', p.runId)
        .executeTakeFirstOrThrow();
      const n = Number(fb.n);
      return {
        predictionId,
        runId: p.runId,
        runKey: p.runKey,
        imageId: p.imageId,
        predictedClass: p.classIndex,
        predictedClassName: CLASS_NAMES[p.classIndex]!,
        correctClass: cls,
        correctClassName: CLASS_NAMES[cls]!,
        correct: cls === p.classIndex,
        runFeedbackAccuracy: n ? Number(fb.right ?? 0) / n : 0,
        runFeedbackCount: n,
      };
    });
  }
}

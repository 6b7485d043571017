/**
 * "Needs a person": each prediction's review reason (the queue and the per-run counts read it),
 * and the images of a run that preprocessing called photos (a photo run is judged against the
 * model card's photo baselines).
 */
import { sql } from '../kysely.ts';
import type { StoreMigration } from './context.ts';

export const reviewReasons: StoreMigration = {
  name: '0003-review-reasons',
  async up(db) {
    await db.schema
      .alterTable('predictions')
      .addColumn('review', 'text', (c) => c.check(sql`review IN ('mismatch','out-of-scope','low-confidence')`))
      .execute();
    // Partial: most predictions need nobody, and the per-run counts only look at those that do.
    await db.schema
      .createIndex('predictions_review')
      .on('predictions')
      .columns(['run_id', 'review'])
      .where('review', 'is not', null)
      .execute();
    await db.schema
      .alterTable('runs')
      .addColumn('photo_images', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  },
};

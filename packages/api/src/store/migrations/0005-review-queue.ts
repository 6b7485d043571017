/**
 * The review queue: one item per prediction that needs a person (what the model saw, a thumbnail
 * when the client sent one, the claim with its lease), and the decisions as an append-only trail.
 */
import { sql } from '../kysely.ts';
import type { StoreMigration } from './context.ts';

export const reviewQueue: StoreMigration = {
  name: '0005-review-queue',
  async up(db, ctx) {
    const iso = ctx.isoText;
    await db.schema
      .createTable('review_items')
      .addColumn('prediction_id', 'integer', (c) => c.primaryKey().references('predictions.id'))
      .addColumn('run_id', 'integer', (c) => c.notNull().references('runs.id'))
      .addColumn('reason', 'text', (c) => c.notNull().check(sql`reason IN ('mismatch','out-of-scope','low-confidence')`))
      // Within a reason, lower comes first: P(ordered class), top probability, or top-1 minus top-2.
      .addColumn('priority', 'double precision', (c) => c.notNull())
      .addColumn('pixels', 'text', (c) => c.notNull())
      .addColumn('thumbnail', 'text')
      .addColumn('thumbnail_type', 'text')
      .addColumn('claimed_by', 'text')
      .addColumn('claim_expires_at', iso)
      // State, not history: 1 while the latest decision stands (an undo sets it back to 0).
      .addColumn('decided', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('saliency_json', 'text')
      .addColumn('created_at', iso, (c) => c.notNull())
      .execute();
    await db.schema.createIndex('review_items_queue').on('review_items').columns(['decided', 'reason', 'priority']).execute();
    await db.schema.createIndex('review_items_run').on('review_items').column('run_id').execute();

    await db.schema
      .createTable('review_decisions')
      .addColumn('id', 'integer', ctx.id)
      .addColumn('prediction_id', 'integer', (c) => c.notNull().references('review_items.prediction_id'))
      .addColumn('decision', 'text', (c) => c.notNull().check(sql`decision IN ('class','none','undo')`))
      .addColumn('class_index', 'integer', (c) => c.check(sql`class_index BETWEEN 0 AND 9`))
      .addColumn('decided_by', 'text', (c) => c.notNull())
      .addColumn('decided_at', iso, (c) => c.notNull())
      .addColumn('seconds_spent', 'double precision')
      .addColumn('model_version', 'text', (c) => c.notNull())
      .addColumn('previous_id', 'integer', (c) => c.references('review_decisions.id'))
      .execute();
    await db.schema.createIndex('review_decisions_item').on('review_decisions').columns(['prediction_id', 'id']).execute();
  },
};

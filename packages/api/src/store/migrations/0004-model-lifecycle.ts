/**
 * Model lifecycle: each batch names the model version that answered it (a hot swap can change the
 * version inside one run), and a challenger's shadow answers are kept beside the champion's.
 */
import type { StoreMigration } from './context.ts';

export const modelLifecycle: StoreMigration = {
  name: '0004-model-lifecycle',
  async up(db, ctx) {
    // Null on batches stored before this migration: their run's model_version answered them.
    await db.schema.alterTable('batches').addColumn('model_version', 'text').execute();
    await db.schema
      .createTable('shadow_predictions')
      .addColumn('id', 'integer', ctx.id)
      .addColumn('prediction_id', 'integer', (c) => c.notNull().references('predictions.id'))
      .addColumn('model_version', 'text', (c) => c.notNull())
      .addColumn('class_index', 'integer', (c) => c.notNull())
      .addColumn('confidence', 'double precision', (c) => c.notNull())
      .addColumn('created_at', ctx.isoText, (c) => c.notNull())
      .addUniqueConstraint('shadow_predictions_prediction_model', ['prediction_id', 'model_version'])
      .execute();
    await db.schema.createIndex('shadow_predictions_model').on('shadow_predictions').column('model_version').execute();
  },
};

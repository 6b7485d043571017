/** Runs, batches (exactly-once), predictions, per-class stats, feedback. */
import { sql } from '../kysely.ts';
import { legacySqliteVersion, type StoreMigration } from './context.ts';

export const initial: StoreMigration = {
  name: '0001-initial',
  async up(db, ctx) {
    if ((await legacySqliteVersion(db, ctx)) >= 1) return;
    const real = 'double precision';
    const iso = ctx.isoText;
    await db.schema
      .createTable('runs')
      .addColumn('id', 'integer', ctx.id)
      .addColumn('run_key', 'text', (c) => c.notNull().unique())
      .addColumn('source', 'text', (c) => c.notNull().check(sql`source IN ('client','legacy','v2','upload')`))
      .addColumn('model_version', 'text', (c) => c.notNull())
      .addColumn('engine', 'text')
      .addColumn('status', 'text', (c) =>
        c
          .notNull()
          .defaultTo('open')
          .check(sql`status IN ('open','completed')`),
      )
      .addColumn('started_at', iso, (c) => c.notNull())
      .addColumn('finished_at', iso)
      .addColumn('images', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('process_ms', real)
      .addColumn('inference_ms', real, (c) => c.notNull().defaultTo(0))
      .addColumn('server_ms', real, (c) => c.notNull().defaultTo(0))
      .addColumn('confidence_sum', real, (c) => c.notNull().defaultTo(0))
      .addColumn('labelled', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('correct', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('pixel_sum', real, (c) => c.notNull().defaultTo(0))
      .addColumn('pixel_sumsq', real, (c) => c.notNull().defaultTo(0))
      .addColumn('pixel_near_zero', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('pixel_count', 'bigint', (c) => c.notNull().defaultTo(0))
      .addColumn('health', 'text', (c) => c.check(sql`health IN ('OK','WARN','ALERT')`))
      .addColumn('checks_json', 'text')
      .execute();
    await db.schema.createIndex('runs_started_at').on('runs').column('started_at').execute();

    await db.schema
      .createTable('batches')
      .addColumn('id', 'integer', ctx.id)
      .addColumn('run_id', 'integer', (c) => c.notNull().references('runs.id'))
      .addColumn('batch_index', 'integer', (c) => c.notNull())
      .addColumn('idempotency_key', 'text')
      .addColumn('request_hash', 'text', (c) => c.notNull())
      .addColumn('images', 'integer', (c) => c.notNull())
      .addColumn('inference_ms', real, (c) => c.notNull())
      .addColumn('total_ms', real, (c) => c.notNull())
      .addColumn('response_json', 'text', (c) => c.notNull())
      .addColumn('created_at', iso, (c) => c.notNull())
      .addUniqueConstraint('batches_run_batch', ['run_id', 'batch_index'])
      .execute();
    await db.schema
      .createIndex('batches_idempotency_key')
      .unique()
      .on('batches')
      .column('idempotency_key')
      .where('idempotency_key', 'is not', null)
      .execute();

    await db.schema
      .createTable('predictions')
      .addColumn('id', 'integer', ctx.id)
      .addColumn('run_id', 'integer', (c) => c.notNull().references('runs.id'))
      .addColumn('batch_id', 'integer', (c) => c.notNull().references('batches.id'))
      .addColumn('position', 'integer', (c) => c.notNull())
      .addColumn('image_id', 'text', (c) => c.notNull())
      .addColumn('image_group', 'text')
      .addColumn('content_hash', 'text')
      .addColumn('class_index', 'integer', (c) => c.notNull())
      .addColumn('confidence', real, (c) => c.notNull())
      .addColumn('top3_json', 'text', (c) => c.notNull())
      .addColumn('label', 'integer')
      .addColumn('created_at', iso, (c) => c.notNull())
      .execute();
    await db.schema.createIndex('predictions_run').on('predictions').columns(['run_id', 'id']).execute();

    await db.schema
      .createTable('run_class_stats')
      .addColumn('run_id', 'integer', (c) => c.notNull().references('runs.id'))
      .addColumn('class_index', 'integer', (c) => c.notNull())
      .addColumn('count', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('confidence_sum', real, (c) => c.notNull().defaultTo(0))
      .addPrimaryKeyConstraint('run_class_stats_pk', ['run_id', 'class_index'])
      .execute();

    await db.schema
      .createTable('feedback')
      .addColumn('id', 'integer', ctx.id)
      .addColumn('prediction_id', 'integer', (c) => c.notNull().unique().references('predictions.id'))
      .addColumn('correct_class', 'integer', (c) => c.notNull().check(sql`correct_class BETWEEN 0 AND 9`))
      .addColumn('created_at', iso, (c) => c.notNull())
      .execute();
  },
};

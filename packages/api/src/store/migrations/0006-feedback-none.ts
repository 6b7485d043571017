/**
 * Feedback may say "none of these classes" (a NULL `correct_class`): a reviewer who finds no
 * Fashion-MNIST class right has judged the model's answer wrong, so the prediction must stay in
 * measured accuracy as a miss instead of dropping out of it.
 */
import { sql } from '../kysely.ts';
import type { StoreMigration } from './context.ts';

export const feedbackNone: StoreMigration = {
  name: '0006-feedback-none',
  async up(db, ctx) {
    if (ctx.kind === 'postgres') {
      await db.schema
        .alterTable('feedback')
        .alterColumn('correct_class', (c) => c.dropNotNull())
        .execute();
      return;
    }
    // SQLite cannot drop NOT NULL: rebuild the table (same columns, unique prediction and class
    // check, only NOT NULL gone), copy its rows with their ids, and take the old name. The migrator
    // runs this in one transaction, so a failure leaves the old table as it was. Nothing references
    // feedback, so dropping it with foreign keys on is safe.
    await db.schema
      .createTable('feedback_0006')
      .addColumn('id', 'integer', ctx.id)
      .addColumn('prediction_id', 'integer', (c) => c.notNull().unique().references('predictions.id'))
      .addColumn('correct_class', 'integer', (c) => c.check(sql`correct_class BETWEEN 0 AND 9`))
      .addColumn('created_at', ctx.isoText, (c) => c.notNull())
      .execute();
    await sql`INSERT INTO feedback_0006 (id, prediction_id, correct_class, created_at)
              SELECT id, prediction_id, correct_class, created_at FROM feedback`.execute(db);
    await db.schema.dropTable('feedback').execute();
    await db.schema.alterTable('feedback_0006').renameTo('feedback').execute();
  },
};

/** Images the client saw in the run (sent + could not send), from the completion call. */
import { legacySqliteVersion, type StoreMigration } from './context.ts';

export const imagesSeen: StoreMigration = {
  name: '0002-images-seen',
  async up(db, ctx) {
    if ((await legacySqliteVersion(db, ctx)) >= 2) return;
    await db.schema.alterTable('runs').addColumn('images_seen', 'integer').execute();
  },
};

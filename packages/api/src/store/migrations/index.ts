/**
 * Every migration, oldest first: the one list both databases run, through Kysely's Migrator.
 * To change the schema, add `NNNN-what.ts` exporting a StoreMigration and append it here (and
 * its table to ../tables.ts).
 */
import type { Migration, MigrationProvider } from 'kysely';
import { migrationContext, type StoreKind, type StoreMigration } from './context.ts';
import { initial } from './0001-initial.ts';
import { imagesSeen } from './0002-images-seen.ts';
import { reviewReasons } from './0003-review-reasons.ts';
import { modelLifecycle } from './0004-model-lifecycle.ts';
import { reviewQueue } from './0005-review-queue.ts';
import { feedbackNone } from './0006-feedback-none.ts';

export const MIGRATIONS: readonly StoreMigration[] = [initial, imagesSeen, reviewReasons, modelLifecycle, reviewQueue, feedbackNone];

/** The names a fully migrated store has recorded, in order. */
export const MIGRATION_NAMES: readonly string[] = MIGRATIONS.map((m) => m.name);

export function migrationProvider(kind: StoreKind): MigrationProvider {
  const ctx = migrationContext(kind);
  return {
    async getMigrations() {
      const out: Record<string, Migration> = {};
      for (const m of MIGRATIONS) out[m.name] = { up: (db) => m.up(db, ctx) };
      return out;
    },
  };
}

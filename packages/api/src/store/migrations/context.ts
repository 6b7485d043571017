/**
 * What a migration gets besides the connection: which database it runs on and the few column
 * types that must be spelled differently there. One list of migrations serves both databases.
 */
import type { ColumnDefinitionBuilder, Expression, Kysely } from 'kysely';
import { sql } from '../kysely.ts';

export type StoreKind = 'sqlite' | 'postgres';

export interface MigrationContext {
  kind: StoreKind;
  /** An auto-numbered integer primary key (SQLite's rowid alias; a Postgres identity column). */
  id(col: ColumnDefinitionBuilder): ColumnDefinitionBuilder;
  /**
   * The type of an ISO 8601 time column. Postgres compares text by the database's collation, which
   * may ignore punctuation; "C" keeps the byte order SQLite uses, so range and cursor queries agree.
   */
  isoText: Expression<unknown>;
}

export interface StoreMigration {
  /** Sorted by name: `NNNN-what`. Never rename or edit one that has shipped; append a new one. */
  name: string;
  up(db: Kysely<any>, ctx: MigrationContext): Promise<void>;
}

export function migrationContext(kind: StoreKind): MigrationContext {
  return {
    kind,
    id: (col) => (kind === 'postgres' ? col.primaryKey().generatedByDefaultAsIdentity() : col.primaryKey()),
    isoText: kind === 'postgres' ? sql`text collate "C"` : sql`text`,
  };
}

/**
 * SQLite files made before Kysely's migrator counted their schema in `PRAGMA user_version`
 * (1 = the first schema, 2 = images_seen). Migrations that such a file already has are skipped.
 */
export async function legacySqliteVersion(db: Kysely<any>, ctx: MigrationContext): Promise<number> {
  if (ctx.kind !== 'sqlite') return 0;
  const { rows } = await sql<{ user_version: number }>`PRAGMA user_version`.execute(db);
  return rows[0]?.user_version ?? 0;
}

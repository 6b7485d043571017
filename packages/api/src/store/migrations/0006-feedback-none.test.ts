/**
 * Migration 0006 on a store that already holds feedback: a real SQLite file (table rebuilt) and a
 * real Postgres database (NOT NULL dropped) are first migrated to 0005 and filled, then opened by
 * this build. The rows survive as they were; the unique prediction and the class check still hold.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from '../kysely.ts';
import pg from 'pg';
import { freshPostgresUrl } from '../../testing/postgres.ts';
import { openStore, type OpenStoreOptions } from '../index.ts';
import { migrationProvider } from './index.ts';

const BEFORE = '0005-review-queue';
const AT = '2026-11-01T00:00:00.000Z';

/** A store at schema 0005: one run, one batch, three predictions (all class 4), feedback on two. */
async function storeAt0005(kind: 'sqlite' | 'postgres', where: OpenStoreOptions): Promise<void> {
  const db = new Kysely<any>({
    dialect:
      kind === 'sqlite'
        ? new SqliteDialect({ database: new Database(where.path!) })
        : new PostgresDialect({ pool: new pg.Pool({ connectionString: where.url!, max: 1 }) }),
  });
  try {
    const { error } = await new Migrator({ db, provider: migrationProvider(kind) }).migrateTo(BEFORE);
    if (error) throw error;
    await db.insertInto('runs').values({ id: 1, run_key: 'old', source: 'client', model_version: 'v0', started_at: AT }).execute();
    await db
      .insertInto('batches')
      .values({
        id: 1,
        run_id: 1,
        batch_index: 0,
        request_hash: 'h',
        images: 3,
        inference_ms: 1,
        total_ms: 2,
        response_json: '{}',
        created_at: AT,
      })
      .execute();
    await db
      .insertInto('predictions')
      .values(
        [1, 2, 3].map((id) => ({
          id,
          run_id: 1,
          batch_id: 1,
          position: id - 1,
          image_id: `${id}.png`,
          class_index: 4,
          confidence: 0.5,
          top3_json: '[]',
          created_at: AT,
        })),
      )
      .execute();
    await db
      .insertInto('feedback')
      .values([
        { id: 7, prediction_id: 1, correct_class: 4, created_at: AT },
        { id: 9, prediction_id: 2, correct_class: 0, created_at: AT },
      ])
      .execute();
  } finally {
    await db.destroy();
  }
}

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`migration 0006-feedback-none on ${kind}`, function () {
    this.timeout(30_000);
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'rv-0006-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('keeps existing feedback rows, their uniqueness and class check, and allows "none of these"', async () => {
      const where: OpenStoreOptions = kind === 'sqlite' ? { path: join(dir, 'rv.db') } : { url: await freshPostgresUrl() };
      await storeAt0005(kind, where);
      const store = await openStore(where);
      try {
        expect(store.applied).to.deep.equal(['0006-feedback-none']);
        const rows = await store.db.selectFrom('feedback').selectAll().orderBy('id').execute();
        expect(rows).to.deep.equal([
          { id: 7, prediction_id: 1, correct_class: 4, created_at: AT },
          { id: 9, prediction_id: 2, correct_class: 0, created_at: AT },
        ]);
        expect((await store.runs.getRun('old'))!.feedbackAccuracy).to.equal(0.5);

        const insert = (prediction_id: number, correct_class: number | null) =>
          store.db.insertInto('feedback').values({ prediction_id, correct_class, created_at: AT }).execute();
        const refusal = async (p: Promise<unknown>) => {
          try {
            await p;
          } catch (e) {
            return (e as Error).message;
          }
          return 'accepted';
        };
        expect(await refusal(insert(1, 3))).to.match(/unique/i);
        expect(await refusal(insert(3, 10))).to.match(/check/i);
        expect(await refusal(insert(999, 1))).to.match(/foreign key/i);
        await insert(3, null);
        expect((await store.runs.getRun('old'))!.feedbackAccuracy).to.equal(1 / 3);
        if (kind === 'sqlite') {
          // the rebuilt table's ids go on after the copied ones, and no reference dangles
          await store.db.deleteFrom('feedback').where('prediction_id', '=', 2).execute();
          await insert(2, 4);
          const ids = (await store.db.selectFrom('feedback').select('id').orderBy('id').execute()).map((r) => r.id);
          expect(ids[0]).to.equal(7);
          expect(ids.slice(1).every((id) => id > 9)).to.equal(true);
          expect((await sql`PRAGMA foreign_key_check`.execute(store.db)).rows).to.deep.equal([]);
        }
      } finally {
        await store.close();
      }
    });
  });
}

import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import { RunSummary } from '@refund-vision/shared';
import { freshPostgresUrl } from '../testing/postgres.ts';
import { pixelStats } from '../pixel-stats.ts';
import { MIGRATION_NAMES } from './migrations/index.ts';
import { CursorError, openStore, StoreError, type OpenStoreOptions, type RecordBatchInput, type Store } from './index.ts';

function batch(runKey: string, batchIndex: number, over: Partial<RecordBatchInput> = {}): RecordBatchInput {
  const n = 3;
  return {
    runKey,
    source: 'client',
    batchIndex,
    requestHash: `hash-${runKey}-${batchIndex}`,
    modelVersion: 'abc123',
    engine: 'wasm',
    images: [{ id: 'a.png', label: 1 }, { id: 'b.png', label: 2 }, { id: 'c.png' }],
    predictions: [
      { classIndex: 1, confidence: 0.9, top3: [] },
      { classIndex: 1, confidence: 0.5, top3: [] },
      { classIndex: 7, confidence: 0.7, top3: [] },
    ],
    pixelStats: pixelStats(new Uint8Array(n * 784).map((_, i) => (i % 2 ? 0 : 255))),
    inferenceMs: 2,
    totalMs: 5,
    respond: (ids) => ({ ids }),
    ...over,
  };
}

const count = async (store: Store, table: 'predictions' | 'batches' | 'runs') =>
  (await store.db.selectFrom(table).select('id').execute()).length;

/** The whole contract, once per database: a fresh SQLite file, or a fresh database in a real Postgres cluster. */
for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`store on ${kind}`, function () {
    this.timeout(30_000);
    let dir: string;
    let where: OpenStoreOptions;
    let store: Store;
    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'rv-store-'));
      where = kind === 'sqlite' ? { path: join(dir, 'sub', 'rv.db') } : { url: await freshPostgresUrl() };
      store = await openStore(where);
    });
    afterEach(async () => {
      await store?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('migrates a new store to the latest schema', async () => {
      expect(store.kind).to.equal(kind);
      const names = await store.db
        .selectFrom('kysely_migration' as never)
        .select('name' as never)
        .execute();
      expect(names.map((r) => (r as { name: string }).name).sort()).to.deep.equal([...MIGRATION_NAMES]);
      // opening again finds nothing to do and loses nothing
      await store.runs.recordBatch(batch('r1', 0));
      await store.close();
      store = await openStore(where);
      expect((await store.runs.getRun('r1'))?.images).to.equal(3);
    });

    it('records a batch once: a repeat replays the stored answer, a different body is a conflict', async () => {
      const first = await store.runs.recordBatch(batch('r1', 0));
      expect(first.outcome).to.equal('recorded');
      const again = await store.runs.recordBatch(batch('r1', 0));
      expect(again.outcome).to.equal('replayed');
      expect(again).to.deep.include({ response: (first as { response: unknown }).response });
      const other = await store.runs.recordBatch(batch('r1', 0, { requestHash: 'something else' }));
      expect(other.outcome).to.equal('conflict');
      expect(await count(store, 'predictions')).to.equal(3);
      expect((await store.runs.getRun('r1'))!.images).to.equal(3);
    });

    it('refuses an idempotency key reused for another batch', async () => {
      await store.runs.recordBatch(batch('r1', 0, { idempotencyKey: 'k1' }));
      expect((await store.runs.checkBatch('r1', 0, 'k1', 'hash-r1-0'))?.outcome).to.equal('replayed');
      expect((await store.runs.recordBatch(batch('r1', 1, { idempotencyKey: 'k1' }))).outcome).to.equal('conflict');
      expect((await store.runs.findBatchByIdempotencyKey('k1'))?.batchIndex).to.equal(0);
      expect((await store.runs.findBatch('r1', 0))?.response).to.deep.equal({ ids: [1, 2, 3] });
    });

    it('holds exactly-once when the same batches are written at once, and across connections', async () => {
      const other = await openStore(where);
      try {
        // Each batch is sent twice at the same moment; both pass the early check, the unique keys decide.
        // On Postgres the two writers are two connection pools (two "replicas"). better-sqlite3 is
        // synchronous: two connections of ONE process would wait on each other's lock inside one
        // thread, so on SQLite the race runs through one store (cluster.test.ts races processes).
        const writers = kind === 'postgres' ? [store, other] : [store, store];
        const results = await Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            writers.map((s) => s.runs.recordBatch(batch('shared', i, { idempotencyKey: `k${i}` }))),
          ).flat(),
        );
        const outcomes = results.map((r) => r.outcome);
        expect(outcomes.filter((o) => o === 'recorded')).to.have.length(6);
        expect(outcomes.filter((o) => o === 'replayed')).to.have.length(6);
        // the loser answers with the winner's stored reply
        for (let i = 0; i < 6; i++) {
          const pair = results.slice(2 * i, 2 * i + 2) as { response: unknown }[];
          expect(pair[0]!.response).to.deep.equal(pair[1]!.response);
        }
        // what one connection stored, the other replays
        expect((await other.runs.recordBatch(batch('shared', 3, { idempotencyKey: 'k3' }))).outcome).to.equal('replayed');
        expect((await other.runs.recordBatch(batch('shared', 6))).outcome).to.equal('recorded');
        expect((await store.runs.recordBatch(batch('shared', 6))).outcome).to.equal('replayed');
      } finally {
        await other.close();
      }
      expect(await count(store, 'batches')).to.equal(7);
      expect(await count(store, 'predictions')).to.equal(21);
      const run = (await store.runs.getRun('shared'))!;
      expect(run.images).to.equal(21);
      expect(run.perClass[1]!.count).to.equal(14);
    });

    it('sums run metrics: accuracy from labels only, per-class counts and means, pixel statistics', async () => {
      await store.runs.recordBatch(batch('r1', 0));
      await store.runs.recordBatch(batch('r1', 1));
      const run = RunSummary.parse(await store.runs.getRun('r1'));
      expect(run.images).to.equal(6);
      expect(run.labelled).to.equal(4);
      expect(run.accuracy).to.equal(0.5); // a.png right, b.png wrong, twice
      expect(run.meanConfidence).to.be.closeTo(0.7, 1e-9);
      expect(run.perClass[1]).to.deep.include({ count: 4, meanConfidence: 0.7 });
      expect(run.perClass[7]).to.deep.include({ count: 2 });
      expect(run.perClass[0]).to.deep.include({ count: 0, meanConfidence: null });
      expect(run.status).to.equal('open');
      const h = (await store.runs.runHealthInput('r1'))!;
      expect(h.pixelCount).to.equal(6 * 784);
      expect(h.pixelSum).to.be.closeTo(3 * 784, 1e-6);
      expect(h.pixelNearZero).to.equal(3 * 784);
      expect(h.confidences).to.have.length(6);
      expect(h.perClassCount[1]).to.equal(4);
    });

    it('completes a run once, storing health and checks', async () => {
      await store.runs.recordBatch(batch('r1', 0));
      const checks = [{ name: 'confidence', status: 'WARN' as const, value: 0.7, baseline: 0.9, message: 'low' }];
      const done = (await store.runs.completeRun('r1', { failures: 2, processMs: 120 }, checks))!;
      expect(done).to.deep.include({ status: 'completed', failures: 2, processMs: 120, health: 'WARN' });
      expect(done.checks).to.deep.equal(checks);
      expect(done.msPerPrediction).to.equal(40);
      const again = (await store.runs.completeRun('r1', { failures: 9, processMs: 1 }, []))!;
      expect(again).to.deep.equal(done);
      expect(await store.runs.completeRun('nope', {}, [])).to.equal(undefined);
      expect(await store.runs.recentClassMixes(999)).to.deep.equal([[0, 2 / 3, 0, 0, 0, 0, 0, 1 / 3, 0, 0]]);
    });

    it('lists runs newest first in keyset pages, filtered by time', async () => {
      for (let i = 0; i < 7; i++) {
        await store.runs.recordBatch(batch(`run-${i}`, 0));
        await store.runs.backdate(`run-${i}`, new Date(`2026-11-0${i + 1}T12:00:00.000Z`));
      }
      const keys: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.runs.listRuns({ limit: 3, cursor });
        keys.push(...page.items.map((r) => r.runKey));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      expect(keys).to.deep.equal(['run-6', 'run-5', 'run-4', 'run-3', 'run-2', 'run-1', 'run-0']);
      const ranged = await store.runs.listRuns({ from: '2026-11-02T00:00:00.000Z', to: '2026-11-04T00:00:00.000Z' });
      expect(ranged.items.map((r) => r.runKey)).to.deep.equal(['run-2', 'run-1']);
      let error: unknown;
      await store.runs.listRuns({ cursor: 'garbage' }).catch((e) => (error = e));
      expect(error).to.be.instanceOf(CursorError);
    });

    it('pages through a run’s predictions in recorded order, with feedback', async () => {
      await store.runs.recordBatch(batch('r1', 0));
      await store.runs.recordBatch(batch('r1', 1));
      const run = (await store.runs.getRun('r1'))!;
      const first = await store.runs.runPredictions(run.id, { limit: 4 });
      expect(first.items.map((p) => `${p.batchIndex}:${p.id}`)).to.deep.equal(['0:a.png', '0:b.png', '0:c.png', '1:a.png']);
      const rest = await store.runs.runPredictions(run.id, { limit: 4, cursor: first.nextCursor! });
      expect(rest.items.map((p) => p.position)).to.deep.equal([1, 2]);
      expect(rest.nextCursor).to.equal(null);

      const b = first.items[1]!; // predicted 1, labelled 2
      expect((await store.feedback.recordFeedback(b.predictionId, 2))!).to.deep.include({ correct: false, runFeedbackCount: 1 });
      const fb = (await store.feedback.recordFeedback(first.items[0]!.predictionId, 'predicted'))!;
      expect(fb).to.deep.include({ correct: true, runFeedbackCount: 2, runFeedbackAccuracy: 0.5, runKey: 'r1' });
      // the latest word wins
      expect((await store.feedback.recordFeedback(b.predictionId, 1))!).to.deep.include({ runFeedbackAccuracy: 1, runFeedbackCount: 2 });
      expect(await store.feedback.recordFeedback(999_999, 1)).to.equal(undefined);
      expect((await store.runs.getRun('r1'))!.feedbackAccuracy).to.equal(1);
      expect((await store.runs.runPredictions(run.id, { limit: 2 })).items.map((p) => p.feedbackClass)).to.deep.equal([1, 1]);
    });

    it('reads the history of a range: totals, feedback, timings, series rows', async () => {
      await store.runs.recordBatch(batch('old', 0));
      await store.runs.completeRun('old', { processMs: 30 }, []);
      await store.runs.backdate('old', new Date('2026-10-01T00:00:00.000Z'));
      await store.runs.recordBatch(batch('new', 0));
      await store.runs.recordBatch(batch('new', 1, { totalMs: 8 }));
      await store.runs.backdate('new', new Date('2026-11-01T00:00:00.000Z'));
      const id = (await store.runs.runPredictions((await store.runs.getRun('new'))!.id)).items[0]!.predictionId;
      await store.feedback.recordFeedback(id, 1);

      const all = await store.history.totals({});
      expect(all).to.deep.include({ runs: 2, completed: 1, images: 9, labelled: 6, correct: 3, ok: 1, warn: 0, alert: 0 });
      expect(all.conf).to.be.closeTo(6.3, 1e-9);
      const recent = { from: '2026-10-15T00:00:00.000Z' };
      expect(await store.history.totals(recent)).to.deep.include({ runs: 1, completed: 0, images: 6 });
      expect(await store.history.feedbackTotals(recent)).to.deep.equal({ n: 1, right: 1 });
      expect(await store.history.feedbackTotals({ to: '2026-10-15T00:00:00.000Z' })).to.deep.equal({ n: 0, right: 0 });
      expect((await store.history.runMsPerImage({})).sort((a, b) => a - b)).to.deep.equal([13 / 6, 10]);
      expect((await store.history.batchMsPerImage(recent)).sort((a, b) => a - b)).to.deep.equal([5 / 3, 8 / 3]);
      const rows = await store.history.seriesRuns({});
      expect(rows.map((r) => r.run_key)).to.deep.equal(['old', 'new']);
      expect(rows[0]).to.deep.include({ images: 3, ms: 30, health: 'OK', status: 'completed' });
      expect(await store.history.seriesFeedback(recent)).to.deep.equal([{ run_id: rows[1]!.id, n: 1, right: 1 }]);
      expect((await store.history.seriesClassStats(recent)).map((s) => [s.class_index, s.count]).sort()).to.deep.equal([
        [1, 4],
        [7, 2],
      ]);
    });

    it('records shadow answers once per prediction and version, and sums agreement and accuracy against labels and feedback', async () => {
      const first = await store.runs.recordBatch(batch('r1', 0));
      const ids = first.outcome === 'recorded' ? first.predictionIds! : [];
      expect(ids).to.have.length(3);
      // champion said 1, 1, 7; labels 1, 2, —; feedback makes the third a 7
      await store.feedback.recordFeedback(ids[2]!, 7);
      const answers = [
        { predictionId: ids[0]!, classIndex: 1, confidence: 0.8 },
        { predictionId: ids[1]!, classIndex: 2, confidence: 0.6 },
        { predictionId: ids[2]!, classIndex: 3, confidence: 0.4 },
      ];
      await store.shadow.record('chal1', answers);
      await store.shadow.record('chal1', answers); // a repeat changes nothing
      const [s] = await store.shadow.summary();
      expect(s).to.include({ challengerVersion: 'chal1', compared: 3, withTruth: 3 });
      expect(s!.agreement).to.be.closeTo(1 / 3, 1e-12);
      expect(s!.championAccuracy).to.be.closeTo(2 / 3, 1e-12); // right on #1 and #3
      expect(s!.challengerAccuracy).to.be.closeTo(2 / 3, 1e-12); // right on #1 and #2
      // each stored prediction names the model version of its batch
      await store.runs.recordBatch(batch('r1', 1, { modelVersion: 'def456', requestHash: 'other' }));
      const preds = (await store.runs.runPredictions(first.outcome === 'recorded' ? first.runId : 0)).items;
      expect(preds.map((p) => p.modelVersion)).to.deep.equal(['abc123', 'abc123', 'abc123', 'def456', 'def456', 'def456']);
    });

    it('finds a run by numeric id or by key, and a numeric-looking key too', async () => {
      await store.runs.recordBatch(batch('r1', 0));
      await store.runs.recordBatch(batch('12345', 0));
      expect((await store.runs.getRun(1))?.runKey).to.equal('r1');
      expect((await store.runs.getRun('1'))?.runKey).to.equal('r1');
      expect((await store.runs.getRun('12345'))?.runKey).to.equal('12345');
      expect((await store.runs.getRunByKey('12345'))?.id).to.equal(2);
      expect(await store.runs.getRun('123456789012345')).to.equal(undefined);
    });

    it('opens read-only for readers: reads work, writes are refused, nothing is migrated', async () => {
      await store.runs.recordBatch(batch('r1', 0));
      const reader = await openStore({ ...where, readOnly: true });
      try {
        expect((await reader.runs.getRun('r1'))?.images).to.equal(3);
        let error: unknown;
        await reader.runs.recordBatch(batch('r2', 0)).catch((e) => (error = e));
        expect(error, 'a write through a read-only store').to.be.instanceOf(Error);
      } finally {
        await reader.close();
      }
      expect(await store.runs.getRun('r2')).to.equal(undefined);
    });
  });
}

describe('store on sqlite: files', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'rv-store-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const refusal = async (opts: OpenStoreOptions): Promise<StoreError> => {
    try {
      const s = await openStore(opts);
      await s.close();
    } catch (e) {
      expect(e).to.be.instanceOf(StoreError);
      return e as StoreError;
    }
    throw new Error('expected the store to be refused');
  };

  it('waits for a write lock another connection holds without blocking the event loop, then writes (transactions and single writes)', async () => {
    const path = join(dir, 'lock.db');
    const a = await openStore({ path });
    const b = await openStore({ path });
    const c = await openStore({ path });
    try {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      // BEGIN IMMEDIATE takes the write lock at once; a's transaction keeps it until released
      const first = a.db.transaction().execute(async () => {
        locked();
        await held;
      });
      await isLocked;
      const t0 = performance.now();
      const second = b.db.transaction().execute(() => Promise.resolve(performance.now()));
      // a write outside a transaction (closing a run, claiming a review item) waits the same way
      const single = c.db
        .insertInto('runs')
        .values({ run_key: 'single', source: 'client', model_version: 'v', started_at: new Date().toISOString() })
        .execute()
        .then(() => performance.now());
      // SQLite's own busy handler would sleep on this thread: no timer would fire and a could never commit
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      await new Promise((r) => setTimeout(r, 100));
      release();
      const [, began, wrote] = await Promise.all([first, second, single]);
      clearInterval(timer);
      expect(began - t0).to.be.at.least(90);
      expect(wrote - t0).to.be.at.least(90);
      expect(ticks).to.be.at.least(5);
      const rows = await a.db.selectFrom('runs').select('run_key').execute();
      expect(rows.map((r) => r.run_key)).to.deep.equal(['single']);
    } finally {
      await a.close();
      await b.close();
      await c.close();
    }
  });

  it("creates its folder, uses WAL and keeps SQLite's own 2 MB page cache (not better-sqlite3's 16 MB)", async () => {
    const store = await openStore({ path: join(dir, 'a', 'b', 'rv.db') });
    const { rows } = await sql<{ cache_size: number }>`pragma cache_size`.execute(store.db);
    expect(rows[0]!.cache_size).to.equal(-2000);
    await store.close();
    const db = new Database(join(dir, 'a', 'b', 'rv.db'), { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).to.equal('wal');
    db.close();
  });

  it('migrates a database made by an older release (user_version schema) without losing its runs or feedback', async () => {
    const path = join(dir, 'old.db');
    const old = new Database(path);
    old.exec(readFileSync(new URL('./fixtures/legacy-v1.sql', import.meta.url), 'utf8'));
    old.pragma('user_version = 1');
    old
      .prepare(`INSERT INTO runs (run_key, source, model_version, started_at) VALUES ('old', 'client', 'v0', '2026-01-01T00:00:00.000Z')`)
      .run();
    // with a prediction that has feedback: the feedback table is rebuilt by 0006 and must keep it
    old.exec(`INSERT INTO batches VALUES (1, 1, 0, NULL, 'h', 2, 1, 2, '{}', '2026-01-01T00:00:00.000Z');
      INSERT INTO predictions VALUES (1, 1, 1, 0, 'a.png', NULL, NULL, 2, 0.9, '[]', NULL, '2026-01-01T00:00:00.000Z'),
                                     (2, 1, 1, 1, 'b.png', NULL, NULL, 5, 0.9, '[]', NULL, '2026-01-01T00:00:00.000Z');
      INSERT INTO feedback VALUES (4, 1, 2, '2026-01-02T00:00:00.000Z');`);
    old.close();
    // a reader refuses it before the API has migrated it
    const early = await refusal({ path, readOnly: true });
    expect(early.code).to.equal('store-schema');
    expect(early.message).to.include(path);
    const s = await openStore({ path });
    expect((await s.runs.getRun('old'))?.modelVersion).to.equal('v0');
    expect(await s.db.selectFrom('feedback').selectAll().execute()).to.deep.equal([
      { id: 4, prediction_id: 1, correct_class: 2, created_at: '2026-01-02T00:00:00.000Z' },
    ]);
    await s.db.insertInto('feedback').values({ prediction_id: 2, correct_class: null, created_at: '2026-01-02T00:00:00.000Z' }).execute();
    expect((await s.runs.getRun('old'))?.feedbackAccuracy).to.equal(0.5);
    await s.runs.completeRun('old', { imagesSeen: 4 }, []); // images_seen came with user_version 2
    expect((await s.runs.recordBatch(batch('new', 0))).outcome).to.equal('recorded');
    await s.close();
    const reader = await openStore({ path, readOnly: true });
    expect((await reader.runs.listRuns()).items.map((r) => r.runKey)).to.deep.equal(['new', 'old']);
    await reader.close();
  });

  it('a reader never creates a store: a missing file is refused with its path', async () => {
    const path = join(dir, 'nope.db');
    const e = await refusal({ path, readOnly: true });
    expect(e.code).to.equal('store-missing');
    expect(e.message).to.include(path);
  });
});

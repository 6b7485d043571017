import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { RunSummary } from '@refund-vision/shared';
import { MIGRATIONS } from './db/schema.ts';
import { CursorError, MetricsStore, type RecordBatchInput } from './metrics-store.ts';
import { pixelStats } from './pixel-stats.ts';

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

describe('MetricsStore', () => {
  let dir: string;
  let store: MetricsStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rv-store-'));
    store = new MetricsStore(join(dir, 'sub', 'rv.db'));
  });
  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates its folder, uses WAL and migrates to the latest version', () => {
    expect(store.db.pragma('journal_mode', { simple: true })).to.equal('wal');
    expect(store.db.pragma('user_version', { simple: true })).to.equal(MIGRATIONS.length);
  });

  it('migrates a version-1 database forward without losing its runs', () => {
    const path = join(dir, 'old.db');
    const old = new Database(path);
    old.exec(MIGRATIONS[0]!);
    old.pragma('user_version = 1');
    old
      .prepare(`INSERT INTO runs (run_key, source, model_version, started_at) VALUES ('old', 'client', 'v0', '2026-01-01T00:00:00.000Z')`)
      .run();
    old.close();
    const s = new MetricsStore(path);
    expect(s.db.pragma('user_version', { simple: true })).to.equal(MIGRATIONS.length);
    expect(s.getRun('old')?.modelVersion).to.equal('v0');
    s.close();
  });

  it('records a batch once: a repeat replays the stored answer, a different body is a conflict', () => {
    const first = store.recordBatch(batch('r1', 0));
    expect(first.outcome).to.equal('recorded');
    const again = store.recordBatch(batch('r1', 0));
    expect(again.outcome).to.equal('replayed');
    expect(again).to.deep.include({ response: (first as { response: unknown }).response });
    const other = store.recordBatch(batch('r1', 0, { requestHash: 'something else' }));
    expect(other.outcome).to.equal('conflict');
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM predictions').get()).to.deep.equal({ n: 3 });
    expect(store.getRun('r1')!.images).to.equal(3);
  });

  it('refuses an idempotency key reused for another batch', () => {
    store.recordBatch(batch('r1', 0, { idempotencyKey: 'k1' }));
    expect(store.checkBatch('r1', 0, 'k1', 'hash-r1-0')?.outcome).to.equal('replayed');
    expect(store.recordBatch(batch('r1', 1, { idempotencyKey: 'k1' })).outcome).to.equal('conflict');
    expect(store.findBatchByIdempotencyKey('k1')?.batchIndex).to.equal(0);
    expect(store.findBatch('r1', 0)?.response).to.deep.equal({ ids: [1, 2, 3] });
  });

  it('holds exactly-once across two connections to the same file', () => {
    const other = new MetricsStore(store.path);
    expect(other.recordBatch(batch('r1', 0)).outcome).to.equal('recorded');
    expect(store.recordBatch(batch('r1', 0)).outcome).to.equal('replayed');
    other.close();
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM batches').get()).to.deep.equal({ n: 1 });
  });

  it('sums run metrics: accuracy from labels only, per-class counts and means, pixel statistics', () => {
    store.recordBatch(batch('r1', 0));
    store.recordBatch(batch('r1', 1));
    const run = RunSummary.parse(store.getRun('r1'));
    expect(run.images).to.equal(6);
    expect(run.labelled).to.equal(4);
    expect(run.accuracy).to.equal(0.5); // a.png right, b.png wrong, twice
    expect(run.meanConfidence).to.be.closeTo(0.7, 1e-9);
    expect(run.perClass[1]).to.deep.include({ count: 4, meanConfidence: 0.7 });
    expect(run.perClass[7]).to.deep.include({ count: 2 });
    expect(run.perClass[0]).to.deep.include({ count: 0, meanConfidence: null });
    expect(run.status).to.equal('open');
    const h = store.runHealthInput('r1')!;
    expect(h.pixelCount).to.equal(6 * 784);
    expect(h.pixelSum).to.be.closeTo(3 * 784, 1e-6);
    expect(h.pixelNearZero).to.equal(3 * 784);
    expect(h.confidences).to.have.length(6);
  });

  it('completes a run once, storing health and checks', () => {
    store.recordBatch(batch('r1', 0));
    const checks = [{ name: 'confidence', status: 'WARN' as const, value: 0.7, baseline: 0.9, message: 'low' }];
    const done = store.completeRun('r1', { failures: 2, processMs: 120 }, checks)!;
    expect(done).to.deep.include({ status: 'completed', failures: 2, processMs: 120, health: 'WARN' });
    expect(done.msPerPrediction).to.equal(40);
    const again = store.completeRun('r1', { failures: 9, processMs: 1 }, [])!;
    expect(again).to.deep.equal(done);
    expect(store.completeRun('nope', {}, [])).to.equal(undefined);
  });

  it('lists runs newest first in keyset pages, filtered by time', () => {
    const stamp = store.db.prepare('UPDATE runs SET started_at = ? WHERE run_key = ?');
    for (let i = 0; i < 7; i++) {
      store.recordBatch(batch(`run-${i}`, 0));
      stamp.run(`2026-11-0${i + 1}T12:00:00.000Z`, `run-${i}`);
    }
    const keys: string[] = [];
    let cursor: string | undefined;
    do {
      const page = store.listRuns({ limit: 3, cursor });
      keys.push(...page.items.map((r) => r.runKey));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(keys).to.deep.equal(['run-6', 'run-5', 'run-4', 'run-3', 'run-2', 'run-1', 'run-0']);
    const ranged = store.listRuns({ from: '2026-11-02T00:00:00.000Z', to: '2026-11-04T00:00:00.000Z' });
    expect(ranged.items.map((r) => r.runKey)).to.deep.equal(['run-2', 'run-1']);
    expect(() => store.listRuns({ cursor: 'garbage' })).to.throw(CursorError);
  });

  it('pages through a run’s predictions in recorded order', () => {
    store.recordBatch(batch('r1', 0));
    store.recordBatch(batch('r1', 1));
    const run = store.getRun('r1')!;
    const first = store.runPredictions(run.id, { limit: 4 });
    expect(first.items.map((p) => `${p.batchIndex}:${p.id}`)).to.deep.equal(['0:a.png', '0:b.png', '0:c.png', '1:a.png']);
    const rest = store.runPredictions(run.id, { limit: 4, cursor: first.nextCursor! });
    expect(rest.items.map((p) => p.position)).to.deep.equal([1, 2]);
    expect(rest.nextCursor).to.equal(null);
  });

  it('finds a run by numeric id or by key, and a numeric-looking key too', () => {
    store.recordBatch(batch('r1', 0));
    store.recordBatch(batch('12345', 0));
    expect(store.getRun(1)?.runKey).to.equal('r1');
    expect(store.getRun('1')?.runKey).to.equal('r1');
    expect(store.getRun('12345')?.runKey).to.equal('12345');
    expect(store.getRunByKey('12345')?.id).to.equal(2);
  });
});

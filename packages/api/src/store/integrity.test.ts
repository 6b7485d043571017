/**
 * #12 item 6: a damaged, emptied or read-only SQLite store is refused at start with its path named,
 * through openStore and through the real server, on real damaged files.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot } from '@refund-vision/shared';
import { startServer } from '../server.ts';
import { sharedClassifier, testConfig, testLogger } from '../test-support.ts';
import { pixelStats } from '../pixel-stats.ts';
import { openStore, StoreError } from './index.ts';

/** A real store holding `batches` batches of 256 predictions, closed (WAL checkpointed into the file). */
async function filledStore(path: string, batches = 12): Promise<void> {
  const store = await openStore({ path });
  for (let b = 0; b < batches; b++) {
    const n = 256;
    await store.runs.recordBatch({
      runKey: 'filled',
      source: 'client',
      batchIndex: b,
      requestHash: `h${b}`,
      modelVersion: 'v',
      engine: 'wasm',
      images: Array.from({ length: n }, (_, i) => ({ id: `b${b}/img-${i}.png`, group: 'g', hash: `${b}-${i}`.padEnd(64, 'x') })),
      predictions: Array.from({ length: n }, (_, i) => ({
        classIndex: i % 10,
        confidence: 0.5,
        top3: [{ classIndex: i % 10, className: 'x', confidence: 0.5 }],
      })),
      pixelStats: pixelStats(new Uint8Array(n * 784)),
      inferenceMs: 1,
      totalMs: 2,
      respond: (ids) => ({ ids }),
    });
  }
  await store.close();
}

async function refusal(path: string): Promise<StoreError> {
  try {
    await (await openStore({ path })).close();
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(StoreError);
    return e as StoreError;
  }
  throw new Error(`expected ${path} to be refused`);
}

describe('store integrity at start (SQLite)', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'rv-integrity-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a zero-length database file instead of starting an empty history', async () => {
    const path = join(dir, 'rv.db');
    await filledStore(path, 1);
    writeFileSync(path, ''); // what a truncation or a bad copy leaves
    const e = await refusal(path);
    expect(e.code).to.equal('store-empty');
    expect(e.message).to.include(path).and.include('0 bytes');
    expect(statSync(path).size, 'the file is left as it was').to.equal(0);
  });

  it('refuses a database whose pages are corrupted, naming the file', async () => {
    const path = join(dir, 'rv.db');
    await filledStore(path);
    const size = statSync(path).size;
    expect(size).to.be.above(40 * 4096);
    // Overwrite a run of pages in the middle of the file (b-tree pages of predictions) with garbage.
    const fd = openSync(path, 'r+');
    const junk = Buffer.alloc(4096 * 3, 0xa5);
    writeSync(fd, junk, 0, junk.length, 4096 * 20);
    closeSync(fd);
    const e = await refusal(path);
    expect(e.code).to.equal('store-damaged');
    expect(e.message)
      .to.include(path)
      .and.match(/integrity check|malformed|damaged/);
  });

  it('refuses a file that is not a database at all', async () => {
    const path = join(dir, 'rv.db');
    writeFileSync(path, 'this is a text file someone saved over the database\n'.repeat(200));
    const e = await refusal(path);
    expect(e.code).to.equal('store-damaged');
    expect(e.message).to.include(path);
  });

  it('the real server does not start on a damaged store, and says which file', async () => {
    const path = join(dir, 'data', 'rv.db');
    await filledStore(path, 1);
    writeFileSync(path, '');
    const config = testConfig(dir, { api: { dbPath: path } });
    let error: unknown;
    await startServer({ config, classifier: await sharedClassifier(), logger: testLogger() }).then(
      (h) => h.close(),
      (e) => (error = e),
    );
    expect(error).to.be.instanceOf(StoreError);
    expect((error as Error).message).to.include(path);
  });

  it('refuses a database the API may not write, naming its path (as another user than root)', async () => {
    const path = join(dir, 'rv.db');
    await filledStore(path, 1);
    chmodSync(path, 0o444);
    chmodSync(dir, 0o755);
    const storeModule = fileURLToPath(new URL('./index.ts', import.meta.url));
    const script = `const { openStore } = await import(${JSON.stringify(storeModule)});
      try { await (await openStore({ path: ${JSON.stringify(path)} })).close(); console.log(JSON.stringify({ opened: true })); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
    // root may write any file: run the opening process as an ordinary user, as a real deployment would
    const asUser = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--'] : [];
    const out = execFileSync(
      asUser[0] ?? process.execPath,
      [...asUser.slice(1), ...(asUser.length ? [process.execPath] : []), '--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: projectRoot(),
        encoding: 'utf8',
        env: { ...process.env, HOME: dir },
      },
    );
    const result = JSON.parse(out.trim().split('\n').at(-1)!);
    expect(result.code, out).to.equal('store-read-only');
    expect(result.message).to.include(path);
  });
});

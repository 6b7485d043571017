/**
 * The real `pnpm batch` CLI as a child process against the real API in this process: killed with
 * SIGKILL at the worst moments and started again, no image is missing and none is recorded twice.
 */
import { expect } from 'chai';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startApi, storedPredictions, type TestApi } from './support/api.ts';
import { startCli, type Child } from './support/cli.ts';
import { eventsText, gateProxy, tempDir } from './support/client.ts';
import { writeImages } from './support/images.ts';

const startBatch = (configFile: string, args: string[] = []) => startCli('batch', configFile, args);

describe('pnpm batch (child process)', function () {
  this.timeout(120_000);
  let api: TestApi;
  let t: ReturnType<typeof tempDir>;
  before(async () => (api = await startApi()));
  after(async () => api?.stop());
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());

  const writeConfig = (apiUrl: string, extra: Record<string, unknown> = {}, apiKey?: string) => {
    const file = join(t.dir, 'refund-vision.config.json');
    writeFileSync(
      file,
      JSON.stringify({
        client: { apiUrl, batchSize: 4, workers: 1, retries: 1, retryBaseDelayMs: 10, retryMaxDelayMs: 20, timeoutMs: 5000, ...extra },
        ...(apiKey ? { api: { apiKey } } : {}),
        logs: { dir: join(t.dir, 'logs'), console: false },
      }),
    );
    return file;
  };

  it('killed with SIGKILL twice mid-run, then run again: every image recorded exactly once', async () => {
    const names = Array.from({ length: 18 }, (_, i) => `G${i % 2}/img ${i}.png`);
    await writeImages(
      join(t.dir, 'data', 'inbox'),
      names.map((name, i) => ({ name, index: 100 + i, kind: 'dataset' as const })),
    );

    // 1st attempt: killed after the API recorded batch 1 but before the client got the answer
    let victim: Child | undefined;
    const proxy = await gateProxy(
      api.url,
      (n) => (n === 2 ? 'hold-response' : 'pass'),
      () => victim!.proc.kill('SIGKILL'),
    );
    const config = writeConfig(proxy.url);
    victim = startBatch(config);
    expect((await victim.exit).signal, victim.out()).to.equal('SIGKILL');
    await proxy.close();
    const runKeys = readdirSync(join(t.dir, 'data', 'client', 'runs')).filter((n) => n.endsWith('.json'));
    expect(runKeys).to.have.length(1);
    const runKey = runKeys[0]!.replace(/\.json$/, '');
    expect(await storedPredictions(api, runKey)).to.have.length(8); // batches 0 and 1

    // 2nd attempt: resumes, and is killed while its second request is on the way (not forwarded)
    const proxy2 = await gateProxy(
      api.url,
      (n) => (n === 2 ? 'hold-request' : 'pass'),
      () => victim!.proc.kill('SIGKILL'),
    );
    victim = startBatch(writeConfig(proxy2.url));
    expect((await victim.exit).signal, victim.out()).to.equal('SIGKILL');
    await proxy2.close();

    // 3rd attempt, straight to the API: finishes the same run
    const last = startBatch(writeConfig(api.url));
    const { code } = await last.exit;
    expect(code, last.out()).to.equal(0);
    expect(last.out()).to.match(new RegExp(`run ${runKey} \\(resumed\\): 18 classified`));

    const stored = await storedPredictions(api, runKey);
    expect(stored.map((p) => p.id).sort()).to.deep.equal([...names].sort());
    expect(new Set(stored.map((p) => p.hash)).size).to.equal(18);
    expect((await api.store.runs.listRuns({})).items.reduce((s, r) => s + r.images, 0)).to.equal(18);
    expect((await api.store.runs.getRunByKey(runKey))!.status).to.equal('completed');

    // and a 4th run finds nothing new
    const again = startBatch(writeConfig(api.url));
    expect((await again.exit).code).to.equal(0);
    expect(again.out()).to.match(/: 0 classified, 0 bad files, 18 already done/);
  });

  it('exits non-zero with a one-line summary when the API cannot be reached', async () => {
    await writeImages(join(t.dir, 'data', 'inbox'), [{ name: 'a.png', index: 5, kind: 'dataset' }]);
    const cli = startBatch(writeConfig('http://127.0.0.1:9'));
    const { code } = await cli.exit;
    expect(code).to.equal(1);
    expect(cli.out().trim().split('\n').at(-1)).to.match(/^run \S+: 0 classified, .* NOT DELIVERED: 1 images queued/);
  });

  it('stops with exit 3 and a clear event when the API refuses the key, keeping the batches for the next run', async () => {
    const secured = await startApi({ api: { apiKey: 'the-right-key-0123456789' } });
    try {
      const names = Array.from({ length: 10 }, (_, i) => `g/${i}.png`);
      await writeImages(
        join(t.dir, 'data', 'inbox'),
        names.map((name, i) => ({ name, index: 200 + i, kind: 'dataset' as const })),
      );
      const wrong = startBatch(writeConfig(secured.url, {}, 'a-wrong-key-0123456789'));
      const { code } = await wrong.exit;
      expect(code, wrong.out()).to.equal(3);
      expect(wrong.out().trim().split('\n').at(-1)).to.match(
        /^run \S+: 0 classified, .* STOPPED: the API refused the credentials \(check API_KEY\); 1 batches kept in the outbox$/,
      );
      // the first refusal stopped the run: one batch queued, not all three
      expect(readdirSync(join(t.dir, 'data', 'outbox')).filter((n) => n.endsWith('.json'))).to.have.length(1);
      expect((await secured.store.runs.listRuns({})).items).to.have.length(0);
      const events = await eventsText(join(t.dir, 'logs'));
      expect(events).to.match(/ERROR .*API refused the credentials: HTTP 401.* the run stops here; check API_KEY/);

      // with the right key the same run resumes and delivers every image exactly once
      const right = startBatch(writeConfig(secured.url, {}, 'the-right-key-0123456789'));
      expect((await right.exit).code, right.out()).to.equal(0);
      const runKey = /^run (\S+) \(resumed\): 10 classified/.exec(right.out().trim().split('\n').at(-1)!)?.[1];
      expect(runKey, right.out()).to.be.a('string');
      expect(readdirSync(join(t.dir, 'data', 'outbox')).filter((n) => n.endsWith('.json'))).to.have.length(0);
      const stored = await storedPredictions(secured, runKey!);
      expect(stored.map((p) => p.id).sort()).to.deep.equal([...names].sort());
      expect((await secured.store.runs.getRunByKey(runKey!))!.status).to.equal('completed');
    } finally {
      await secured.stop();
    }
  });
});

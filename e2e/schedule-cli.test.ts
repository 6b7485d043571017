/**
 * The real `pnpm schedule` CLI as a child process against the real API in this process: a run it
 * started is killed with SIGKILL mid-run, and the restarted scheduler resumes that run at once
 * (not at the next day's tick), finishing it with every image recorded exactly once.
 */
import { expect } from 'chai';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startApi, storedPredictions, type TestApi } from './support/api.ts';
import { startCli, type Child } from './support/cli.ts';
import { gateProxy, tempDir } from './support/client.ts';
import { writeImages } from './support/images.ts';

describe('pnpm schedule (child process)', function () {
  this.timeout(120_000);
  let api: TestApi;
  let t: ReturnType<typeof tempDir>;
  before(async () => (api = await startApi()));
  after(async () => api?.stop());
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());

  const writeConfig = (apiUrl: string) => {
    const file = join(t.dir, 'refund-vision.config.json');
    writeFileSync(
      file,
      JSON.stringify({
        // A schedule that never comes due during the test (1 January, 00:00 UTC): any run after the
        // restart is the scheduler resuming the killed one, not a tick or a catch-up.
        client: {
          apiUrl,
          cron: '0 0 1 1 *',
          timezone: 'UTC',
          batchSize: 4,
          workers: 1,
          retries: 1,
          retryBaseDelayMs: 10,
          retryMaxDelayMs: 20,
          readyTimeoutMs: 5000,
        },
        logs: { dir: join(t.dir, 'logs'), console: true, level: 'info' },
      }),
    );
    return file;
  };

  it('killed with SIGKILL mid-run, then restarted: resumes the run at start and records every image once', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `g/${i}.png`);
    await writeImages(
      join(t.dir, 'data', 'inbox'),
      names.map((name, i) => ({ name, index: 300 + i, kind: 'dataset' as const })),
    );

    // started with --now; killed while the run's second batch is on its way
    let victim: Child | undefined;
    const proxy = await gateProxy(
      api.url,
      (n) => (n === 2 ? 'hold-request' : 'pass'),
      () => victim!.proc.kill('SIGKILL'),
    );
    victim = startCli('schedule', writeConfig(proxy.url), ['--now']);
    expect((await victim.exit).signal, victim.out()).to.equal('SIGKILL');
    await proxy.close();
    const runFiles = readdirSync(join(t.dir, 'data', 'client', 'runs')).filter((n) => n.endsWith('.json'));
    expect(runFiles).to.have.length(1);
    const runKey = runFiles[0]!.replace(/\.json$/, '');
    expect(await storedPredictions(api, runKey)).to.have.length(4);

    // restarted without --now: the killed run is owed, so it runs at once
    const statePath = join(t.dir, 'data', 'client', 'schedule.json');
    const state = () => JSON.parse(readFileSync(statePath, 'utf8')) as { runningSince?: string; lastRunKey?: string };
    expect(state().runningSince, 'the killed run is recorded as owed').to.be.a('string');
    const again = startCli('schedule', writeConfig(api.url));
    try {
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && again.proc.exitCode === null && state().lastRunKey !== runKey)
        await new Promise((r) => setTimeout(r, 100));
      expect(state().lastRunKey, again.out()).to.equal(runKey);
      expect(state().runningSince).to.equal(undefined);
      expect((await api.store.runs.getRunByKey(runKey))?.status).to.equal('completed');
    } finally {
      again.proc.kill('SIGTERM');
    }
    expect((await again.exit).code, again.out()).to.equal(0);
    expect(again.out()).to.match(/the run going when the scheduler stopped is resumed now/);
    expect(again.out()).to.match(new RegExp(`run finished: run ${runKey} \\(resumed\\): 12 classified`));

    const stored = await storedPredictions(api, runKey);
    expect(stored.map((p) => p.id).sort()).to.deep.equal([...names].sort());
    expect(new Set(stored.map((p) => p.hash)).size).to.equal(12);
    expect(existsSync(join(t.dir, 'data', 'client', 'run.lock'))).to.equal(false);
  });
});

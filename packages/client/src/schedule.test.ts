import { expect } from 'chai';
import { createServer } from 'node:http';
import { join } from 'node:path';
import FakeTimers from '@sinonjs/fake-timers';
import { createLogger, type Config } from '@refund-vision/shared';
import { Scheduler, catchUpDecision, nextMatch } from './schedule.ts';
import { clientConfig, closeServer, eventsText, listen, tempDir } from './test-support.ts';

/** Waits in REAL time (setImmediate is not faked) until `cond` holds. */
async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('Scheduler', () => {
  let t: ReturnType<typeof tempDir>;
  let api: ReturnType<typeof createServer>;
  let apiUrl: string;
  let clock: FakeTimers.InstalledClock | undefined;
  beforeEach(async () => {
    t = tempDir();
    api = createServer((req, res) => void res.writeHead(req.url === '/readyz' ? 200 : 404).end('{}'));
    apiUrl = await listen(api);
  });
  afterEach(async () => {
    clock?.uninstall();
    clock = undefined;
    await closeServer(api);
    t.cleanup();
  });

  const config = (client: Partial<Config['client']> = {}): Config =>
    clientConfig(t.dir, { client: { apiUrl, timezone: 'UTC', readyTimeoutMs: 2000, ...client } });

  it('knows when a run was missed and what the policy says', () => {
    const at = (s: string) => new Date(s);
    expect(nextMatch('0 18 * * *', at('2026-11-21T12:00:00Z'), 'UTC').toISOString()).to.equal('2026-11-21T18:00:00.000Z');
    expect(nextMatch('0 18 * * *', at('2026-11-21T12:00:00Z'), 'Europe/Berlin').toISOString()).to.equal('2026-11-21T17:00:00.000Z');
    // 18:00 local across both daylight-saving switches of 2026
    expect(nextMatch('0 18 * * *', at('2026-03-28T17:00:00Z'), 'Europe/Berlin').toISOString()).to.equal('2026-03-29T16:00:00.000Z');
    expect(nextMatch('0 18 * * *', at('2026-10-24T16:00:00Z'), 'Europe/Berlin').toISOString()).to.equal('2026-10-25T17:00:00.000Z');
    expect(catchUpDecision('0 18 * * *', undefined, at('2026-11-21T19:00:00Z'), 'run', 'UTC')).to.deep.equal({ missed: false });
    expect(catchUpDecision('0 18 * * *', { coveredUntil: '2026-11-21T18:00:00Z' }, at('2026-11-22T09:00:00Z'), 'run', 'UTC')).to.deep.equal(
      { missed: false },
    );
    expect(
      catchUpDecision('0 18 * * *', { coveredUntil: '2026-11-20T18:00:00Z' }, at('2026-11-22T09:00:00Z'), 'skip', 'UTC'),
    ).to.deep.equal({ missed: true, at: at('2026-11-21T18:00:00Z'), action: 'skip' });
  });

  it('fires at 18:00 on a fake clock, skips an overlapping tick and logs it', async () => {
    clock = FakeTimers.install({
      now: new Date('2026-11-21T17:59:58Z'),
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'],
    });
    const calls: Date[] = [];
    let finish!: () => void;
    const cfg = config({ cron: '0 18 * * *' });
    const s = new Scheduler({
      config: cfg,
      logger: createLogger('client', { dir: cfg.logs.dir, console: false }),
      job: () => (calls.push(new Date()), new Promise<void>((r) => (finish = r))),
    });
    const decision = await s.start();
    expect(decision.missed).to.equal(false);
    expect(s.nextRun()!.toISOString()).to.equal('2026-11-21T18:00:00.000Z');
    await clock.tickAsync(1000);
    expect(calls).to.have.length(0);
    await clock.tickAsync(1500);
    await until(() => calls.length === 1, 'the 18:00 run');
    expect(calls[0]!.toISOString()).to.match(/^2026-11-21T18:00:0/);
    expect(await s.tick('schedule')).to.equal('skipped-overlap');
    finish();
    await until(() => !s.running, 'the run to end');
    expect(s.readState()!.lastRunAt).to.match(/^2026-11-21T18:00/);
    // the next day's tick fires too
    await clock.tickAsync(24 * 3600 * 1000);
    await until(() => calls.length === 2, 'the next day');
    finish();
    await s.stop();
    clock.uninstall();
    clock = undefined;
    const log = await eventsText(cfg.logs.dir);
    expect(log).to.match(/WARN  scheduler run=- tick skipped: the previous run is still going reason=schedule/);
    expect(log).to.match(/scheduler started .*cron="0 18 \* \* \*"/);
  });

  it('catches up a run missed while the machine was off (catchUp=run) or skips it (catchUp=skip)', async () => {
    const calls: string[] = [];
    for (const policy of ['run', 'skip'] as const) {
      const cfg = config({ cron: '0 18 * * *', catchUp: policy, stateDir: join(t.dir, policy) });
      const now = new Date();
      const s = new Scheduler({
        config: cfg,
        logger: createLogger('client', { dir: cfg.logs.dir, console: false }),
        job: async () => void calls.push(policy),
      });
      // the last run was two days ago: at least one 18:00 passed since
      await s.start(); // first start records the baseline
      await s.stop();
      const { writeFileSync } = await import('node:fs');
      writeFileSync(s.statePath, JSON.stringify({ coveredUntil: new Date(now.getTime() - 2 * 86400e3).toISOString() }));
      const again = new Scheduler({
        config: cfg,
        logger: createLogger('client', { dir: cfg.logs.dir, console: false }),
        job: async () => void calls.push(policy),
      });
      const d = await again.start();
      expect(d).to.include({ missed: true, action: policy });
      await until(() => !again.running, 'catch-up');
      await again.stop();
      expect(Date.parse(again.readState()!.coveredUntil)).to.be.at.least(now.getTime() - 1000);
    }
    expect(calls).to.deep.equal(['run']);
    const log = await eventsText(join(t.dir, 'logs'));
    expect(log).to.match(/missed scheduled run: catching up now \(catchUp=run\)/);
    expect(log).to.match(/missed scheduled run skipped \(catchUp=skip\)/);
  });

  it('resumes at start a run the last process died in, even with catchUp=skip, and clears the mark when it ends', async () => {
    const cfg = config({ cron: '0 18 * * *', catchUp: 'skip' });
    const calls: string[] = [];
    const make = (job: () => Promise<void>) =>
      new Scheduler({ config: cfg, logger: createLogger('client', { dir: cfg.logs.dir, console: false }), job });
    // a tick that never ends stands for a process killed mid-run: the mark stays on disk
    const first = make(() => new Promise<void>(() => calls.push('killed')));
    await first.start({ runNow: true });
    await until(() => calls.length === 1, 'the first run');
    expect(first.readState()!.runningSince).to.be.a('string');
    await first.stop({ wait: false });

    const again = make(async () => void calls.push('resumed'));
    const decision = await again.start();
    expect(decision.missed).to.equal(false); // nothing missed: the resume comes from the mark alone
    await until(() => !again.running && calls.length === 2, 'the resumed run');
    await again.stop();
    expect(calls).to.deep.equal(['killed', 'resumed']);
    expect(again.readState()!.runningSince).to.equal(undefined);
    expect(await eventsText(cfg.logs.dir)).to.match(/WARN  scheduler run=- the run going when the scheduler stopped is resumed now/);

    // a run that fails (not a crash) is over: nothing is owed at the next start
    const failing = make(async () => {
      throw new Error('boom');
    });
    await failing.start({ runNow: true });
    await until(() => !failing.running, 'the failing run');
    await failing.stop();
    expect(failing.readState()!.runningSince).to.equal(undefined);
  });

  it('refuses a bad cron expression or time zone naming the key', () => {
    expect(() => new Scheduler({ config: config({ cron: 'every day at six' }) })).to.throw(/client\.cron/);
    expect(() => new Scheduler({ config: config({ timezone: 'Mars/Olympus' }) })).to.throw(/client\.timezone/);
  });
});

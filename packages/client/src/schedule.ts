/**
 * The daily run on croner (default 18:00; expression and time zone configurable). A cron library
 * never replays a run missed while the machine was off, so the catch-up is ours: `<stateDir>/
 * schedule.json` records the time up to which scheduled runs are handled, and at start a cron
 * match between that time and now is either run at once or skipped, as `client.catchUp` says.
 * A run that was going when the process died (`runningSince` still set) is resumed at start
 * whatever the catch-up policy: it was due, and the client resumes it under the same run key.
 * A tick that arrives while a run is still going is skipped and logged. Before each run the
 * scheduler waits for the API's /readyz.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cron } from 'croner';
import { ConfigError, createLogger, type Config, type Logger } from '@refund-vision/shared';
import { writeFileAtomic } from './fsutil.ts';
import { runBatch, type RunReport } from './run.ts';
import { Sender, senderOptions } from './sender.ts';

/** A paused croner job: the one place the expression is parsed, for ticks and catch-up alike. */
function pattern(expression: string, timezone?: string): Cron {
  return new Cron(expression, { paused: true, ...(timezone ? { timezone } : {}) });
}

/** The first scheduled time after `from`, per the expression and time zone. */
export function nextMatch(expression: string, from: Date, timezone?: string): Date {
  const next = pattern(expression, timezone).nextRun(from);
  if (!next) throw new Error(`cron expression ${JSON.stringify(expression)} never matches`);
  return next;
}

export interface ScheduleState {
  /** Scheduled runs up to this instant are done (ran, or skipped by policy). */
  coveredUntil: string;
  lastRunAt?: string;
  lastRunKey?: string;
  /** Set while a run is going; still set at start means the process died mid-run. */
  runningSince?: string;
}

export type CatchUpDecision = { missed: false } | { missed: true; at: Date; action: 'run' | 'skip' };

/** Was a scheduled run missed between the last covered instant and now, and what does policy say? */
export function catchUpDecision(
  expression: string,
  state: ScheduleState | undefined,
  now: Date,
  policy: 'run' | 'skip',
  timezone?: string,
): CatchUpDecision {
  if (!state) return { missed: false };
  const next = nextMatch(expression, new Date(state.coveredUntil), timezone);
  if (next.getTime() > now.getTime()) return { missed: false };
  return { missed: true, at: next, action: policy };
}

export type TickOutcome = 'ran' | 'skipped-overlap' | 'failed';

export interface SchedulerOptions {
  config: Config;
  logger?: Logger;
  /** The work of one tick; default a full `runBatch` over the inbox. */
  job?: () => Promise<RunReport | void>;
  now?: () => Date;
}

export class Scheduler {
  readonly statePath: string;
  private task: Cron | undefined;
  private current: Promise<TickOutcome> | undefined;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly job: () => Promise<RunReport | void>;

  constructor(readonly opts: SchedulerOptions) {
    const c = opts.config.client;
    try {
      pattern(c.cron);
    } catch (e) {
      throw new ConfigError(
        `invalid configuration:\n  client.cron (env SCHEDULE_CRON): not a cron expression: ${JSON.stringify(c.cron)} (${(e as Error).message})`,
      );
    }
    if (c.timezone) {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: c.timezone });
      } catch {
        throw new ConfigError(
          `invalid configuration:\n  client.timezone (env SCHEDULE_TZ): unknown time zone ${JSON.stringify(c.timezone)}`,
        );
      }
    }
    this.statePath = join(c.stateDir, 'schedule.json');
    this.log = (opts.logger ?? createLogger('client', opts.config.logs)).child({ component: 'scheduler' });
    this.now = opts.now ?? (() => new Date());
    this.job = opts.job ?? (() => runBatch({ config: opts.config, logger: opts.logger }));
  }

  get running(): boolean {
    return this.current !== undefined;
  }

  readState(): ScheduleState | undefined {
    if (!existsSync(this.statePath)) return undefined;
    try {
      return JSON.parse(readFileSync(this.statePath, 'utf8')) as ScheduleState;
    } catch {
      return undefined;
    }
  }

  private writeState(patch: Partial<ScheduleState>): void {
    const prev = this.readState() ?? { coveredUntil: this.now().toISOString() };
    writeFileAtomic(this.statePath, JSON.stringify({ ...prev, ...patch }, null, 1));
  }

  /**
   * Starts the cron task, resumes a run the last process died in, and applies the catch-up policy.
   * One run at most starts here: with `runNow` it stands in for a missed or interrupted one.
   */
  async start({ runNow = false } = {}): Promise<CatchUpDecision> {
    const c = this.opts.config.client;
    const now = this.now();
    const state = this.readState();
    const decision = catchUpDecision(c.cron, state, now, c.catchUp, c.timezone);
    if (!state) this.writeState({ coveredUntil: now.toISOString() });
    // protect: croner's own no-overlap for its ticks; tick() also refuses to overlap a catch-up run.
    this.task = new Cron(
      c.cron,
      { protect: true, ...(c.timezone ? { timezone: c.timezone } : {}) },
      async () => void (await this.tick('schedule')),
    );
    const next = this.nextRun();
    this.log.info('scheduler started', {
      cron: c.cron,
      timezone: c.timezone ?? 'local',
      next: next?.toISOString() ?? '-',
      catchUp: c.catchUp,
    });
    const interrupted = state?.runningSince;
    if (interrupted) {
      this.log.warn('the run going when the scheduler stopped is resumed now', { since: interrupted });
      if (!runNow) void this.tick('resume');
    } else if (decision.missed) {
      if (decision.action === 'skip') {
        this.log.warn('missed scheduled run skipped (catchUp=skip)', { missed: decision.at.toISOString() });
        this.writeState({ coveredUntil: now.toISOString() });
      } else if (!runNow) {
        this.log.info('missed scheduled run: catching up now (catchUp=run)', { missed: decision.at.toISOString() });
        void this.tick('catch-up');
      }
    }
    if (runNow) void this.tick('now');
    return decision;
  }

  nextRun(): Date | null {
    const c = this.opts.config.client;
    return nextMatch(c.cron, this.now(), c.timezone);
  }

  /** One run unless one is already going. Resolves when this tick is over. */
  tick(reason: 'schedule' | 'catch-up' | 'resume' | 'now' | string): Promise<TickOutcome> {
    if (this.current) {
      this.log.warn('tick skipped: the previous run is still going', { reason });
      return Promise.resolve('skipped-overlap');
    }
    const p = this.runTick(reason).finally(() => {
      this.current = undefined;
    });
    this.current = p;
    return p;
  }

  private async runTick(reason: string): Promise<TickOutcome> {
    const c = this.opts.config.client;
    const startedAt = this.now();
    // The tick is handled (coveredUntil) but the run is owed until it ends (runningSince): a crash
    // in between leaves runningSince set, and the next start resumes the run.
    this.writeState({ coveredUntil: startedAt.toISOString(), runningSince: this.readState()?.runningSince ?? startedAt.toISOString() });
    this.log.info('scheduled run starting', { reason });
    try {
      const probe = new Sender(senderOptions(this.opts.config));
      const ready = await probe
        .waitReady(c.readyTimeoutMs, Math.min(1000, Math.max(50, c.readyTimeoutMs / 20)))
        .finally(() => probe.close());
      if (!ready)
        this.log.warn(`API not ready after ${Math.round(c.readyTimeoutMs / 1000)} s; running anyway (unsent batches go to the outbox)`, {
          apiUrl: c.apiUrls?.join(', ') ?? c.apiUrl,
        });
      const report = await this.job();
      this.writeState({ lastRunAt: startedAt.toISOString(), runningSince: undefined, ...(report ? { lastRunKey: report.runKey } : {}) });
      return 'ran';
    } catch (e) {
      // The run ended (its batches wait in the outbox for the next one); only a crash leaves it owed.
      this.writeState({ runningSince: undefined });
      this.log.error('scheduled run failed', { reason, error: (e as Error).message });
      return 'failed';
    }
  }

  /** Stops ticking; resolves once a run in progress is over (pass wait=false to leave it). */
  async stop({ wait = true } = {}): Promise<void> {
    if (this.task) {
      this.task.stop();
      this.task = undefined;
    }
    if (wait && this.current) await this.current;
  }
}

import { expect } from 'chai';
import { createLogger } from '@refund-vision/shared';
import { parseSince, readEvents } from './events.ts';
import { eventsText, tempDir } from './test-support.ts';

describe('events', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());

  it('parses --since durations and dates', () => {
    const now = new Date('2026-11-21T12:00:00Z');
    expect(parseSince('1d', now).toISOString()).to.equal('2026-11-20T12:00:00.000Z');
    expect(parseSince('90m', now).toISOString()).to.equal('2026-11-21T10:30:00.000Z');
    expect(parseSince('2026-11-01', now).toISOString()).to.equal('2026-11-01T00:00:00.000Z');
    expect(() => parseSince('yesterday-ish', now)).to.throw(RangeError, /--since/);
  });

  it('filters the events log by level, run and time', async () => {
    const log = createLogger('client', { dir: t.dir, console: false, level: 'debug' });
    log.info('run started', { run: 'r1' });
    log.warn('skipped corrupt image file', { run: 'r1', file: 'a b.png' });
    log.error('API unreachable', { run: 'r2', batch: 3 });
    log.debug('chatter', { run: 'r1' });
    await eventsText(t.dir);
    const all = async (f: Parameters<typeof readEvents>[1]) => {
      const out: string[] = [];
      for await (const e of readEvents(t.dir, f)) out.push(e.message);
      return out;
    };
    expect(await all({})).to.have.length(4);
    expect(await all({ level: 'warn' })).to.deep.equal(['skipped corrupt image file file="a b.png"', 'API unreachable batch=3']);
    expect(await all({ level: 'error' })).to.have.length(1);
    expect(await all({ run: 'r1', level: 'info' })).to.deep.equal(['run started', 'skipped corrupt image file file="a b.png"']);
    expect(await all({ since: new Date(Date.now() + 60_000) })).to.deep.equal([]);
    expect(await all({ since: parseSince('1d') })).to.have.length(4);
  });
});

import { expect } from 'chai';
import { mkdtempSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, closeLoggers, flushLogs, parseEventLine, formatEventLine, eventLogPath } from './logger.ts';

describe('events log', () => {
  it('writes one readable line per event to events.log and reads it back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rv-log-'));
    const log = createLogger('client', { dir, console: false });
    log.warn('skipped unreadable image', { run: 'r-1', file: 'G1/a b "c".png', reason: 'corrupt' });
    log.error('API unreachable\nretrying', { run: 'r-1', batch: 3 });
    await closeLoggers();
    const lines = readFileSync(realpathSync(eventLogPath(dir)), 'utf8')
      .trim()
      .split('\n');
    expect(lines).to.have.length(2);
    const [first, second] = lines.map((l) => parseEventLine(l)!);
    expect(first).to.include({ level: 'warn', component: 'client', run: 'r-1' });
    expect(first!.message).to.contain('skipped unreadable image file="G1/a b \\"c\\".png" reason=corrupt');
    expect(second).to.include({ level: 'error', run: 'r-1' });
    expect(second!.message).to.equal('API unreachable retrying batch=3');
    expect(Date.parse(first!.time)).to.be.a('number').and.not.NaN;
  });

  it('marks events without a run with a dash', () => {
    const line = formatEventLine({ level: 'info', message: 'started', timestamp: '2026-11-21T18:00:00.000Z', component: 'api' });
    expect(line).to.equal('2026-11-21T18:00:00.000Z INFO  api run=- started');
    expect(parseEventLine(line)!.run).to.equal(null);
    expect(parseEventLine('garbage')).to.equal(undefined);
  });
});

describe('events log after close', () => {
  it('does not throw when a component logs after the file was closed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rv-log-'));
    const log = createLogger('api', { dir, console: false });
    log.info('before');
    await closeLoggers();
    expect(() => log.info('after close')).not.to.throw();
    const again = createLogger('api', { dir, console: false });
    again.info('reopened');
    await closeLoggers();
    const text = readFileSync(realpathSync(eventLogPath(dir)), 'utf8');
    expect(text).to.contain('before').and.contain('reopened').and.not.contain('after close');
  });
});

describe('flushLogs', () => {
  it('puts every line logged so far on disk at once, and the same logger keeps writing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rv-log-'));
    const log = createLogger('client', { dir, console: false });
    const lines = Array.from({ length: 200 }, (_, i) => `line ${i}`);
    for (const l of lines) log.info(l);
    await flushLogs(dir);
    const read = () => readFileSync(realpathSync(eventLogPath(dir)), 'utf8');
    expect(
      read()
        .trim()
        .split('\n')
        .map((l) => parseEventLine(l)!.message),
    ).to.deep.equal(lines);
    log.info('after the flush');
    await flushLogs(dir);
    expect(read().trim().split('\n')).to.have.length(201);
    expect(read()).to.contain('after the flush');
    await closeLoggers();
  });
});

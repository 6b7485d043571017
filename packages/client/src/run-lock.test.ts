import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunLockedError, acquireLock } from './run-lock.ts';
import { tempDir } from './test-support.ts';

const RACER = fileURLToPath(new URL('./fixtures/lock-racer.ts', import.meta.url));

/** A pid that belonged to a process which has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

function runRacer(args: string[]): Promise<{ code: number | null; out: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', RACER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  return new Promise((r) => proc.on('exit', (code) => r({ code, out })));
}

describe('run lock', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());

  it('is refused while a live process holds it, and free again once released', () => {
    const sleeper = spawn('sleep', ['30']);
    try {
      writeFileSync(join(t.dir, 'run.lock'), String(sleeper.pid));
      expect(() => acquireLock(t.dir))
        .to.throw(RunLockedError)
        .with.property('pid', sleeper.pid);
    } finally {
      sleeper.kill('SIGKILL');
    }
    writeFileSync(join(t.dir, 'run.lock'), String(deadPid())); // the holder was killed
    const release = acquireLock(t.dir);
    expect(readFileSync(join(t.dir, 'run.lock'), 'utf8')).to.equal(String(process.pid));
    expect(() => acquireLock(t.dir), 'twice in one process').to.throw(RunLockedError);
    release();
    expect(existsSync(join(t.dir, 'run.lock'))).to.equal(false);
    acquireLock(t.dir)();
  });

  it('takes over a lock with no valid pid, or our own pid left by an earlier process', () => {
    for (const content of ['', 'garbage', String(process.pid)]) {
      writeFileSync(join(t.dir, 'run.lock'), content);
      const release = acquireLock(t.dir);
      expect(readFileSync(join(t.dir, 'run.lock'), 'utf8')).to.equal(String(process.pid));
      release();
    }
  });

  it('two real processes racing for it thousands of times never hold it together', async function () {
    this.timeout(60_000);
    const log = join(t.dir, 'holders.log');
    const args = [t.dir, log, '3000', '5', String(deadPid())];
    const [a, b] = await Promise.all([runRacer(args), runRacer(args)]);
    expect(a.code, a.out).to.equal(0);
    expect(b.code, b.out).to.equal(0);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    let holder: string | undefined;
    let overlaps = 0;
    const pids = new Set<string>();
    for (const line of lines) {
      const pid = line.slice(1);
      pids.add(pid);
      if (line.startsWith('+')) {
        if (holder !== undefined) overlaps++;
        holder = pid;
      } else if (holder === pid) holder = undefined;
    }
    const counts = [a, b].map((r) => JSON.parse(r.out) as { taken: number; refused: number });
    // both took it many times (with stale locks to take over), and the other was refused meanwhile
    expect(pids.size).to.equal(2);
    for (const c of counts) expect(c.taken).to.be.greaterThan(100);
    expect(counts[0]!.refused + counts[1]!.refused).to.be.greaterThan(100);
    expect(overlaps, `${overlaps} times a second process took the lock while it was held`).to.equal(0);
  });
});

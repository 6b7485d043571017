/** `npm start` (scripts/start.ts) as a child process: API + scheduler up, --now runs, SIGTERM stops cleanly. */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENV_KEYS, projectRoot } from '@refund-vision/shared';
import { tempDir } from './support/client.ts';
import { writeImages } from './support/images.ts';

describe('npm start (scripts/start.ts)', function () {
  this.timeout(120_000);
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());

  it('starts the API and the scheduler, runs at once with --now, and shuts down on SIGTERM', async () => {
    await writeImages(
      join(t.dir, 'data', 'inbox'),
      [0, 1].map((i) => ({ name: `g/${i}.png`, index: 70 + i, kind: 'dataset' as const })),
    );
    const file = join(t.dir, 'refund-vision.config.json');
    writeFileSync(
      file,
      JSON.stringify({
        api: { port: 0 },
        model: { dir: join(projectRoot(), 'models', 'fashion-cnn') },
        client: { workers: 1 },
        logs: { console: false },
      }),
    );
    const env: NodeJS.ProcessEnv = { ...process.env, RV_CONFIG: file, RV_ROOT: t.dir };
    for (const k of Object.keys(ENV_KEYS)) delete env[k];
    const proc = spawn(process.execPath, ['--import', 'tsx', join(projectRoot(), 'scripts', 'start.ts'), '--now'], {
      cwd: projectRoot(),
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    const exit = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    try {
      const results = join(t.dir, 'data', 'results');
      const deadline = Date.now() + 90_000;
      const done = () =>
        existsSync(results) &&
        readdirSync(results).some((n) => n.endsWith('.csv')) &&
        !existsSync(join(t.dir, 'data', 'client', 'run.lock'));
      while (!done() && Date.now() < deadline && proc.exitCode === null) await new Promise((r) => setTimeout(r, 200));
      expect(done(), out).to.equal(true);
      expect(out).to.match(/dashboard {3}http:\/\/127\.0\.0\.1:\d+\//);
      expect(out).to.match(/a run starts now/);
      const csv = readdirSync(results).find((n) => n.endsWith('.csv'))!;
      expect(readFileSync(join(results, csv), 'utf8').match(/"classified"/g)).to.have.length(2);
    } finally {
      proc.kill('SIGTERM');
    }
    expect(await exit, out).to.equal(0);
    const events = readdirSync(join(t.dir, 'logs')).filter((n) => n.startsWith('events-'));
    expect(events).to.have.length.greaterThan(0);
  });
});

import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { predictBody, send, testBatch } from './test-support.ts';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

describe('pnpm api with two worker processes (cluster)', function () {
  this.timeout(90_000);
  let dir: string;
  let child: ChildProcess;
  let url: string;
  let output = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rv-cluster-'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./main.ts', import.meta.url))], {
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        API_WORKERS: '2',
        DB_PATH: join(dir, 'rv.db'),
        LOG_DIR: join(dir, 'logs'),
        LOG_CONSOLE: 'false',
        API_KEY: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const deadline = Date.now() + 80_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`api exited early: ${output}`);
      const ok = await fetch(`${url}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`api not ready: ${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('records each batch once even when its copies land on different workers', async () => {
    for (let b = 0; b < 4; b++) {
      const { pixels } = await testBatch(10, b * 10);
      const body = predictBody(pixels, { runKey: 'cluster-run', batchIndex: b });
      const answers = await Promise.all(Array.from({ length: 5 }, () => send(`${url}/v1/predict`, { json: body })));
      expect(answers.map((a) => a.status)).to.deep.equal([200, 200, 200, 200, 200]);
      const ids = answers.map((a) => JSON.stringify(a.body.predictions));
      expect(new Set(ids).size).to.equal(1);
    }
    const done = await send(`${url}/v1/runs/cluster-run/complete`, { json: { failures: 0 } });
    expect(done.body).to.deep.include({ images: 40, status: 'completed' });
  });

  it('answers /metrics with the sum over both workers', async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const m = /refund_vision_http_requests_total\{method="POST",route="\/v1\/predict",status="200"\} (\d+)/.exec(text);
    expect(Number(m?.[1])).to.equal(20);
    expect(text.match(/refund_vision_model_info\{[^}]*\} 1/g)).to.have.length(1);
    const predicted = [...text.matchAll(/refund_vision_predictions_total\{class="[^"]+"\} (\d+)/g)].reduce((a, x) => a + Number(x[1]), 0);
    expect(predicted).to.equal(40);
  });

  it('drains and exits 0 on SIGTERM, leaving a consistent database', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).to.equal(0);
    const db = new Database(join(dir, 'rv.db'), { readonly: true });
    try {
      expect(db.prepare('SELECT COUNT(*) AS n FROM batches').get()).to.deep.equal({ n: 4 });
      expect(db.prepare('SELECT COUNT(*) AS n FROM predictions').get()).to.deep.equal({ n: 40 });
      expect(db.pragma('integrity_check', { simple: true })).to.equal('ok');
    } finally {
      db.close();
    }
  });
});

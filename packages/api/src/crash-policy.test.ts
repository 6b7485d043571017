/**
 * Issue #12 item 1: one ~120-byte request used to kill the API (multer 2.0.2 threw from an event
 * handler), and an error escaping a handler ended the process silently. Through the real server
 * and the real `pnpm api` process.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@refund-vision/shared';
import { FATAL_EXIT_CODE } from './crash-policy.ts';
import { predictBody, rawRequest, send, testBatch, useTestServer } from './test-support.ts';

describe('one request must never take the API down', () => {
  const srv = useTestServer();

  it('survives a multipart request without boundary and Content-Length 0 followed by non-HTTP bytes', async () => {
    // The exact request of the adversarial run (120 bytes in one write). With multer 2.0.2 it threw
    // "Cannot read properties of undefined (reading 'onceZero')" from an event handler.
    const bytes =
      'POST /v1/predict/image HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data\r\nContent-Length: 0\r\n\r\nNOT-HTTP\r\n\r\n';
    expect(bytes.length).to.be.within(110, 130);
    const answer = await rawRequest(srv.port, [bytes], 5000);
    expect(answer.status).to.be.within(400, 499);
    // Give any late event handler its chance to throw, then the server must still serve.
    await new Promise((r) => setTimeout(r, 200));
    expect((await send(`${srv.url}/healthz`)).status).to.equal(200);
    expect((await send(`${srv.url}/readyz`)).status).to.equal(200);
  });
});

describe('an error that escapes every handler (pnpm api process)', function () {
  this.timeout(90_000);
  let dir: string;
  const children: ChildProcess[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'rv-crash-'));
  });
  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  async function startApi(name: string) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const fixture = fileURLToPath(new URL('./fixtures/fatal-on-message.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', '--import', fixture, fileURLToPath(new URL('./main.ts', import.meta.url))], {
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        API_WORKERS: '1',
        DB_PATH: join(dir, `${name}.db`),
        LOG_DIR: join(dir, `${name}-logs`),
        LOG_CONSOLE: 'false',
        API_KEY: '',
        // Long enough to ask the probes on a loaded machine before the listener closes.
        API_FATAL_ANNOUNCE_MS: '5000',
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 80_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`api exited early: ${stderr}`);
      const ok = await fetch(`${url}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`api not ready: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return { child, url, exited, stderr: () => stderr, logs: join(dir, `${name}-logs`) };
  }

  it('uncaught exception: says why, fails liveness and readiness, refuses work, exits non-zero', async () => {
    const api = await startApi('throw');
    api.child.send('throw');
    let live = await send(`${api.url}/healthz`).catch((e) => expect.fail(`${e.cause ?? e}; api said: ${api.stderr()}`));
    for (let i = 0; i < 50 && live.status === 200; i++) live = await send(`${api.url}/healthz`);
    expect(live.status).to.equal(503);
    expect(live.body).to.deep.equal({ status: 'failing', reason: 'uncaught exception: Error: boom from a handler' });
    const ready = await send(`${api.url}/readyz`);
    expect(ready.status).to.equal(503);
    expect(ready.body.status).to.equal('failing');
    expect((await send(`${api.url}/v2/health/live`)).status).to.equal(503);
    const { pixels } = await testBatch(1);
    const work = await send(`${api.url}/v1/predict`, { json: predictBody(pixels) });
    expect(work.status).to.equal(503);
    expect(work.body.error.code).to.equal('shutting-down');
    expect(work.headers.get('retry-after')).to.match(/^\d+$/);

    expect(await api.exited).to.equal(FATAL_EXIT_CODE);
    expect(api.stderr()).to.contain('api: fatal uncaught exception: Error: boom from a handler; draining and exiting with code 70');
    const log = readdirSync(api.logs)
      .filter((f) => f.endsWith('.log'))
      .map((f) => readFileSync(join(api.logs, f), 'utf8'))
      .join('');
    expect(log).to.match(/ERROR .*api: fatal uncaught exception: Error: boom from a handler/);
    expect(log).to.contain('fatal-on-message.ts'); // the stack, for whoever fixes the bug
  });

  it('unhandled rejection: the same policy', async () => {
    const api = await startApi('reject');
    api.child.send('reject');
    expect(await api.exited).to.equal(FATAL_EXIT_CODE);
    expect(api.stderr()).to.contain('api: fatal unhandled promise rejection: Error: a rejection nobody handled');
  });
});

/**
 * Issue #12 item 5: under load the probes starved behind inference and clients timed out. Past
 * `api.maxInFlight` work requests a new one gets 503 + Retry-After at once; probes are never shed.
 */
import { expect } from 'chai';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { predictBody, send, testBatch, useTestServer } from '../test-support.ts';

/** A request whose head has arrived and whose body never will: it stays in flight until destroyed. */
function holdRequest(port: number, path: string): Socket {
  const s = connect(port, '127.0.0.1', () => {
    const type = path.endsWith('/image') ? 'multipart/form-data; boundary=X' : 'application/json';
    s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: 100000\r\n\r\n--X\r\n`);
  });
  s.on('error', () => undefined);
  return s;
}

/** Resolves once the server has seen `n` more requests ('request' runs the app, so they are admitted). */
function requestsSeen(server: Server, n: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const on = () => {
      if (++seen < n) return;
      server.off('request', on);
      resolve();
    };
    server.on('request', on);
  });
}

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await f();
  return { ms: performance.now() - t0, value };
}

describe('load shedding (#12 item 5)', function () {
  this.timeout(60_000);
  const srv = useTestServer({ api: { maxInFlight: 2, retryAfterSeconds: 3 } });

  it('past the in-flight limit: 503 overloaded with Retry-After at once; the probes still answer 200', async () => {
    const admitted = requestsSeen(srv.server, 2);
    const held = [holdRequest(srv.port, '/v1/predict'), holdRequest(srv.port, '/v1/predict/image')];
    await admitted;
    try {
      const { pixels } = await testBatch(2);
      const shed = await timed(() => send(`${srv.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'shed' }) }));
      expect(shed.value.status).to.equal(503);
      expect(shed.value.headers.get('retry-after')).to.equal('3');
      expect(shed.value.body.error.code).to.equal('overloaded');
      expect(shed.value.body.error.message).to.contain('limit 2');
      expect(shed.ms).to.be.below(5000);
      for (const path of ['/healthz', '/readyz', '/v2/health/ready', '/v2/health/live']) {
        const probe = await timed(() => send(`${srv.url}${path}`));
        expect(probe.value.status, path).to.equal(200);
        expect(probe.ms, path).to.be.below(5000);
      }
      // Nothing of the refused request was recorded.
      expect(await srv.store.runs.getRun('shed')).to.equal(undefined);
    } finally {
      for (const s of held) s.destroy();
    }
    // A request that went away frees its place.
    await new Promise((r) => setTimeout(r, 100));
    const { pixels } = await testBatch(2);
    const ok = await send(`${srv.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'after-shed' }) });
    expect(ok.status, ok.text).to.equal(200);
  });

  it('under a burst of batch-256 requests every one is answered (200 or 503), and /readyz throughout', async () => {
    const { pixels } = await testBatch(256);
    const body = JSON.stringify(predictBody(pixels, { runKey: 'burst' }));
    let done = false;
    const probes: number[] = [];
    const poll = (async () => {
      while (!done) {
        const p = await timed(() => send(`${srv.url}/readyz`));
        expect(p.value.status).to.equal(200);
        probes.push(p.ms);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const answers = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        send(`${srv.url}/v1/predict`, {
          body: body.replace('"batchIndex":0', `"batchIndex":${i}`),
          headers: { 'content-type': 'application/json' },
        }),
      ),
    );
    done = true;
    await poll;
    const statuses = answers.map((a) => a.status);
    expect(
      statuses.every((s) => s === 200 || s === 503),
      String(statuses),
    ).to.equal(true);
    // Whether any is shed depends on how fast this machine answers; the heavy version (64
    // connections, batch 256) is the bench's "api under load" row.
    expect(statuses).to.include(200);
    for (const a of answers.filter((x) => x.status === 503)) expect(a.headers.get('retry-after')).to.equal('3');
    expect(probes.length).to.be.above(0);
    // A starved probe took 1.6–10 s in the adversarial run; the 1 s goal is measured by the bench
    // (row 12, 64 connections) rather than asserted on a shared machine.
    expect(Math.max(...probes)).to.be.below(5000);
  });
});

/** Everything the server sends on `s` until `until` matches it. */
function readUntil(s: Socket, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const on = (d: Buffer) => {
      got += d.toString('latin1');
      if (!until.test(got)) return;
      s.off('data', on);
      resolve(got);
    };
    s.on('data', on);
    s.once('error', reject);
  });
}

describe('load shedding: the unread body of a refused request (#12 item 5)', function () {
  this.timeout(60_000);
  const HOLD_MS = 600;
  const srv = useTestServer({ api: { maxInFlight: 2, retryAfterSeconds: 3, shedHoldBodyMs: HOLD_MS } });

  it('stays unread for shedHoldBodyMs after the 503, then is discarded and the connection serves on', async () => {
    const admitted = requestsSeen(srv.server, 2);
    const held = [holdRequest(srv.port, '/v1/predict'), holdRequest(srv.port, '/v1/predict')];
    await admitted;
    const bodyBytes = 4 * 2 ** 20;
    const client = connect(srv.port, '127.0.0.1');
    try {
      await new Promise<void>((r) => client.once('connect', r));
      const seen = new Promise<Socket>((r) => srv.server.once('request', (req) => r(req.socket)));
      // A sender that pushes its whole body, whatever the answer (as a load generator does).
      client.write(`POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${bodyBytes}\r\n\r\n`);
      client.write(Buffer.alloc(bodyBytes, 0x20));
      const answer = await readUntil(client, /\r\n\r\n[^]*\}\}/);
      const t503 = performance.now();
      expect(answer).to.match(/^HTTP\/1\.1 503 /);
      expect(answer).to.match(/\r\nretry-after: 3\r\n/i);
      expect(answer).to.not.match(/\r\nconnection: close\r\n/i);
      const serverSide = await seen;
      // While held, the server reads no more than its stream buffer: the rest waits in the socket.
      await new Promise((r) => setTimeout(r, HOLD_MS / 2));
      expect(serverSide.bytesRead, 'bytes read during the hold').to.be.below(bodyBytes / 4);
      // Then it is read and discarded, and the same connection answers the next request.
      client.write('GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n');
      const next = await readUntil(client, /"status":"ready"/);
      expect(next).to.match(/^HTTP\/1\.1 200 /);
      expect(serverSide.bytesRead).to.be.above(bodyBytes);
      expect(performance.now() - t503).to.be.at.least(HOLD_MS * 0.9);
    } finally {
      client.destroy();
      for (const s of held) s.destroy();
    }
  });
});

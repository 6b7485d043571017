import { expect } from 'chai';
import { createServer } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { CLASS_NAMES, PIXELS_PER_IMAGE, createLogger, encodePixels, type PredictRequest } from '@refund-vision/shared';
import { SendError, Sender, backoffDelay, type SenderOptions } from './sender.ts';
import { closeServer, eventsText, flakyProxy, listen, tempDir, type Recorded } from './test-support.ts';

/** A minimal real server speaking the /v1/predict contract (answers class = image position % 10). */
async function fakeApi() {
  const seen: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: raw });
      const body = JSON.parse((req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8'));
      if (req.url?.endsWith('/complete')) return void res.writeHead(404).end('{"error":{"code":"not_found","message":"no such run"}}');
      if (body.images.length > 2)
        return void res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":{"code":"bad_request","message":"too many"}}');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          runKey: body.runKey,
          batchIndex: body.batchIndex,
          modelVersion: 'test',
          replayed: false,
          predictions: body.images.map((im: { id: string }, i: number) => ({
            id: im.id,
            classIndex: i % 10,
            className: CLASS_NAMES[i % 10],
            confidence: 0.9,
            top3: [],
          })),
          timing: { inferenceMs: 1, totalMs: 1, perImageMs: 1 },
        }),
      );
    });
  });
  return { url: await listen(server), seen, close: () => closeServer(server) };
}

const request = (n: number): PredictRequest => ({
  runKey: 'r-test',
  batchIndex: 4,
  images: Array.from({ length: n }, (_, i) => ({ id: `img${i}.png` })),
  pixels: encodePixels(new Uint8Array(n * PIXELS_PER_IMAGE)),
});

describe('Sender', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());
  const opts = (apiUrl: string, extra: Partial<SenderOptions> = {}): SenderOptions => ({
    apiUrl,
    retries: 3,
    retryBaseDelayMs: 5,
    retryMaxDelayMs: 20,
    timeoutMs: 2000,
    gzip: true,
    logger: createLogger('client', { dir: t.dir, console: false }),
    ...extra,
  });

  it('retries a POST on 503 with the same Idempotency-Key and gzip body, and logs each retry', async () => {
    const api = await fakeApi();
    const proxy = await flakyProxy(api.url, { failures: 2 });
    try {
      const res = await new Sender(opts(proxy.url)).predict(request(2));
      expect(res.predictions.map((p) => p.id)).to.deep.equal(['img0.png', 'img1.png']);
      expect(proxy.seen).to.have.length(3);
      expect(new Set(proxy.seen.map((r) => r.headers['idempotency-key']))).to.deep.equal(new Set(['r-test:4']));
      expect(proxy.seen.every((r) => r.headers['content-encoding'] === 'gzip')).to.equal(true);
      expect(JSON.parse(gunzipSync(proxy.seen[2]!.body).toString()).batchIndex).to.equal(4);
      const log = await eventsText(t.dir);
      expect(log.match(/retrying POST \/v1\/predict after HTTP 503/g)).to.have.length(2);
      expect(log).to.match(/run=r-test .* batch=4 attempt=2 of=4/);
    } finally {
      await proxy.close();
      await api.close();
    }
  });

  it('retries 429 honouring Retry-After up to the cap', async () => {
    const api = await fakeApi();
    const proxy = await flakyProxy(api.url, { failures: 1, status: 429, retryAfter: '1' });
    try {
      const t0 = Date.now();
      await new Sender(opts(proxy.url, { retryMaxDelayMs: 300 })).predict(request(1));
      const took = Date.now() - t0;
      expect(proxy.seen).to.have.length(2);
      expect(took).to.be.at.least(250); // waited for Retry-After, capped at 300 ms rather than 1 s
    } finally {
      await proxy.close();
      await api.close();
    }
  });

  it('gives up after retries+1 attempts when the API stays down, as unreachable', async () => {
    const api = await fakeApi();
    const proxy = await flakyProxy(api.url, { failures: 100 });
    try {
      const err = await new Sender(opts(proxy.url, { retries: 2 })).predict(request(1)).catch((e) => e);
      expect(err).to.be.instanceOf(SendError);
      expect(err.kind).to.equal('unreachable');
      expect(err.retryLater).to.equal(true);
      expect(proxy.seen).to.have.length(3);
    } finally {
      await proxy.close();
      await api.close();
    }
  });

  it('treats a refused connection as unreachable', async () => {
    const api = await fakeApi();
    const url = api.url;
    await api.close();
    const err = await new Sender(opts(url, { retries: 1 })).predict(request(1)).catch((e) => e);
    expect(err).to.be.instanceOf(SendError);
    expect(err.kind).to.equal('unreachable');
    expect(err.message).to.match(/ECONNREFUSED/);
  });

  it('retries a timeout, and does not retry a 400', async () => {
    let calls = 0;
    const slow = createServer(() => void calls++); // never answers
    const url = await listen(slow);
    try {
      const err = await new Sender(opts(url, { retries: 1, timeoutMs: 100 })).predict(request(1)).catch((e) => e);
      expect(err.kind).to.equal('unreachable');
      expect(calls).to.equal(2);
    } finally {
      await closeServer(slow);
    }
    const api = await fakeApi();
    try {
      const err = await new Sender(opts(api.url)).predict(request(3)).catch((e) => e);
      expect(err.kind).to.equal('rejected');
      expect(err.retryLater).to.equal(false);
      expect(err.message).to.match(/HTTP 400 too many/);
      expect(api.seen).to.have.length(1);
      expect(await new Sender(opts(api.url)).complete('never-sent', { failures: 0 })).to.equal('unknown-run');
    } finally {
      await api.close();
    }
  });

  it('backs off exponentially with jitter, capped', () => {
    expect(backoffDelay(1, 1000, 60000, 0, () => 0)).to.equal(500);
    expect(backoffDelay(1, 1000, 60000, 0, () => 1)).to.equal(1000);
    expect(backoffDelay(3, 1000, 60000, 0, () => 1)).to.equal(4000);
    expect(backoffDelay(10, 1000, 60000, 0, () => 1)).to.equal(60000);
    expect(backoffDelay(10, 1000, 60000, 0, () => 0)).to.equal(30000);
    expect(backoffDelay(1, 1000, 60000, 120000, () => 0)).to.equal(60000);
  });
});

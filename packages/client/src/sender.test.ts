import { expect } from 'chai';
import { createServer } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { CLASS_NAMES, PIXELS_PER_IMAGE, createLogger, encodePixels, type PredictRequest } from '@refund-vision/shared';
import { SendError, Sender, backoffDelay, type SenderOptions } from './sender.ts';
import { closeServer, eventsText, flakyProxy, listen, tempDir, type Recorded } from './test-support.ts';

/** A minimal real server speaking the /v1/predict contract (answers class = image position % 10). */
const fakeApi = () => fakeApiOn(0);

async function fakeApiOn(port: number) {
  const seen: Recorded[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      if (req.url === '/readyz') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ready"}');
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
  return { url: await listen(server, port), seen, close: () => closeServer(server) };
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

  it('spreads requests round-robin over several replicas', async () => {
    const apis = await Promise.all([fakeApi(), fakeApi(), fakeApi()]);
    const sender = new Sender(opts(apis[0]!.url, { apiUrls: apis.map((a) => a.url) }));
    try {
      const served = [];
      for (let i = 0; i < 6; i++) served.push((await sender.predict(request(1))).servedBy);
      expect(apis.map((a) => a.seen.length)).to.deep.equal([2, 2, 2]);
      expect(new Set(served)).to.deep.equal(new Set(apis.map((a) => a.url)));
    } finally {
      sender.close();
      await Promise.all(apis.map((a) => a.close()));
    }
  });

  it('fails over at once from a replica that stops answering, and takes it back when /readyz says ready', async () => {
    const a = await fakeApi();
    let b = await fakeApi();
    const bPort = new URL(b.url).port;
    // base retry delay of 1 s: a failover that waited for backoff would show in the time taken
    const sender = new Sender(opts(a.url, { apiUrls: [a.url, b.url], retryBaseDelayMs: 1000, retryMaxDelayMs: 1000 }));
    try {
      await b.close(); // b stops: connections refused
      const t0 = performance.now();
      for (let i = 0; i < 4; i++) expect((await sender.predict(request(1))).servedBy).to.equal(a.url);
      expect(performance.now() - t0).to.be.below(900);
      expect(a.seen).to.have.length(4);
      expect(sender.replicas.healthy().map((r) => r.url)).to.deep.equal([a.url]);
      const log = await eventsText(t.dir);
      expect(log).to.match(new RegExp(`WARN .*API replica down, failing over: http://127\\.0\\.0\\.1:${bPort} \\(ECONNREFUSED\\)`));
      expect(log).to.match(/retrying POST \/v1\/predict after ECONNREFUSED .*delayMs=0/);

      // b comes back on its port: the probe (after ~1 s) finds it ready and it takes batches again
      b = await fakeApiOn(Number(bPort));
      const deadline = performance.now() + 5000;
      while (sender.replicas.healthy().length < 2 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(sender.replicas.healthy()).to.have.length(2);
      const served = new Set<string>();
      for (let i = 0; i < 4; i++) served.add((await sender.predict(request(1))).servedBy);
      expect(served.size).to.equal(2);
      expect(await eventsText(t.dir)).to.match(/API replica back: .*\/readyz 200/);
    } finally {
      sender.close();
      await a.close();
      await b.close();
    }
  });

  it('with every replica down, gives up after retries+1 attempts as unreachable', async () => {
    const apis = await Promise.all([fakeApi(), fakeApi()]);
    const urls = apis.map((x) => x.url);
    await Promise.all(apis.map((x) => x.close()));
    const sender = new Sender(opts(urls[0]!, { apiUrls: urls, retries: 3 }));
    try {
      const err = await sender.predict(request(1)).catch((e) => e);
      expect(err).to.be.instanceOf(SendError);
      expect(err.kind).to.equal('unreachable');
      expect(sender.replicas.healthy()).to.have.length(0);
      expect(await sender.waitReady(100, 20)).to.equal(false);
    } finally {
      sender.close();
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

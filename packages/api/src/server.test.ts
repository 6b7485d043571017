import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@refund-vision/shared';
import { startServer } from './server.ts';
import { predictBody, send, sharedClassifier, useTestServer, startTestServer, testBatch, testConfig, testLogger } from './test-support.ts';

describe('API server', () => {
  describe('without a key, on loopback', () => {
    const srv = useTestServer();

    it('is live and ready once the model is warm', async () => {
      expect((await send(`${srv.url}/healthz`)).status).to.equal(200);
      const ready = await send(`${srv.url}/readyz`);
      expect(ready.status).to.equal(200);
      expect(ready.body.model.version).to.equal(srv.classifier.version);
      expect(srv.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    });

    it('exposes Prometheus metrics: requests by route and status, predictions by class, confidence, model info', async () => {
      const { pixels } = await testBatch(5);
      await send(`${srv.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'prom' }) });
      const res = await fetch(`${srv.url}/metrics`);
      const text = await res.text();
      expect(res.headers.get('content-type')).to.match(/text\/plain/);
      expect(text).to.match(/refund_vision_http_requests_total\{method="POST",route="\/v1\/predict",status="200"\} 1/);
      expect(text).to.match(
        /refund_vision_http_request_duration_seconds_bucket\{le="[^"]+",method="POST",route="\/v1\/predict",status="200"\}/,
      );
      const perClass = [...text.matchAll(/refund_vision_predictions_total\{class="[^"]+"\} (\d+)/g)].map((m) => Number(m[1]));
      expect(perClass).to.have.length(10);
      expect(perClass.reduce((a, b) => a + b, 0)).to.equal(5);
      expect(text).to.match(/refund_vision_prediction_confidence_count 5/);
      expect(text).to.include(`refund_vision_model_info{version="${srv.classifier.version}",engine="${srv.classifier.engine}"} 1`);
    });

    it('serves the OpenAPI document and a Swagger UI from its own origin', async () => {
      const doc = await send(`${srv.url}/openapi.json`);
      expect(doc.body.openapi).to.match(/^3\./);
      for (const p of [
        '/v1/predict',
        '/predict',
        '/v1/predict/image',
        '/v1/runs',
        '/v1/runs/{id}',
        '/v1/runs/{runKey}/complete',
        '/v2/models/fashion-cnn/infer',
        '/metrics',
        '/v1/predictions/{id}/feedback',
        '/v1/summary',
        '/v1/reviews',
        '/v1/reviews/claim',
        '/v1/reviews/{id}/decision',
        '/v1/reviews/{id}/saliency',
        '/v1/reviews/thumbnails',
      ]) {
        expect(doc.body.paths, p).to.have.property(p);
      }
      expect(doc.body.components.schemas.PredictRequest.properties).to.have.property('pixels');
      const page = await fetch(`${srv.url}/docs`);
      const html = await page.text();
      expect(html).to.include('/docs/assets/swagger-ui-bundle.js');
      expect(html).to.not.match(/https?:\/\//);
      const csp = page.headers.get('content-security-policy')!;
      expect(csp).to.include("script-src 'self'");
      expect(csp).to.not.include('upgrade-insecure-requests');
      const bundle = await fetch(`${srv.url}/docs/assets/swagger-ui-bundle.js`);
      expect(bundle.status).to.equal(200);
      expect((await bundle.arrayBuffer()).byteLength).to.be.greaterThan(100_000);
      expect((await fetch(`${srv.url}/docs/init.js`)).status).to.equal(200);
    });

    it('sends security headers and answers unknown routes with 404 JSON', async () => {
      const res = await send(`${srv.url}/no/such/route`);
      expect(res.status).to.equal(404);
      expect(res.body.error.code).to.equal('not-found');
      expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
      expect(res.headers.get('x-powered-by')).to.equal(null);
      const weird = await send(`${srv.url}/v1/runs/%E0%A4%A`);
      expect(weird.status).to.be.within(400, 404);
      expect(weird.text).to.not.match(/at .*\.ts:\d+/);
    });

    it('finishes an in-flight request when closed, then refuses new connections', async () => {
      const own = await startTestServer();
      const { pixels } = await testBatch(500);
      const arrived = new Promise((r) => own.server.once('request', r));
      const inFlight = send(`${own.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'drain' }) });
      await arrived;
      const closing = own.close();
      const res = await inFlight;
      await closing;
      expect(res.status).to.equal(200);
      expect(res.body.predictions).to.have.length(500);
      expect(own.store.closed).to.equal(true);
      let refused = false;
      await fetch(`${own.url}/healthz`).catch(() => (refused = true));
      expect(refused).to.equal(true);
      await own.stop();
    });
  });

  it('answers a real failure (its database gone) with a 503 JSON with a stable code and no stack, and stops being ready', async () => {
    const own = await startTestServer();
    try {
      await own.store.close();
      const { pixels } = await testBatch(2);
      const res = await send(`${own.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'no-db' }) });
      expect(res.status).to.equal(503);
      expect(res.body).to.deep.equal({ error: { code: 'store-unavailable', message: 'the metrics store is unavailable; retry later' } });
      expect((await send(`${own.url}/readyz`)).status).to.equal(503);
      expect((await send(`${own.url}/healthz`)).status).to.equal(200);
    } finally {
      await own.stop();
    }
  });

  describe('with an API key', () => {
    const key = 'k'.repeat(8) + '-secret-test-key';
    const srv = useTestServer({ api: { apiKey: key } });

    it('requires Authorization: Bearer <key> everywhere but health and readiness', async () => {
      for (const p of ['/healthz', '/readyz', '/v2/health/live', '/v2/health/ready'])
        expect((await send(`${srv.url}${p}`)).status, p).to.equal(200);
      // the page shells are public (dashboard/dashboard.test.ts covers that split in full)
      for (const p of ['/', '/review', '/docs', '/openapi.json']) expect((await send(`${srv.url}${p}`)).status, p).to.equal(200);
      for (const p of ['/metrics', '/v1/runs', '/v2/models/fashion-cnn', '/v1/history', '/v1/reviews', '/v1/reviews/decisions']) {
        const res = await send(`${srv.url}${p}`);
        expect(res.status, p).to.equal(401);
        expect(res.headers.get('www-authenticate')).to.match(/^Bearer/);
      }
      const { pixels } = await testBatch(1);
      const body = predictBody(pixels, { runKey: 'auth' });
      expect(
        (await send(`${srv.url}/v1/predict`, { json: body, headers: { authorization: 'Bearer wrong-key-wrong-key' } })).status,
      ).to.equal(401);
      expect((await send(`${srv.url}/v1/predict`, { json: body, headers: { authorization: key } })).status).to.equal(401);
      expect((await send(`${srv.url}/v1/predict`, { json: body, headers: { authorization: `Bearer ${key}` } })).status).to.equal(200);
      expect((await send(`${srv.url}/v1/runs`, { headers: { authorization: `bearer ${key}` } })).status).to.equal(200);
    });
  });

  it('refuses to start on a non-loopback address without an API key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rv-api-'));
    try {
      const config = testConfig(dir, { api: { host: '0.0.0.0' } });
      let err: unknown;
      await startServer({ config, classifier: await sharedClassifier(), logger: testLogger() }).catch((e) => (err = e));
      expect(err).to.be.instanceOf(ConfigError);
      expect((err as Error).message).to.match(/API_KEY/);
      const keyed = await startServer({
        config: testConfig(dir, { api: { host: '0.0.0.0', apiKey: 'x'.repeat(20) } }),
        classifier: await sharedClassifier(),
        logger: testLogger(),
      });
      expect(keyed.url).to.match(/^http:\/\/0\.0\.0\.0:\d+$/);
      await keyed.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

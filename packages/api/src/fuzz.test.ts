/**
 * Thousands of generated bad requests against the real server (tfjs wasm engine, so leaked tensors
 * would show): never a 5xx, always a JSON error, still ready afterwards, no tensor left behind.
 */
import { expect } from 'chai';
import { gzipSync } from 'node:zlib';
import { loadClassifier, tensorCount, type Classifier } from '@refund-vision/model';
import { encodePixels, PIXELS_PER_IMAGE } from '@refund-vision/shared';
import { modelDir, predictBody, seeded, startTestServer, testLogger, type TestServer } from './test-support.ts';
import { startServer } from './server.ts';

interface Case {
  path: string;
  method?: string;
  body?: Buffer | string;
  headers: Record<string, string>;
  kind: string;
}

const ROUNDS = 2500;
const LIMIT = 256 * 1024;

function generator(seed: number) {
  const rand = seeded(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const weird = (): unknown =>
    pick([
      null,
      true,
      false,
      0,
      -1,
      1.5,
      1e308,
      -1e308,
      2 ** 53 + 1,
      'NaN',
      'Infinity',
      '',
      'x'.repeat(int(3000)),
      [],
      {},
      [[[]]],
      { a: { b: 1 } },
      '\u0000',
      '💥',
      -0,
    ]);
  const pixels = (n: number) => new Uint8Array(n * PIXELS_PER_IMAGE).map(() => int(256));
  const json = { 'content-type': 'application/json' };

  const validV1 = () => predictBody(pixels(1 + int(3)), { runKey: `fuzz-${int(50)}`, batchIndex: int(5) }) as Record<string, unknown>;
  const legacy = (rows: number) => {
    const frame: Record<string, Record<string, unknown>> = {};
    for (let c = 0; c < PIXELS_PER_IMAGE; c++)
      frame[String(c)] = Object.fromEntries(Array.from({ length: rows }, (_, r) => [String(r + 1), int(256)]));
    return frame;
  };
  const v2 = () => ({
    inputs: [{ name: 'input', shape: [1, 784], datatype: 'UINT8', data: Array.from(pixels(1)) }] as Record<string, unknown>[],
  });

  const mutate = (obj: Record<string, unknown>): Record<string, unknown> => {
    const o = structuredClone(obj);
    const keys = Object.keys(o);
    const k = pick(keys);
    switch (int(4)) {
      case 0:
        o[k] = weird();
        break;
      case 1:
        delete o[k];
        break;
      case 2:
        o[`extra${int(9)}`] = weird();
        break;
      default:
        if (Array.isArray(o.images))
          o.images = (o.images as unknown[]).map((im) =>
            rand() < 0.5 ? { ...(im as object), [pick(['id', 'label', 'hash', 'group'])]: weird() } : im,
          );
        else o[k] = [o[k], o[k]];
    }
    return o;
  };

  const cases: (() => Case)[] = [
    // truncated JSON
    () => {
      const s = JSON.stringify(pick([validV1(), v2(), { failures: 1 }]));
      return {
        path: pick(['/v1/predict', '/v2/models/fashion-cnn/infer', '/predict']),
        body: s.slice(0, int(s.length)),
        headers: json,
        kind: 'truncated',
      };
    },
    // wrong types and missing/extra fields
    () => ({ path: '/v1/predict', body: JSON.stringify(mutate(validV1())), headers: json, kind: 'v1-mutated' }),
    () => {
      const body = v2();
      body.inputs[0] = mutate(body.inputs[0]!);
      return {
        path: '/v2/models/fashion-cnn/infer',
        body: JSON.stringify(rand() < 0.5 ? body : mutate(body)),
        headers: json,
        kind: 'v2-mutated',
      };
    },
    () => {
      const f = legacy(1);
      const col = String(int(PIXELS_PER_IMAGE));
      if (rand() < 0.5) f[col] = { '1': weird() } as Record<string, unknown>;
      else delete f[col];
      return { path: '/predict', body: JSON.stringify(f), headers: json, kind: 'legacy-mutated' };
    },
    // huge numbers and out-of-range values
    () => {
      const b = validV1();
      b.batchIndex = pick([1e300, -5, 1.5, 2 ** 60, '3']);
      return { path: '/v1/predict', body: JSON.stringify(b), headers: json, kind: 'range' };
    },
    () => {
      const b = v2();
      const data = b.inputs[0]!.data as unknown[];
      // eslint-disable-next-line no-loss-of-precision -- 1e309 overflows to Infinity on purpose
      data[int(data.length)] = pick([256, -1, 1e309, 3.5, 'NaN', null]);
      b.inputs[0]!.datatype = pick(['UINT8', 'FP32']);
      return { path: '/v2/models/fashion-cnn/infer', body: JSON.stringify(b).replace('1e309', '1e309'), headers: json, kind: 'v2-range' };
    },
    // deep nesting
    () => {
      const depth = 20 + int(5000);
      const open = pick(['[', '{"a":']);
      const close = open === '[' ? ']' : '}';
      return {
        path: pick(['/v1/predict', '/predict', '/v2/models/fashion-cnn/infer', '/v1/runs/r/complete']),
        body: open.repeat(depth) + '1' + close.repeat(depth),
        headers: json,
        kind: 'deep',
      };
    },
    // wrong lengths
    () => {
      const b = validV1();
      const px = b.pixels as string;
      b.pixels = pick([px.slice(0, -4), `${px}AAAA`, px.replace(/[A-Z]/, '!'), encodePixels(pixels(1)).slice(0, 100), '']);
      return { path: '/v1/predict', body: JSON.stringify(b), headers: json, kind: 'length' };
    },
    () => {
      const b = v2();
      b.inputs[0]!.shape = pick([[1, 28, 28], [2, 784], [1, 783], [1, 28, 28, 3], [784], [1, 1, 1, 1, 1], [-1, 784]]);
      return { path: '/v2/models/fashion-cnn/infer', body: JSON.stringify(b), headers: json, kind: 'v2-shape' };
    },
    // random bytes
    () => ({
      path: pick(['/v1/predict', '/predict', '/v2/models/fashion-cnn/infer', '/v1/predict/image']),
      body: Buffer.from(pixels(1).subarray(0, 1 + int(700))),
      headers: pick([json, { 'content-type': 'multipart/form-data; boundary=b' }, { 'content-type': 'application/octet-stream' }]),
      kind: 'bytes',
    }),
    // wrong content types
    () => ({
      path: pick(['/v1/predict', '/predict', '/v2/models/fashion-cnn/infer', '/v1/predict/image', '/v1/runs/r/complete']),
      body: JSON.stringify(validV1()),
      headers: pick([
        { 'content-type': 'text/plain' },
        { 'content-type': 'application/x-www-form-urlencoded' },
        { 'content-type': 'multipart/form-data' },
        { 'content-type': 'application/json; charset=latin9' },
        {} as Record<string, string>,
      ]),
      kind: 'content-type',
    }),
    // bad encodings
    () => ({
      path: '/v1/predict',
      body: pick([Buffer.from('not gzip at all'), gzipSync(JSON.stringify(validV1())).subarray(0, 50)]),
      headers: { ...json, 'content-encoding': pick(['gzip', 'deflate', 'zstd', 'br']) },
      kind: 'encoding',
    }),
    // oversize
    () => ({
      path: pick(['/v1/predict', '/predict', '/v2/models/fashion-cnn/infer']),
      body: `{"pad":"${'A'.repeat(LIMIT + int(LIMIT))}"}`,
      headers: json,
      kind: 'oversize',
    }),
    () => ({
      path: '/v1/predict',
      body: gzipSync(`{"pad":"${'A'.repeat(LIMIT * 4)}"}`),
      headers: { ...json, 'content-encoding': 'gzip' },
      kind: 'gzip-bomb',
    }),
    // garbage in paths and queries
    () => ({
      path: pick([
        '/v1/runs?limit=',
        '/v1/runs?limit=-3',
        '/v1/runs?cursor=%00',
        '/v1/runs?from=2026-13-45',
        '/v1/runs/%ZZ',
        `/v1/runs/${'9'.repeat(40)}`,
        '/v1/runs/x?limit=1e9',
        '/v2/models/%2e%2e/infer',
        '/v1/predictions/abc/feedback',
        '/v1/predictions/999999/feedback',
      ]),
      method: pick(['GET', 'POST']),
      body: undefined,
      headers: {},
      kind: 'query',
    }),
    () => ({
      path: '/v1/runs/fuzz-1/complete',
      body: JSON.stringify(pick([{ failures: weird() }, { processMs: weird() }, { imagesSeen: -1 }, [1], 'x', 5])),
      headers: json,
      kind: 'complete',
    }),
  ];
  return () => pick(cases)();
}

describe('fuzz: generated bad requests against the real server', () => {
  let srv: TestServer;
  let classifier: Classifier;
  before(async () => {
    classifier = await loadClassifier({ dir: modelDir(), backend: 'wasm' });
    srv = await startTestServer({ api: { bodyLimitBytes: LIMIT, maxBatch: 16 } });
    // this suite's own server on the tfjs engine, so the tensor count means something
    await srv.close();
    const own = await startServer({ config: srv.config, classifier, logger: testLogger() });
    srv = { ...srv, ...own, stop: srv.stop };
  });
  after(async () => {
    await srv?.close();
    await srv?.stop();
    await classifier?.dispose();
  });

  it(`answers ${ROUNDS} bad requests with 4xx JSON (or a success), never a 5xx, and keeps serving`, async function () {
    this.timeout(120_000);
    const next = generator(20261121);
    // one warm request so the engine's first-use allocations are not counted as a leak
    await fetch(`${srv.url}/v1/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(predictBody(new Uint8Array(PIXELS_PER_IMAGE), { runKey: 'warm' })),
    });
    const tensorsBefore = tensorCount();
    const failures: string[] = [];
    const byStatus = new Map<number, number>();
    let i = 0;
    const worker = async () => {
      while (i < ROUNDS) {
        i++;
        const c = next();
        let status = 0;
        let text = '';
        try {
          const res = await fetch(`${srv.url}${c.path}`, {
            method: c.method ?? 'POST',
            headers: c.headers,
            body: c.body as RequestInit['body'],
          });
          status = res.status;
          text = await res.text();
        } catch (e) {
          failures.push(`${c.kind} ${c.path}: network error ${(e as Error).message}`);
          continue;
        }
        byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
        if (status >= 500) failures.push(`${c.kind} ${c.path}: ${status} ${text.slice(0, 200)}`);
        if (status >= 400) {
          let body: any;
          try {
            body = JSON.parse(text);
          } catch {
            failures.push(`${c.kind} ${c.path}: ${status} without JSON: ${text.slice(0, 100)}`);
            continue;
          }
          const ok = typeof body?.error === 'string' || (typeof body?.error?.code === 'string' && typeof body?.error?.message === 'string');
          if (!ok) failures.push(`${c.kind} ${c.path}: ${status} body ${text.slice(0, 100)}`);
          if (/\bat .+:\d+:\d+/.test(text)) failures.push(`${c.kind} ${c.path}: stack trace in answer`);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(failures.slice(0, 10), `${failures.length} failures`).to.deep.equal([]);
    const fourXX = [...byStatus].filter(([s]) => s >= 400 && s < 500).reduce((a, [, n]) => a + n, 0);
    expect(fourXX).to.be.greaterThan(ROUNDS * 0.8);
    expect((await fetch(`${srv.url}/readyz`)).status).to.equal(200);
    expect(tensorCount()).to.equal(tensorsBefore);
  });
});

/**
 * Adversarial test of the upload route (issue #12 "Done when"): a few hundred generated multipart
 * requests — broken boundaries, header lines without colons, CR/LF inside names, truncated and
 * flipped bodies, lying Content-Lengths, bomb images, garbage after the form — sent over raw loopback
 * sockets, 16 at a time. Every one must get an HTTP answer before its deadline, none a 5xx, and the
 * server must be alive and ready afterwards. Seeded, so a failure names a case that can be replayed.
 */
import { expect } from 'chai';
import { deflateSync } from 'node:zlib';
import { buildPng } from '@refund-vision/model';
import { rawRequest, rle8Bomb, seeded, send, useTestServer, type RawAnswer } from '../test-support.ts';

const CASES = 800;
const PARALLEL = 16;
const REQUEST_TIMEOUT_MS = 1500;

interface Case {
  kind: string;
  chunks: Buffer[];
}

function smallPng(side: number, seed: number): Buffer {
  const raw = Buffer.alloc((side + 1) * side);
  for (let i = 0; i < raw.length; i++) raw[i] = i % (side + 1) === 0 ? 0 : (i * 31 + seed) & 255;
  return buildPng({ width: side, height: side, depth: 8, colorType: 0 }, deflateSync(raw));
}

function generator(seed: number) {
  const rand = seeded(seed);
  const int = (n: number) => Math.floor(rand() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const png = smallPng(64, seed);

  const fileData = (): Buffer =>
    pick([
      () => png,
      () => png,
      () => png.subarray(0, int(png.length)),
      () => rle8Bomb(3000 + int(7000), 3000 + int(7000)),
      () => Buffer.from(Array.from({ length: int(400) }, () => int(256))),
      () => Buffer.alloc(0),
      () => Buffer.concat([png, Buffer.from('\r\n--B\r\n')]),
    ])();
  const filename = () =>
    pick(['a.png', '', 'a\r\nb.png', 'a"b.png', '../../etc/passwd', 'ä😀.png', 'x'.repeat(int(3000)), '\u0000.png', 'a\nb']);
  const partHeaders = (b: string) =>
    pick([
      () => `Content-Disposition: form-data; name="f"; filename="a.png"\r\n`,
      () => `Content-Disposition: form-data; name="f"; filename="a.png"\r\n`,
      () => `Content-Disposition: form-data; name="f"; filename="${filename()}"\r\nContent-Type: image/png\r\n`,
      () => `Content-Disposition: form-data; name="b"; filename="a\r\nb.png"\r\n`, // a header line without a colon
      () => `Content-Disposition: form-data\r\n`,
      () => `content-disposition:form-data;name=f;filename=${filename()}\r\n`,
      () => `Content-Disposition: form-data; name="${'n'.repeat(int(5000))}"\r\n`,
      () => `X-Junk: ${'j'.repeat(int(100_000))}\r\n`,
      () => Array.from({ length: int(400) }, (_, i) => `H${i}: v`).join('\r\n') + '\r\n',
      () => `Content-Disposition: form-data; name="f"; filename*=UTF-8''%E2%82%AC.png\r\n`,
      () => `--${b}\r\n`,
      () => '',
    ])();
  const part = (b: string) => Buffer.concat([Buffer.from(`--${b}\r\n${partHeaders(b)}\r\n`, 'latin1'), fileData(), Buffer.from('\r\n')]);
  const boundary = () => pick(['B', 'XB', '-', 'a'.repeat(70), 'a'.repeat(200), '"q"', 'b c', '😀', '']);

  return (): Case => {
    const b = pick(['B', 'XB', 'B', 'B', boundary()]);
    const parts = Array.from({ length: int(5) }, () => part(b));
    let body = Buffer.concat([
      pick([Buffer.alloc(0), Buffer.alloc(0), Buffer.from('preamble garbage\r\n')]),
      ...parts,
      pick([Buffer.from(`--${b}--\r\n`), Buffer.alloc(0), Buffer.from(`--${b}--\r\nepilogue`), Buffer.from(`--${b}`)]),
    ]);
    const mutation = int(12);
    if (mutation === 0 && body.length) body = body.subarray(0, int(body.length));
    if (mutation === 1) for (let k = 0; k < 1 + int(8) && body.length; k++) body[int(body.length)] = int(256);
    if (mutation === 2) body = Buffer.from(body.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
    const type = pick([
      `multipart/form-data; boundary=${b}`,
      `multipart/form-data; boundary="${b}"`,
      'multipart/form-data',
      `multipart/form-data; boundary=${b}; charset=utf-16`,
      `MULTIPART/FORM-DATA; BOUNDARY=${b}`,
      `multipart/mixed; boundary=${b}`,
    ]);
    const lengthChoice = int(20);
    // Mostly honest; sometimes short (the rest arrives as a garbage second request), rarely long
    // (the request never completes: the request timeout answers it), sometimes absent or chunked.
    const length =
      lengthChoice === 0
        ? `Content-Length: ${body.length + 1 + int(1000)}\r\n`
        : lengthChoice <= 2
          ? `Content-Length: ${int(body.length)}\r\n`
          : lengthChoice === 3
            ? ''
            : lengthChoice === 4
              ? 'Transfer-Encoding: chunked\r\n'
              : `Content-Length: ${body.length}\r\n`;
    const chunked = lengthChoice === 4;
    const head = Buffer.from(`POST /v1/predict/image HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\n${length}\r\n`, 'latin1');
    const payload = chunked ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]) : body;
    const split = int(payload.length + 1);
    return {
      kind: `boundary=${JSON.stringify(b)} parts=${parts.length} mutation=${mutation} length=${lengthChoice} type=${JSON.stringify(type)}`,
      chunks: [head, payload.subarray(0, split), payload.subarray(split)],
    };
  };
}

describe('upload route under multipart fuzzing (adversarial, bounded)', function () {
  this.timeout(120_000);
  // maxInFlight above PARALLEL: this is about malformed input, not about shedding (load-shed.test.ts).
  const srv = useTestServer({
    api: { requestTimeoutMs: REQUEST_TIMEOUT_MS, headersTimeoutMs: 1000, uploadMaxBytes: 1024 * 1024, maxInFlight: 4 * PARALLEL },
  });

  it(`${CASES} generated forms: each answered before its deadline, never a 5xx; the server stays ready`, async () => {
    const next = generator(12);
    const cases = Array.from({ length: CASES }, next);
    const results: { c: Case; a: RawAnswer }[] = [];
    let i = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (i < cases.length) {
          const c = cases[i++]!;
          results.push({ c, a: await rawRequest(srv.port, c.chunks, REQUEST_TIMEOUT_MS + 3000) });
        }
      }),
    );
    const wall = performance.now() - t0;
    const unanswered = results.filter((r) => r.a.status === undefined);
    const fivexx = results.filter((r) => r.a.status! >= 500);
    const describe = (r: { c: Case; a: RawAnswer }) => `${r.c.kind} → ${r.a.status ?? 'no answer'} ${r.a.text.slice(0, 160)}`;
    expect(unanswered.map(describe), 'requests without an answer').to.deep.equal([]);
    expect(fivexx.map(describe), '5xx answers').to.deep.equal([]);
    const statuses = new Map<number, number>();
    for (const r of results) statuses.set(r.a.status!, (statuses.get(r.a.status!) ?? 0) + 1);
    // The fuzzing reached the route's own answers, not only Node's parser errors.
    expect(statuses.get(200) ?? 0, JSON.stringify([...statuses])).to.be.above(0);
    expect(results.filter((r) => r.a.text.includes('"error":{"code":')).length).to.be.above(CASES / 4);
    expect(wall).to.be.below(60_000);
    const ready = await send(`${srv.url}/readyz`);
    expect(ready.status).to.equal(200);
  });
});

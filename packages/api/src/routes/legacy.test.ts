import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { LEGACY_CLASS_NAMES, PIXELS_PER_IMAGE } from '@refund-vision/shared';
import { pick } from '../dashboard/seed.ts';
import { fashionTest, predictBody, send, useTestServer, testBatch } from '../test-support.ts';
import { rowOrderFromText } from './legacy.ts';

/** Written by real pandas: see fixtures/make-legacy-fixture.py. */
const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');

/**
 * What `pandas.DataFrame(rows, index=labels).to_json()` writes for an N×784 int frame: columns
 * "0".."783" in order, each an object of row label → value in index order, no spaces.
 */
function pandasToJson(pixels: Uint8Array, labels: string[]): string {
  const cols: string[] = [];
  for (let c = 0; c < PIXELS_PER_IMAGE; c++) {
    cols.push(`"${c}":{${labels.map((l, r) => `"${l}":${pixels[r * PIXELS_PER_IMAGE + c]}`).join(',')}}`);
  }
  return `{${cols.join(',')}}`;
}

describe('POST /predict (legacy pandas format)', () => {
  const srv = useTestServer();

  it('round-trips a frame built like the old client builds it: [[num, item, confidence_percent], …] in row order', async () => {
    const { pixels, labels } = await testBatch(8, 1000);
    const rowLabels = labels.map((_, i) => String(i + 1));
    const body = pandasToJson(pixels, rowLabels);
    expect(body.length / 8).to.be.within(5000, 7000); // ~6 kB per image, as the old system sent
    const res = await send(`${srv.url}/predict`, { body, headers: { 'Content-type': 'application/json' } });
    expect(res.status).to.equal(200);
    expect(res.body).to.be.an('array').with.length(8);
    const v1 = await srv.classifier.predict(pixels, 8);
    res.body.forEach((row: unknown[], i: number) => {
      expect(row).to.have.length(3);
      const [num, item, pct] = row as [number, string, number];
      expect(num).to.equal(i + 1);
      expect(LEGACY_CLASS_NAMES).to.include(item);
      const best = Array.from(v1.subarray(i * 10, i * 10 + 10)).reduce((b, p, k, a) => (p > a[b]! ? k : b), 0);
      expect(item).to.equal(LEGACY_CLASS_NAMES[best]);
      expect(pct).to.be.closeTo(v1[i * 10 + best]! * 100, 0.01);
      expect(Math.round(pct * 100) / 100).to.equal(pct);
    });
    const legacyRuns = (await srv.store.runs.listRuns()).items.filter((r) => r.source === 'legacy');
    expect(legacyRuns).to.have.length(1);
    expect(legacyRuns[0]).to.deep.include({ status: 'completed', images: 8 });
  });

  it('keeps the row order of the frame even when its labels are not sorted', async () => {
    const { pixels } = await testBatch(3, 2000);
    const labels = ['30', '4', '200'];
    const res = await send(`${srv.url}/predict`, { body: pandasToJson(pixels, labels), headers: { 'content-type': 'application/json' } });
    expect(res.body.map((r: unknown[]) => r[0])).to.deep.equal([30, 4, 200]);
    const single = await send(`${srv.url}/predict`, {
      body: pandasToJson(pixels.subarray(PIXELS_PER_IMAGE, 2 * PIXELS_PER_IMAGE), ['4']),
      headers: { 'content-type': 'application/json' },
    });
    expect(single.body[0][1]).to.equal(res.body[1][1]);
    expect(rowOrderFromText('{ "0" : { "b": 1, "a" : 2 } }')).to.deep.equal(['b', 'a']);
  });

  describe('against the bytes real pandas wrote (fixtures/legacy-pandas.json)', () => {
    const body = fixture('legacy-pandas.json');
    const meta = JSON.parse(fixture('legacy-pandas.meta.json')) as { testIndices: number[]; rowLabels: number[]; pandas: string };

    it('our hand-built body is byte for byte what pandas writes', async () => {
      const pixels = pick((await fashionTest()).images, meta.testIndices);
      expect(pandasToJson(pixels, meta.rowLabels.map(String))).to.equal(body);
      // pandas keeps the frame's order: columns 0..783, inner keys in index order, never sorted
      // (read from the text itself, not with the route's own parser)
      const firstColumn = /^\{"0":\{([^}]*)\}/.exec(body)![1]!;
      expect([...firstColumn.matchAll(/"(\d+)":/g)].map((m) => m[1])).to.deep.equal(meta.rowLabels.map(String));
      expect(body.startsWith('{"0":{"1":')).to.equal(true);
    });

    it('answers [[num, item, confidence_percent], …] in row order with the classes /v1/predict gives', async () => {
      const res = await send(`${srv.url}/predict`, { body, headers: { 'Content-type': 'application/json' } });
      expect(res.status, res.text).to.equal(200);
      const pixels = pick((await fashionTest()).images, meta.testIndices);
      const v1 = await send(`${srv.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'legacy-vs-v1' }) });
      expect(v1.status).to.equal(200);
      // The percentage is checked against its definition (confidence × 100, two decimals at most),
      // not recomputed with the route's own rounding expression.
      expect(res.body).to.have.length(meta.rowLabels.length);
      v1.body.predictions.forEach((p: { classIndex: number; confidence: number }, i: number) => {
        const [num, item, percent] = res.body[i] as [number, string, number];
        expect([num, item]).to.deep.equal([meta.rowLabels[i], LEGACY_CLASS_NAMES[p.classIndex]]);
        expect(percent).to.be.closeTo(p.confidence * 100, 0.005);
        expect(percent.toString()).to.match(/^\d{1,3}(\.\d{1,2})?$/);
      });
      expect(res.text.startsWith('[[1,"')).to.equal(true);
    });

    it('refuses the other to_json orients with a message that names them', async () => {
      // The shapes pandas writes for orient= split / records / index / values / table (pandas 1.5).
      const pixels = pick((await fashionTest()).images, meta.testIndices.slice(0, 2));
      const rows = [0, 1].map((r) => Array.from(pixels.subarray(r * PIXELS_PER_IMAGE, (r + 1) * PIXELS_PER_IMAGE)));
      const cols = rows[0]!.map((_, c) => c);
      const asRecord = (row: number[]) => Object.fromEntries(row.map((v, c) => [String(c), v]));
      const bodies: Record<string, unknown> = {
        split: { columns: cols, index: [1, 2], data: rows },
        records: rows.map(asRecord),
        index: { '1': asRecord(rows[0]!), '2': asRecord(rows[1]!) },
        values: rows,
        table: {
          schema: { fields: [{ name: 'index', type: 'integer' }], primaryKey: ['index'], pandas_version: '1.4.0' },
          data: rows.map((r, i) => ({ index: i + 1, ...asRecord(r) })),
        },
      };
      for (const [orient, json] of Object.entries(bodies)) {
        const res = await send(`${srv.url}/predict`, { json });
        expect(res.status, orient).to.equal(400);
        expect(res.body.error.code, orient).to.equal('unsupported-orient');
        expect(res.body.error.message).to.include(`orient='${orient}'`).and.include("orient='columns'");
      }
    });
  });

  it('answers broken frames with 4xx JSON', async () => {
    const { pixels } = await testBatch(1);
    const good = JSON.parse(pandasToJson(pixels, ['1']));
    const bad = (mutate: (f: any) => void) => {
      const f = structuredClone(good);
      mutate(f);
      return f;
    };
    const cases = [
      bad((f) => delete f['783']),
      bad((f) => (f['5'] = { '1': 256 })),
      bad((f) => (f['5'] = { '1': -1 })),
      bad((f) => (f['5'] = { '1': 1.5 })),
      bad((f) => (f['5'] = { '1': 'x' })),
      bad((f) => (f['5'] = { '1': null })),
      bad((f) => (f['5'] = { '2': 3 })),
      bad((f) => (f['5'] = [1])),
      Object.fromEntries(Array.from({ length: 784 }, (_, c) => [String(c), {}])),
      [[1, 2, 3]],
    ];
    for (const json of cases) {
      const res = await send(`${srv.url}/predict`, { json });
      expect(res.status, JSON.stringify(res.body)).to.equal(400);
      expect(res.body.error.code).to.be.a('string');
    }
  });
});

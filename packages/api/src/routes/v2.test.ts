import { expect } from 'chai';
import { send, useTestServer, testBatch } from '../test-support.ts';

const nest = (flat: number[], shape: number[]): unknown[] => {
  if (shape.length === 1) return flat;
  const step = flat.length / shape[0]!;
  return Array.from({ length: shape[0]! }, (_, i) => nest(flat.slice(i * step, (i + 1) * step), shape.slice(1)));
};

describe('Open Inference Protocol V2', () => {
  const srv = useTestServer();

  it('serves server metadata, health, model metadata and model readiness', async () => {
    expect((await send(`${srv.url}/v2/health/live`)).body).to.deep.equal({ live: true });
    expect((await send(`${srv.url}/v2/health/ready`)).body).to.deep.equal({ ready: true });
    const server = await send(`${srv.url}/v2`);
    expect(server.body).to.include.keys('name', 'version', 'extensions');
    const model = await send(`${srv.url}/v2/models/fashion-cnn`);
    expect(model.body.name).to.equal('fashion-cnn');
    expect(model.body.versions).to.deep.equal([srv.classifier.version]);
    expect(model.body.outputs[0]).to.deep.include({ name: 'probabilities', datatype: 'FP32' });
    expect((await send(`${srv.url}/v2/models/fashion-cnn/versions/${srv.classifier.version}`)).status).to.equal(200);
    const ready = await send(`${srv.url}/v2/models/fashion-cnn/ready`);
    expect(ready.status).to.equal(200);
    expect(ready.body.ready).to.equal(true);
    const missing = await send(`${srv.url}/v2/models/resnet`);
    expect(missing.status).to.equal(404);
    expect(missing.body.error).to.be.a('string');
  });

  it('infers UINT8 and FP32 input in every accepted shape, flat or nested, with the same probabilities', async () => {
    const { pixels, labels } = await testBatch(4, 500);
    const flat = Array.from(pixels);
    const shapes = [
      [4, 28, 28],
      [4, 28, 28, 1],
      [4, 784],
    ];
    const expected = await srv.classifier.predict(pixels, 4);
    for (const shape of shapes) {
      for (const datatype of ['UINT8', 'FP32'] as const) {
        const values = datatype === 'UINT8' ? flat : flat.map((v) => v / 255);
        for (const data of [values, nest(values, shape)]) {
          const res = await send(`${srv.url}/v2/models/fashion-cnn/infer`, {
            json: { id: 'req-1', inputs: [{ name: 'input', shape, datatype, data }] },
          });
          expect(res.status, JSON.stringify(res.body)).to.equal(200);
          expect(res.body).to.deep.include({ model_name: 'fashion-cnn', id: 'req-1', model_version: srv.classifier.version });
          const out = res.body.outputs[0];
          expect(out).to.deep.include({ name: 'probabilities', datatype: 'FP32', shape: [4, 10] });
          expect(out.data).to.have.length(40);
          out.data.forEach((p: number, i: number) => expect(p).to.be.closeTo(expected[i]!, 1e-5));
        }
      }
    }
    const argmax = (row: number) => Array.from(expected.subarray(row * 10, row * 10 + 10)).reduce((b, p, k, a) => (p > a[b]! ? k : b), 0);
    expect([0, 1, 2, 3].filter((i) => argmax(i) === labels[i]).length).to.be.at.least(3);
    const v2Runs = (await srv.store.runs.listRuns({ limit: 100 })).items.filter((r) => r.source === 'v2');
    expect(v2Runs).to.have.length(12);
    expect(v2Runs.every((r) => r.status === 'completed' && r.images === 4)).to.equal(true);
  });

  it('answers bad inferences with 4xx and {"error": message}', async () => {
    const ok = { name: 'input', shape: [1, 784], datatype: 'UINT8', data: new Array(784).fill(0) };
    const cases: [unknown, number][] = [
      [{ inputs: [{ ...ok, datatype: 'INT64' }] }, 400],
      [{ inputs: [{ ...ok, shape: [1, 28, 27] }] }, 400],
      [{ inputs: [{ ...ok, shape: [2, 784] }] }, 400],
      [{ inputs: [{ ...ok, data: [...ok.data.slice(1), 256] }] }, 400],
      [{ inputs: [{ ...ok, datatype: 'FP32', data: [...ok.data.slice(1), 3] }] }, 400],
      [{ inputs: [{ ...ok, data: [...ok.data.slice(1), 'x'] }] }, 400],
      [{ inputs: [{ ...ok, shape: [0, 784], data: [] }] }, 400],
      [{ inputs: [ok, ok] }, 400],
      [{ inputs: [] }, 400],
      [{ inputs: [ok], outputs: [{ name: 'logits' }] }, 400],
      [{}, 400],
    ];
    for (const [json, status] of cases) {
      const res = await send(`${srv.url}/v2/models/fashion-cnn/infer`, { json });
      expect(res.status, JSON.stringify(json).slice(0, 80)).to.equal(status);
      expect(res.body.error, JSON.stringify(res.body)).to.be.a('string');
    }
    const notJson = await send(`${srv.url}/v2/models/fashion-cnn/infer`, { body: '{', headers: { 'content-type': 'application/json' } });
    expect(notJson.status).to.equal(400);
    expect(notJson.body.error).to.be.a('string');
    const other = await send(`${srv.url}/v2/models/other/infer`, { json: { inputs: [ok] } });
    expect(other.status).to.equal(404);
    expect(other.body.error).to.match(/other/);
  });
});

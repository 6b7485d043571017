/**
 * The API's image upload route with real images, preprocessed by the real preprocess package and
 * classified by the committed model: the upload route's own tests (bad forms, limits) stay with
 * the api package; this one needs the preprocess package's image fixtures too.
 */
import { expect } from 'chai';
import { startApi, fashionTest, type TestApi } from './support/api.ts';
import { datasetPng, item, photoImage } from './support/images.ts';

async function upload(url: string, files: { name: string; data: Buffer; type?: string }[]) {
  const form = new FormData();
  for (const f of files) form.append('files', new Blob([new Uint8Array(f.data)], { type: f.type ?? 'application/octet-stream' }), f.name);
  const res = await fetch(`${url}/v1/predict/image`, { method: 'POST', body: form });
  return { status: res.status, body: (await res.json()) as any };
}

describe('POST /v1/predict/image with real images', function () {
  this.timeout(60_000);
  let srv: TestApi;
  before(async () => (srv = await startApi()));
  after(async () => srv?.stop());

  it('classifies real PNG and JPEG files and reports a bad file among them on its own', async () => {
    const ds = await fashionTest();
    const x = (i: number) => item(ds.images, 3000 + i);
    const labels = [0, 1, 2, 3].map((i) => ds.labels[3000 + i]!);
    const files = [
      { name: 'a.png', data: await datasetPng(x(0), 280), type: 'image/png' },
      { name: 'b.jpg', data: await photoImage(x(1), { seed: 7 }), type: 'image/jpeg' },
      { name: 'broken.png', data: Buffer.from('this is not an image at all'), type: 'image/png' },
      { name: 'jacke-größe.png', data: await datasetPng(x(2)), type: 'image/png' },
      { name: 'd.jpg', data: await photoImage(x(3), { seed: 9, format: 'jpeg' }), type: 'image/jpeg' },
    ];
    const res = await upload(srv.url, files);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body.files.map((f: any) => f.file)).to.deep.equal(['a.png', 'b.jpg', 'broken.png', 'jacke-größe.png', 'd.jpg']);
    const bad = res.body.files[2];
    expect(bad.ok).to.equal(false);
    expect(bad.error.code).to.equal('not-image');
    const good = res.body.files.filter((f: any) => f.ok);
    expect(good).to.have.length(4);
    for (const f of good) {
      expect(f.top3).to.have.length(3);
      expect(f.predictionId).to.be.a('number');
    }
    // dataset-like PNGs are the training distribution: they must come out as their label
    expect(res.body.files[0].classIndex).to.equal(labels[0]);
    expect(res.body.files[3].classIndex).to.equal(labels[2]);
    const run = (await srv.store.runs.getRun(res.body.runKey))!;
    expect(run).to.deep.include({ source: 'upload', status: 'completed', images: 4 });
  });
});

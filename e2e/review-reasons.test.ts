/**
 * "Needs a person" end to end: the real client sends real image files through the real
 * preprocessing to the real API serving the committed model under a card with a review policy; the
 * results CSV's `review` column carries the API's reasons and an out-of-scope photo is flagged.
 * The out-of-scope threshold sits between the model's own answers on the in-scope items and on the
 * out-of-scope photo, so the test keeps its meaning when the model is retrained.
 */
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLASS_NAMES, NUM_CLASSES, PIXELS_PER_IMAGE, normalisedEntropy, parseCsv } from '@refund-vision/shared';
import { preprocessImage } from '@refund-vision/preprocess';
import { CSV_COLUMNS, runBatch } from '@refund-vision/client';
import { sharedModel, startApi, type TestApi } from './support/api.ts';
import { clientConfig, eventsText, tempDir } from './support/client.ts';
import { photoImage, writeImages } from './support/images.ts';

/** A round item (a hat seen from above, say): no Fashion-MNIST class. */
function disc(): Uint8Array {
  const px = new Uint8Array(PIXELS_PER_IMAGE);
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) px[y * 28 + x] = (x - 13.5) ** 2 + (y - 13.5) ** 2 < 110 ? 190 : 0;
  return px;
}

describe('review reasons from the API in the client results CSV', function () {
  this.timeout(120_000);
  let api: TestApi | undefined;
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(async () => {
    await api?.stop();
    t.cleanup();
  });

  it('an out-of-scope photo gets `out-of-scope`, an order contradiction `mismatch`, trusted answers nothing', async () => {
    const inbox = join(t.dir, 'inbox');
    const truth = await writeImages(inbox, [
      ...[0, 1, 2, 3].map((i) => ({ name: `G/item-${i}.png`, index: i, kind: 'dataset' as const })),
      { name: 'G/photo-5.jpg', index: 5, kind: 'photo' },
    ]);
    writeFileSync(join(inbox, 'G', 'hat.jpg'), await photoImage(disc(), { seed: 7, itemSide: 160 }));
    const wrong = (truth.get('G/item-1.png')! + 3) % NUM_CLASSES;
    writeFileSync(join(inbox, 'G', 'manifest.csv'), `file,order id,expected class\nitem-1.png,ORD-1,${CLASS_NAMES[wrong]}\n`);

    // What the model makes of each file after the very preprocessing the client uses.
    const classifier = await sharedModel();
    const entropyOf = async (file: string) => {
      const { pixels } = await preprocessImage(readFileSync(join(inbox, file)));
      return normalisedEntropy(await classifier.predict(pixels, 1));
    };
    const hat = await entropyOf('G/hat.jpg');
    const inScope = await Promise.all([...truth.keys()].map((f) => entropyOf(f)));
    const highest = Math.max(...inScope);
    expect(hat, `the round item must look less familiar than the garments (${highest})`).to.be.greaterThan(highest + 0.02);
    const policy = {
      outOfScope: { score: 'entropy' as const, threshold: (hat + highest) / 2 },
      lowConfidence: { score: 'maxProb' as const, threshold: 0.3 },
      target: 'test policy: between the garments and the round item',
    };
    api = await startApi({}, { card: { review: policy } });

    const cfg = clientConfig(t.dir, { client: { apiUrl: api.url, inbox, retries: 1, retryBaseDelayMs: 10, batchSize: 4, workers: 1 } });
    const report = await runBatch({ config: cfg });
    expect(report).to.include({ classified: 6, delivered: true, completed: true });

    const [head, ...rows] = parseCsv(readFileSync(report.resultsPath, 'utf8'));
    expect(head).to.deep.equal([...CSV_COLUMNS]);
    const review = new Map(rows.map((r) => [r[0]!, r[head!.indexOf('review')]!]));
    expect(review.get('G/hat.jpg')).to.equal('out-of-scope');
    expect(review.get('G/item-1.png')).to.equal('mismatch');
    for (const f of truth.keys()) if (f !== 'G/item-1.png') expect(review.get(f), f).to.be.oneOf(['', 'low-confidence']);
    expect(report.reviews['out-of-scope']).to.have.length(1);
    expect(report.reviews.mismatch).to.have.length(1);

    // The run's record counts them by reason; the photos are counted for the photo baselines.
    const run = (await api.store.runs.getRunByKey(report.runKey))!;
    expect(run.reviews).to.include({ mismatch: 1, 'out-of-scope': 1 });
    expect(run.photos).to.equal(2);
    // The review queue: mismatch first, then out-of-scope; the flagged photos' thumbnails arrived
    // in the client's second request (WebP, ≤ 160 px), the rest sent none.
    const queue = (await (await fetch(`${api.url}/v1/reviews`)).json()) as {
      items: { id: number; imageId: string; reason: string; hasThumbnail: boolean }[];
    };
    const order = ['mismatch', 'out-of-scope', 'low-confidence'];
    const ranks = queue.items.map((i) => order.indexOf(i.reason));
    expect(ranks).to.deep.equal([...ranks].sort((a, b) => a - b));
    expect(queue.items[0]).to.include({ imageId: 'G/item-1.png', reason: 'mismatch', hasThumbnail: true });
    const hatItem = queue.items.find((i) => i.imageId === 'G/hat.jpg')!;
    expect(hatItem).to.include({ reason: 'out-of-scope', hasThumbnail: true });
    const detail = (await (await fetch(`${api.url}/v1/reviews/${hatItem.id}`)).json()) as { thumbnail: { type: string; data: string } };
    expect(detail.thumbnail.type).to.equal('image/webp');
    const thumb = Buffer.from(detail.thumbnail.data, 'base64');
    expect(thumb.subarray(8, 12).toString()).to.equal('WEBP');
    expect(thumb.length).to.be.below(16 * 1024);

    const log = await eventsText(cfg.logs.dir);
    expect(log).to.match(/run finished: run \S+: 6 classified.*to review: 1 mismatch, 1 out-of-scope/);
  });
});

/**
 * Issue #12 item 5: /readyz starved under batch-256 load because every admitted request's model run
 * executed back to back in one pass of the event loop. Through the queue, runs take turns and I/O
 * is served between two of them. Measured with the real model and real loopback sockets.
 */
import { expect } from 'chai';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Classifier } from '@refund-vision/model';
import { createInferenceQueue } from './inference-queue.ts';
import { sharedClassifier, testBatch } from './test-support.ts';

const RUNS = 8;
const BATCH = 256;

/**
 * A loopback ping-pong: every echo that comes back notes how many model runs had finished by then
 * and sends the next ping. Each round trip needs the event loop to poll for I/O twice.
 */
async function pingPong(finished: () => number) {
  // The server side sees a reset when the client is destroyed at the end: not what is tested.
  const server: Server = createServer((s) => s.on('data', (d) => s.write(d)).on('error', () => undefined));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  const client: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', r));
  const seenAt: number[] = [];
  client.on('data', () => {
    seenAt.push(finished());
    client.write('p');
  });
  client.write('p');
  return {
    seenAt,
    async stop() {
      client.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('inference queue (#12 item 5)', function () {
  this.timeout(60_000);
  let classifier: Classifier;
  let pixels: Uint8Array;
  before(async () => {
    classifier = await sharedClassifier();
    ({ pixels } = await testBatch(BATCH));
    await classifier.predict(pixels, BATCH); // warm: the first run is slower and not what is measured
  });

  it('runs one model run at a time, in arrival order, and serves I/O between two runs', async () => {
    const queue = createInferenceQueue();
    let finished = 0;
    let running = 0;
    let mostAtOnce = 0;
    const order: number[] = [];
    const io = await pingPong(() => finished);
    try {
      // Eight requests reaching the model in the same tick, as admitted batch-256 requests do under load.
      const results = await Promise.all(
        Array.from({ length: RUNS }, (_, k) =>
          queue.run(async () => {
            mostAtOnce = Math.max(mostAtOnce, ++running);
            order.push(k);
            const probs = await classifier.predict(pixels, BATCH);
            running--;
            finished++;
            return probs;
          }),
        ),
      );
      expect(mostAtOnce).to.equal(1);
      expect(order).to.deep.equal([...Array(RUNS).keys()]);
      expect(queue.waiting).to.equal(0);
      // Every run answered the real model's probabilities for the whole batch.
      for (const probs of results) expect(probs).to.have.length(BATCH * 10);
      // Without the queue the eight runs execute in one pass of the event loop: no echo comes back
      // between the first and the last (every echo sees 0 or 8 finished). Through it, echoes do.
      const between = io.seenAt.filter((n) => n > 0 && n < RUNS);
      expect(between.length, `echoes saw ${io.seenAt.join(',')} runs finished`).to.be.at.least(2);
    } finally {
      await io.stop();
    }
  });

  it('splits a large batch into runs of at most maxImagesPerRun images, each on its own turn, with the answers of one run', async () => {
    const queue = createInferenceQueue(64);
    const whole = await classifier.predict(pixels, BATCH);
    const sizes: number[] = [];
    let finished = 0;
    const counting = {
      predictRows: async (p: Uint8Array, n: number) => {
        sizes.push(n);
        const rows = await classifier.predictRows(p, n);
        finished++;
        return rows;
      },
    };
    const io = await pingPong(() => finished);
    try {
      // one request of 256 + 32 images: runs of 64, 64, 64, 64, 32
      const n = BATCH + 32;
      const px = new Uint8Array(n * 784);
      px.set(pixels);
      px.set(pixels.subarray(0, 32 * 784), BATCH * 784);
      const probs = await queue.predict(counting, px, n);
      expect(sizes).to.deep.equal([64, 64, 64, 64, 32]);
      expect(probs).to.have.length(n * 10);
      for (let i = 0; i < BATCH * 10; i++) expect(probs[i]).to.be.closeTo(whole[i]!, 1e-5);
      for (let i = 0; i < 32 * 10; i++) expect(probs[BATCH * 10 + i]).to.be.closeTo(whole[i]!, 1e-5);
      // one request's runs let I/O through between them, as separate requests' runs do
      const between = io.seenAt.filter((k) => k > 0 && k < sizes.length);
      expect(between.length, `echoes saw ${io.seenAt.join(',')} runs finished`).to.be.at.least(2);
      // a batch that fits is one run
      sizes.length = 0;
      await queue.predict(counting, pixels.subarray(0, 64 * 784), 64);
      expect(sizes).to.deep.equal([64]);
    } finally {
      await io.stop();
    }
  });

  it("a label head's rows come back joined in order beside the answers", async () => {
    const queue = createInferenceQueue(64);
    const n = 150;
    // each image's label row says which image it was: [i, 1 - i / n] (two labels)
    const headed = {
      predictRows: async (p: Uint8Array, m: number) => {
        const rows = await classifier.predictRows(p, m);
        const first = (p.byteOffset - px.byteOffset) / 784;
        const labels = Float32Array.from({ length: m * 2 }, (_, k) => (k % 2 ? 1 - (first + (k >> 1)) / n : first + (k >> 1)));
        return { ...rows, labels };
      },
    };
    const px = new Uint8Array(n * 784);
    px.set(pixels.subarray(0, n * 784));
    const { probs, labels } = await queue.predictRows(headed, px, n);
    expect(probs).to.have.length(n * 10);
    expect(Array.from(labels!.filter((_, k) => k % 2 === 0))).to.deep.equal(Array.from({ length: n }, (_, i) => i));
    expect(labels![2 * 149 + 1]).to.be.closeTo(1 - 149 / n, 1e-6);
    expect((await queue.predictRows(classifier, px, n)).labels, 'no label head, no labels').to.equal(undefined);
  });

  it('a failed run fails its own caller only; the next run still gets its turn', async () => {
    const queue = createInferenceQueue();
    const failing = queue.run(() => classifier.predict(pixels, BATCH + 1)); // pixels for 256 images, not 257
    const next = queue.run(() => classifier.predict(pixels, BATCH));
    expect(queue.waiting).to.equal(2);
    await failing.then(
      () => expect.fail('a run over the wrong pixel count resolved'),
      (e: Error) => expect(e).to.be.instanceOf(Error),
    );
    expect(await next).to.have.length(BATCH * 10);
    expect(queue.waiting).to.equal(0);
  });
});

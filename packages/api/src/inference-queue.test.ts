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

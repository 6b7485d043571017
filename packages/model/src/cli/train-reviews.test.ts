import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePixels, projectRoot, type ReviewedItem } from '@refund-vision/shared';
import { loadFashionMnist } from '../fashion-mnist.ts';
import { isHeldBack } from '../reviews-data.ts';

describe('pnpm train --with-reviews', function () {
  this.timeout(300_000);
  const root = projectRoot();
  let tmp: string;
  let server: Server;
  let url: string;
  let items: ReviewedItem[];
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'rv-train-reviews-'));
    // 40 reviewed items: real test images with their true class, every fifth decided "none of these"
    const test = await loadFashionMnist('test');
    items = Array.from({ length: 40 }, (_, i) => ({
      id: `rev-${i}`,
      pixels: encodePixels(test.images.subarray(i * 784, (i + 1) * 784)),
      classIndex: i % 5 === 4 ? null : test.labels[i]!,
      decidedAt: '2026-11-27T00:00:00.000Z',
      decidedBy: 'ana',
      modelVersion: 'abc',
    }));
    server = createServer((req, res) => {
      if (req.url !== '/v1/reviews/training-set' || req.headers.authorization !== 'Bearer reviews-key-0123456789') {
        res.statusCode = req.url === '/v1/reviews/training-set' ? 401 : 404;
        return res.end('{}');
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ items }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const train = (out: string, key: string, more?: string[]) =>
    new Promise<{ code: number | null; err: string }>((resolve) => {
      const args = [
        join(root, 'packages/model/src/cli/train.ts'),
        '--arch',
        'fast',
        '--epochs',
        '1',
        '--limit',
        '600',
        '--validation',
        '100',
      ];
      args.push(
        '--photo-limit',
        '12',
        '--photo-variants',
        '0',
        ...(more ?? ['--with-reviews', '--review-holdout', '0.25']),
        '--out',
        out,
        '--no-onnx',
      );
      const child = spawn(join(root, 'node_modules/.bin/tsx'), args, {
        env: { ...process.env, API_URL: url, API_KEY: key, LOG_CONSOLE: 'false' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (code) => resolve({ code, err }));
    });

  it('trains on the reviewed items, holds back a stable share for the gate, and records them in the card', async () => {
    const out = join(tmp, 'model');
    const r = await train(out, 'reviews-key-0123456789');
    expect(r.code, r.err).to.equal(0);
    const held = items.filter((it) => isHeldBack(it.id, 0.25));
    expect(r.err).to.contain(`reviewed items: 40 (${40 - held.length} to train, ${held.length} held back for the gate)`);
    const holdout = JSON.parse(readFileSync(join(out, 'review-holdout.json'), 'utf8'));
    expect(holdout.share).to.equal(0.25);
    expect(holdout.items.map((x: { id: string }) => x.id)).to.deep.equal(held.map((x) => x.id));
    const card = JSON.parse(readFileSync(join(out, 'model-card.json'), 'utf8'));
    expect(card.data.reviews.trainItems).to.equal(40 - held.length);
    expect(card.data.reviews.outOfScope).to.equal(items.filter((x) => x.classIndex === null && !isHeldBack(x.id, 0.25)).length);
    expect(card.training.command).to.contain('--with-reviews');

    // continued without reviews (a fine-tune, a recalibration): the held-back items are still unseen
    const next = join(tmp, 'next');
    const again = await train(next, 'reviews-key-0123456789', ['--init', out, '--epochs', '0']);
    expect(again.code, again.err).to.equal(0);
    expect(JSON.parse(readFileSync(join(next, 'review-holdout.json'), 'utf8'))).to.deep.equal(holdout);
  });

  it('a refused key stops before training, naming the endpoint', async () => {
    const out = join(tmp, 'refused');
    const r = await train(out, 'wrong-key-0123456789');
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/cannot fetch reviewed items from .*\/v1\/reviews\/training-set: HTTP 401/);
    expect(existsSync(join(out, 'model.json'))).to.equal(false);
  });
});

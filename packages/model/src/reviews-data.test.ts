import { expect } from 'chai';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePixels, type ReviewedItem } from '@refund-vision/shared';
import { readReviewHoldout } from './gate-sets.ts';
import { fetchReviewedItems, isHeldBack, mergeReviewHoldouts, reviewArrays, splitReviews, writeReviewHoldout } from './reviews-data.ts';

const item = (i: number, classIndex: number | null): ReviewedItem => ({
  id: `item-${i}`,
  pixels: encodePixels(new Uint8Array(784).fill(i % 256)),
  classIndex,
  decidedAt: '2026-11-27T00:00:00.000Z',
  decidedBy: 'ana',
  modelVersion: 'abc',
});

describe('reviewed items as training data', () => {
  const items = Array.from({ length: 400 }, (_, i) => item(i, i % 11 === 10 ? null : i % 10));

  it('holds back a stable share chosen by id, never both sides', () => {
    const a = splitReviews(items, 0.25);
    const b = splitReviews([...items].reverse(), 0.25);
    expect(a.holdout.map((x) => x.id).sort()).to.deep.equal(b.holdout.map((x) => x.id).sort());
    expect(a.train.length + a.holdout.length).to.equal(400);
    expect(a.holdout.length).to.be.within(70, 130); // ~100 expected
    expect(a.train.some((x) => isHeldBack(x.id, 0.25))).to.equal(false);
    expect(() => splitReviews(items, 1)).to.throw(/share/);
  });

  it('turns items into arrays and writes the held-back file the gate reads', () => {
    const { pixels, classes } = reviewArrays(items.slice(0, 12));
    expect(pixels.length).to.equal(12 * 784);
    expect(pixels[5 * 784]).to.equal(5);
    expect(classes[10]).to.equal(null);
    expect(classes[3]).to.equal(3);
    const dir = mkdtempSync(join(tmpdir(), 'rv-holdout-'));
    try {
      writeReviewHoldout(dir, items.slice(0, 3), 0.2);
      const back = readReviewHoldout(dir)!;
      expect(back.share).to.equal(0.2);
      expect(back.items.map((x) => x.id)).to.deep.equal(['item-0', 'item-1', 'item-2']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('merges the held-back files of members combined into one: held back by all of them', () => {
    const root = mkdtempSync(join(tmpdir(), 'rv-holdouts-'));
    try {
      const [a, b, none] = ['a', 'b', 'none'].map((d) => mkdtempSync(join(root, d)));
      // a held back 20 % of the first 100 items, b (a later fetch, a smaller share) 10 % of 150
      writeReviewHoldout(a!, splitReviews(items.slice(0, 100), 0.2).holdout, 0.2);
      writeReviewHoldout(b!, splitReviews(items.slice(0, 150), 0.1).holdout, 0.1);
      expect(mergeReviewHoldouts([none!])).to.equal(null);
      const merged = mergeReviewHoldouts([a!, none!, b!])!;
      expect(merged.share).to.equal(0.1);
      // exactly the items of either file that b's share holds back too (a held back more; b trained on those)
      const want = items.slice(0, 150).filter((it) => isHeldBack(it.id, 0.1));
      expect(merged.items.map((x) => x.id).sort()).to.deep.equal(want.map((it) => it.id).sort());
      expect(want.length).to.be.above(5);
      expect(readReviewHoldout(a!)!.items.length).to.be.above(merged.items.filter((x) => Number(x.id.slice(5)) < 100).length);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('fetches from the API with the key, and says clearly when it cannot', async () => {
    let auth: string | undefined;
    const server = createServer((req, res) => {
      auth = req.headers.authorization;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ items: items.slice(0, 2) }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect((await fetchReviewedItems(url, 'k3y')).map((x) => x.id)).to.deep.equal(['item-0', 'item-1']);
      expect(auth).to.equal('Bearer k3y');
    } finally {
      server.close();
    }
    let err: Error | undefined;
    await fetchReviewedItems(url).catch((e: Error) => (err = e));
    expect(err?.message).to.match(/cannot fetch reviewed items from .*\/v1\/reviews\/training-set/);
  });
});

import { expect } from 'chai';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PIXELS_PER_IMAGE, encodePixels } from '@refund-vision/shared';
import { Outbox, OutboxError, type OutboxEntry } from './outbox.ts';
import { tempDir } from './test-support.ts';

const entry = (runKey: string, batchIndex: number, hashes: string[]): OutboxEntry => ({
  version: 1,
  createdAt: new Date().toISOString(),
  request: {
    runKey,
    batchIndex,
    images: hashes.map((h, i) => ({ id: `f${i}.png`, hash: h })),
    pixels: encodePixels(new Uint8Array(hashes.length * PIXELS_PER_IMAGE)),
  },
  extras: hashes.map((_, i) => ({ path: `/in/f${i}.png` })),
});

describe('Outbox', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());

  it('keeps batches as files, oldest run and lowest batch first, and knows their hashes', () => {
    const ob = new Outbox(join(t.dir, 'outbox'));
    const h = (c: string) => c.repeat(64);
    ob.put(entry('20261122T180000Z-bbbb', 0, [h('c')]));
    ob.put(entry('20261121T180000Z-aaaa', 10, [h('b')]));
    ob.put(entry('20261121T180000Z-aaaa', 2, [h('a')]));
    expect(ob.list()).to.deep.equal([
      '20261121T180000Z-aaaa.b000002.json',
      '20261121T180000Z-aaaa.b000010.json',
      '20261122T180000Z-bbbb.b000000.json',
    ]);
    expect(ob.read(ob.list()[0]!).request.images[0]!.hash).to.equal(h('a'));
    expect([...ob.pendingHashes()].sort()).to.deep.equal([h('a'), h('b'), h('c')]);
    // no temp files left behind by the atomic writes
    expect(readdirSync(ob.dir).filter((n) => n.endsWith('.tmp'))).to.deep.equal([]);
    ob.remove(ob.list()[0]!);
    const moved = ob.reject(ob.list()[0]!);
    expect(moved).to.match(/rejected/);
    expect(ob.list()).to.deep.equal(['20261122T180000Z-bbbb.b000000.json']);
  });

  it('refuses a file it did not write', () => {
    const ob = new Outbox(t.dir);
    writeFileSync(join(t.dir, 'x.json'), '{"hello":1}');
    writeFileSync(join(t.dir, 'y.json'), '{"torn');
    expect(() => ob.read('x.json')).to.throw(OutboxError, /not a batch/);
    expect(() => ob.read('y.json')).to.throw(OutboxError, /not valid JSON/);
    expect(ob.pendingHashes().size).to.equal(0);
  });
});

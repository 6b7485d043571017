import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ledger, hashFile } from './ledger.ts';
import { tempDir } from './test-support.ts';

describe('Ledger', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());

  it('remembers hashes across instances and ignores a torn last line', () => {
    const l = new Ledger(t.dir);
    const h = (s: string) => createHash('sha256').update(s).digest('hex');
    l.add([{ hash: h('a'), status: 'classified', id: 'a.png', run: 'r1' }]);
    l.add([{ hash: h('b'), status: 'failed', id: 'b.png', run: 'r1', reason: 'corrupt' }]);
    appendFileSync(l.path, `{"hash":"${h('c')}","status":"classi`); // a kill mid-append
    const again = new Ledger(t.dir);
    expect(again.has(h('a'))).to.equal(true);
    expect(again.status(h('b'))).to.equal('failed');
    expect(again.has(h('c'))).to.equal(false);
    expect(again.size).to.equal(2);
    // and appending after the torn line still works
    again.add([{ hash: h('d'), status: 'classified', id: 'd.png', run: 'r2' }]);
    expect(new Ledger(t.dir).has(h('d'))).to.equal(true);
  });

  it('hashes content, so a renamed or moved file is the same file', async () => {
    const a = join(t.dir, 'a.png');
    writeFileSync(a, Buffer.from('not really a png but bytes are bytes'));
    const before = await hashFile(a);
    mkdirSync(join(t.dir, 'moved'));
    renameSync(a, join(t.dir, 'moved', 'renamed.png'));
    expect(await hashFile(join(t.dir, 'moved', 'renamed.png'))).to.equal(before);
    expect(before).to.equal(createHash('sha256').update('not really a png but bytes are bytes').digest('hex'));
  });
});

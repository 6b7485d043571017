import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import fs, { mkdirSync, symlinkSync, writeFileSync, type Dir, type PathLike } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { classIndexOf } from '@refund-vision/shared';
import { scanFolders, type ScanItem, type ScanFile, type ScanProblem } from './scanner.ts';
import { tempDir } from './test-support.ts';

async function collect(roots: string[], opts = {}): Promise<ScanItem[]> {
  const out: ScanItem[] = [];
  for await (const it of scanFolders(roots, opts)) out.push(it);
  return out;
}
const files = (items: ScanItem[]) => new Map(items.filter((i): i is ScanFile => i.kind === 'file').map((i) => [i.id, i]));
const problems = (items: ScanItem[]) => new Map(items.filter((i): i is ScanProblem => i.kind === 'problem').map((i) => [i.id, i]));

/**
 * Counts the directory entries handed out by node:fs (opendir, however it is iterated) and records
 * every readdir, through the builtin modules' live ESM bindings, until restore().
 */
function watchFolderReads() {
  const seen = { entries: 0, listings: [] as string[] };
  const countEntries = (dir: Dir): Dir =>
    new Proxy(dir, {
      get(target, prop) {
        if (prop === Symbol.asyncIterator)
          return async function* () {
            for await (const ent of target) {
              seen.entries++;
              yield ent;
            }
          };
        if (prop === 'read')
          return async () => {
            const ent = await target.read();
            if (ent) seen.entries++;
            return ent;
          };
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  const saved = { opendir: fs.promises.opendir, readdir: fs.promises.readdir, readdirSync: fs.readdirSync, opendirSync: fs.opendirSync };
  fs.promises.opendir = (async (...a: Parameters<typeof saved.opendir>) =>
    countEntries(await saved.opendir(...a))) as typeof fs.promises.opendir;
  fs.opendirSync = ((...a: Parameters<typeof saved.opendirSync>) => countEntries(saved.opendirSync(...a))) as typeof fs.opendirSync;
  fs.promises.readdir = ((p: PathLike, ...rest: unknown[]) => {
    seen.listings.push(String(p));
    return (saved.readdir as (...a: unknown[]) => unknown)(p, ...rest);
  }) as typeof fs.promises.readdir;
  fs.readdirSync = ((p: PathLike, ...rest: unknown[]) => {
    seen.listings.push(String(p));
    return (saved.readdirSync as (...a: unknown[]) => unknown)(p, ...rest);
  }) as typeof fs.readdirSync;
  syncBuiltinESMExports();
  return Object.assign(seen, {
    restore() {
      Object.assign(fs.promises, { opendir: saved.opendir, readdir: saved.readdir });
      Object.assign(fs, { readdirSync: saved.readdirSync, opendirSync: saved.opendirSync });
      syncBuiltinESMExports();
    },
  });
}

describe('scanFolders', () => {
  let t: ReturnType<typeof tempDir>;
  beforeEach(() => (t = tempDir()));
  afterEach(() => t.cleanup());

  it('finds groups, class folders, labels.csv and manifest.csv, and reports what it cannot read', async () => {
    const inbox = join(t.dir, 'inbox');
    const odd = `it's a "dress" <b>é ü and co.png`;
    mkdirSync(join(inbox, 'G1', 'Trouser'), { recursive: true });
    mkdirSync(join(inbox, 'Ankle boot'), { recursive: true });
    mkdirSync(join(inbox, '2026-11-21'), { recursive: true });
    writeFileSync(join(inbox, 'top.png'), 'x');
    writeFileSync(join(inbox, 'G1', 'a.png'), 'x');
    writeFileSync(join(inbox, 'G1', odd), 'x');
    writeFileSync(join(inbox, 'G1', 'Trouser', 'b.png'), 'x');
    writeFileSync(join(inbox, 'Ankle boot', 'c.png'), 'x');
    writeFileSync(join(inbox, '2026-11-21', 'd.png'), 'x');
    writeFileSync(join(inbox, '2026-11-21', 'empty.png'), '');
    writeFileSync(join(inbox, '2026-11-21', 'big.png'), Buffer.alloc(2000));
    writeFileSync(join(inbox, '.DS_Store'), 'junk');
    writeFileSync(join(inbox, 'labels.csv'), 'file,label\nG1/a.png,Coat\ntop.png,Sandal\nG1/nope.png,NotAClass\n');
    writeFileSync(join(inbox, '2026-11-21', 'manifest.csv'), 'file,order id,expected class\nd.png,ORD-7,Sneaker\n');
    symlinkSync('..', join(inbox, 'G1', 'loop'));
    symlinkSync(join(t.dir, 'nowhere.png'), join(inbox, 'G1', 'dangling.png'));
    symlinkSync('self.png', join(inbox, 'G1', 'self.png'));
    execFileSync('mkfifo', [join(inbox, 'G1', 'pipe.png')]);

    const items = await collect([inbox], { maxFileBytes: 1000 });
    const f = files(items);
    const p = problems(items);
    expect([...f.keys()].sort()).to.deep.equal(
      ['2026-11-21/d.png', 'Ankle boot/c.png', 'G1/Trouser/b.png', 'G1/a.png', `G1/${odd}`, 'top.png'].sort(),
    );
    expect(f.get('top.png')).to.include({ group: '', label: classIndexOf('Sandal') });
    expect(f.get('G1/a.png')).to.include({ group: 'G1', label: classIndexOf('Coat') });
    expect(f.get('G1/Trouser/b.png')).to.include({ group: 'G1', label: 1 });
    expect(f.get('Ankle boot/c.png')).to.include({ group: 'Ankle boot', label: 9 });
    expect(f.get('2026-11-21/d.png')).to.include({ group: '2026-11-21', orderId: 'ORD-7', expected: 7, label: 7 });
    expect(f.get(`G1/${odd}`)!.label).to.equal(undefined);
    expect(p.get('2026-11-21/empty.png')?.reason).to.equal('empty');
    expect(p.get('2026-11-21/big.png')?.reason).to.equal('too-large');
    expect(p.get('G1/loop')?.reason).to.equal('symlink-loop');
    expect(p.get('G1/self.png')?.reason).to.equal('symlink-loop');
    expect(p.get('G1/dangling.png')).to.include({ reason: 'unreadable', message: 'dangling symlink' });
    expect(p.get('G1/pipe.png')?.reason).to.equal('unreadable');
    expect(p.get('labels.csv')?.reason).to.equal('bad-list');
  });

  it('reports a missing folder and goes on with the next', async () => {
    mkdirSync(join(t.dir, 'b'));
    writeFileSync(join(t.dir, 'b', 'x.png'), 'x');
    const items = await collect([join(t.dir, 'missing'), join(t.dir, 'b')], { prefixRoot: true });
    expect(items[0]).to.include({ kind: 'problem', reason: 'missing-folder' });
    expect(items[1]).to.include({ kind: 'file', id: 'b/x.png' });
  });

  it('streams a folder of 10,000 files: its first file comes after a few entries are read, not the whole listing', async function () {
    this.timeout(30000);
    const dir = join(t.dir, 'many');
    mkdirSync(dir);
    for (let i = 0; i < 10_000; i++) writeFileSync(join(dir, `img-${i}.png`), 'x');
    const reads = watchFolderReads();
    try {
      const it = scanFolders([dir]);
      const first = await it.next();
      expect(first.value).to.include({ kind: 'file' });
      // A scanner that listed the folder first (readdir, or opendir drained into an array) has read
      // all 10,000 entries by now; a streaming one has read about one buffer's worth.
      expect(reads.listings, 'whole-folder listings (readdir)').to.deep.equal([]);
      expect(reads.entries, 'entries read before the first file was yielded').to.be.within(1, 64);
      let n = 1;
      for await (const item of it) if (item.kind === 'file') n++;
      expect(n).to.equal(10_000);
      expect(reads.entries).to.equal(10_000);
    } finally {
      reads.restore();
    }
  });
});

import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { projectRoot } from '@refund-vision/shared';
import { createPreprocessPool, ImageError, preprocessImage, type PreprocessPool } from './index.ts';
import { startPool } from './pool.ts';
import { datasetPng, photoImage, requireSharp, rng } from './test-images.ts';

function syntheticItem(seed: number): Uint8Array {
  const r = rng(seed);
  const cx = 8 + r() * 12;
  const cy = 8 + r() * 12;
  return new Uint8Array(784).map((_, i) => {
    const d = Math.hypot((i % 28) - cx, Math.floor(i / 28) - cy);
    return d < 9 ? 120 + Math.round(r() * 130) : 0;
  });
}

describe('preprocess pool', function () {
  this.timeout(60000);
  let dir: string;
  let pool: PreprocessPool | undefined;
  const good: string[] = [];

  before(async () => {
    await requireSharp();
    dir = mkdtempSync(join(tmpdir(), 'rv-preprocess-pool-'));
    for (let i = 0; i < 6; i++) {
      const x = syntheticItem(i);
      const p = join(dir, `item ${i}.${i % 2 ? 'jpg' : 'png'}`);
      writeFileSync(p, i % 2 ? await photoImage(x, { seed: i, itemSide: 160, width: 300, height: 240 }) : await datasetPng(x, 300));
      good.push(p);
    }
  });
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('returns the same result as the in-process call, from paths and from buffers', async () => {
    pool = createPreprocessPool();
    expect(pool.size).to.equal(availableParallelism());
    const [viaPath, viaBuffer, local] = await Promise.all([
      Promise.all(good.map((p) => pool!.run(p))),
      Promise.all(good.map((p) => import('node:fs').then((fs) => pool!.runBuffer(fs.readFileSync(p))))),
      Promise.all(good.map((p) => preprocessImage(p))),
    ]);
    for (let i = 0; i < good.length; i++) {
      for (const r of [viaPath[i]!, viaBuffer[i]!]) {
        expect(r.pixels).to.be.instanceOf(Uint8Array);
        expect(Array.from(r.pixels)).to.deep.equal(Array.from(local[i]!.pixels));
        expect({ ...r, pixels: undefined }).to.deep.equal({ ...local[i]!, pixels: undefined });
      }
    }
  });

  it('a corrupt, an empty and a missing file among good ones: each fails with its reason, the rest succeed', async () => {
    pool = createPreprocessPool({ size: 2 });
    const { readFileSync } = await import('node:fs');
    const png = readFileSync(good[0]!);
    const corrupt = join(dir, 'corrupt.png');
    writeFileSync(corrupt, png.subarray(0, png.length >> 1));
    const empty = join(dir, 'empty.png');
    writeFileSync(empty, '');
    const files = [...good.slice(0, 3), corrupt, empty, join(dir, 'missing.png'), dir, ...good.slice(3)];
    const settled = await Promise.allSettled(files.map((f) => pool!.run(f)));
    const reasons = settled.map((s) =>
      s.status === 'fulfilled' ? 'ok' : s.reason instanceof ImageError ? s.reason.reason : `not an ImageError: ${s.reason}`,
    );
    expect(reasons).to.deep.equal(['ok', 'ok', 'ok', 'corrupt', 'empty', 'unreadable', 'unreadable', 'ok', 'ok', 'ok']);
    const err = (settled[5] as PromiseRejectedResult).reason as ImageError;
    expect(err.name).to.equal('ImageError');
    expect(err.message).to.contain('missing.png');
    // And it keeps working afterwards.
    expect(Array.from((await pool.run(good[1]!)).pixels)).to.deep.equal(Array.from((await preprocessImage(good[1]!)).pixels));
  });

  it('passes its options to the workers', async () => {
    // good[1] is a 300×240 JPEG, good[0] a 300×300 PNG.
    pool = createPreprocessPool({ size: 1, decoder: 'jimp', maxPixels: 80000 });
    const r = await pool.run(good[1]!);
    expect(r.decoder).to.equal('jimp');
    const err = await pool.run(good[0]!).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ImageError);
    expect((err as ImageError).reason).to.equal('too-large');
  });

  it('refuses a decompression bomb from its header: the 1,080-byte RLE8 BMP declaring 10000×10000', async () => {
    // BITMAPFILEHEADER + BITMAPINFOHEADER (10000×10000, 8 bpp, BI_RLE8), a zero palette, then only
    // the end-of-bitmap marker: jimp would allocate 400 MB for it (20 of them took a client to 2.9 GB).
    const bomb = Buffer.alloc(1080);
    bomb.write('424d38040000000000003604000028000000102700001027000001000800010000000200000000000000000000000001000000000000', 'hex');
    bomb.write('0001', 1078, 'hex');
    pool = createPreprocessPool({ size: 1 });
    const rss0 = process.memoryUsage().rss;
    const errors = await Promise.all(Array.from({ length: 20 }, () => pool!.runBuffer(bomb).catch((e: unknown) => e as ImageError)));
    for (const e of errors) {
      expect(e).to.be.instanceOf(ImageError);
      expect((e as ImageError).reason).to.equal('too-large');
      expect((e as ImageError).message).to.match(/10000×10000 in only 1080 bytes .* decompression bomb/);
    }
    expect(process.memoryUsage().rss - rss0).to.be.below(100 * 2 ** 20);
  });

  it('a task past taskTimeoutMs fails as too-large; its worker is replaced and the other task it held runs again', async () => {
    // A stand-in worker that spins forever on a path containing "hang" (as a decoder stuck on a file would).
    const entry = join(dir, 'hanging-worker.mjs');
    writeFileSync(
      entry,
      `import { parentPort } from 'node:worker_threads';\nparentPort.on('message', (req) => {\n  if (req.path.includes('hang')) for (;;);\n  parentPort.postMessage({ id: req.id, ok: true, result: { pixels: new Uint8Array(784), kind: 'photo', width: 1, height: 1, format: 'png', decoder: 'jimp' } });\n});\n`,
    );
    pool = startPool(pathToFileURL(entry), { size: 1, perWorker: 2, taskTimeoutMs: 400 });
    const t0 = performance.now();
    const [hung, other] = await Promise.allSettled([pool.run('hang.png'), pool.run('other.png')]);
    expect(hung.status).to.equal('rejected');
    expect((hung as PromiseRejectedResult).reason).to.be.instanceOf(ImageError);
    expect(((hung as PromiseRejectedResult).reason as ImageError).reason).to.equal('too-large');
    expect(((hung as PromiseRejectedResult).reason as ImageError).message).to.equal('the image took more than 400 ms to decode');
    expect(other.status).to.equal('fulfilled');
    expect(performance.now() - t0).to.be.below(5000);
    expect((await pool.run('next.png')).pixels).to.have.length(784);
  });

  it('perWorker: 1 gives each worker one task at a time', async () => {
    // A stand-in worker that answers after 30 ms and reports, as width, how many tasks it held then.
    const entry = join(dir, 'counting-worker.mjs');
    writeFileSync(
      entry,
      `import { parentPort } from 'node:worker_threads';\nlet held = 0;\nparentPort.on('message', (req) => {\n  held++;\n  const width = held;\n  setTimeout(() => { held--; parentPort.postMessage({ id: req.id, ok: true, result: { pixels: new Uint8Array(784), kind: 'photo', width, height: 1, format: 'png', decoder: 'jimp' } }); }, 30);\n});\n`,
    );
    const held = async (perWorker?: number) => {
      pool = startPool(pathToFileURL(entry), { size: 1, ...(perWorker ? { perWorker } : {}) });
      const r = await Promise.all(Array.from({ length: 6 }, (_, i) => pool!.run(`p${i}.png`)));
      await pool.close();
      pool = undefined;
      return Math.max(...r.map((x) => x.width));
    };
    expect(await held(1)).to.equal(1);
    expect(await held()).to.equal(2);
  });

  it('refuses work after close()', async () => {
    pool = createPreprocessPool({ size: 1 });
    await pool.close();
    const err = await pool.run(good[0]!).catch((e: unknown) => e);
    expect((err as Error).message).to.match(/closed/);
  });

  it('a worker that dies mid-task fails only its own requests and is replaced', async () => {
    // A stand-in worker: answers with empty pixels, exits the thread on any path containing "crash".
    const entry = join(dir, 'crashy-worker.mjs');
    writeFileSync(
      entry,
      `import { parentPort } from 'node:worker_threads';\nparentPort.on('message', (req) => {\n  if (req.path.includes('crash')) process.exit(3);\n  parentPort.postMessage({ id: req.id, ok: true, result: { pixels: new Uint8Array(784), kind: 'photo', width: 1, height: 1, format: 'png', decoder: 'jimp' } });\n});\n`,
    );
    pool = startPool(pathToFileURL(entry), { size: 1 });
    const settled = await Promise.allSettled(['a', 'b', 'crash', 'c', 'd', 'crash', 'e'].map((p) => pool!.run(p)));
    const outcome = settled.map((s) =>
      s.status === 'fulfilled' ? 'ok' : /exited with code 3/.test((s.reason as Error).message) ? 'exit' : String(s.reason),
    );
    // The crashing requests fail, and so may one other in flight on the same worker (2 per worker).
    expect([outcome[2], outcome[5]]).to.deep.equal(['exit', 'exit']);
    expect(outcome.filter((o) => o === 'exit').length).to.be.at.most(4);
    expect(outcome.every((o) => o === 'ok' || o === 'exit')).to.equal(true);
    expect(outcome[0]).to.equal('ok');
    // A replacement serves what comes next.
    expect((await pool.run('f')).pixels).to.have.length(784);
  });

  it('a worker that cannot start at all fails the requests instead of respawning forever', async () => {
    const entry = join(dir, 'broken-worker.mjs');
    writeFileSync(entry, `throw new Error('no TypeScript loader here');\n`);
    pool = startPool(pathToFileURL(entry), { size: 2 });
    const settled = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => pool!.run(`img${i}.png`)));
    for (const s of settled) expect(s.status).to.equal('rejected');
    // Once the crashes outnumber the workers, the pool stops respawning and says why.
    let last: Error | undefined;
    for (let i = 0; i < 20 && !/keep failing/.test(last?.message ?? ''); i++)
      last = await pool.run(`again${i}.png`).then(
        () => new Error('a broken worker answered'),
        (e: unknown) => e as Error,
      );
    expect(last?.message).to.match(/keep failing.*no TypeScript loader here/);
  });

  it('works in a program started with the tsx CLI, and does not keep it alive once idle', async () => {
    const script = join(dir, 'use-pool.mts');
    const poolUrl = pathToFileURL(fileURLToPath(new URL('./pool.ts', import.meta.url))).href;
    writeFileSync(
      script,
      `import { createPreprocessPool } from ${JSON.stringify(poolUrl)};\nconst pool = createPreprocessPool({ size: 2 });\nconst r = await pool.run(${JSON.stringify(good[0])});\nconsole.log(JSON.stringify({ kind: r.kind, sum: r.pixels.reduce((a, b) => a + b, 0) }));\n`,
    );
    const tsx = join(projectRoot(), 'node_modules', '.bin', 'tsx');
    const { stdout } = await promisify(execFile)(tsx, [script], { timeout: 30000 });
    const local = await preprocessImage(good[0]!);
    expect(JSON.parse(stdout)).to.deep.equal({ kind: local.kind, sum: local.pixels.reduce((a, b) => a + b, 0) });
  });
});

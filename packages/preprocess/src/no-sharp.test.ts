import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { projectRoot } from '@refund-vision/shared';
import { preprocessImage } from './index.ts';
import { datasetPng, meanAbsDiff, photoImage, rng } from './test-images.ts';

/**
 * sharp is optional: a machine where it is not installed (or its native part failed) must still
 * decode everything through jimp. A child process gets a resolve hook that makes `sharp`
 * unresolvable — exactly what an absent optional dependency looks like.
 */
describe('preprocess without sharp', function () {
  this.timeout(60000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'rv-preprocess-nosharp-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reports sharp unavailable, decodes PNG, JPEG and WebP with png-fast / jimp, and refuses decoder "sharp"', async () => {
    const r = rng(5);
    const x = new Uint8Array(784).map((_, i) => (i % 28 > 6 && i % 28 < 21 && i > 120 && i < 680 ? 90 + Math.floor(r() * 160) : 0));
    const files = {
      png: join(dir, 'item.png'),
      jpeg: join(dir, 'item.jpg'),
      webp: join(dir, 'item.webp'),
    };
    writeFileSync(files.png, await datasetPng(x, 280));
    writeFileSync(files.jpeg, await photoImage(x, { seed: 2, itemSide: 200, width: 320, height: 260 }));
    writeFileSync(files.webp, await photoImage(x, { seed: 2, itemSide: 200, width: 320, height: 260, format: 'webp' }));

    const hook = join(dir, 'no-sharp-hook.mjs');
    writeFileSync(
      hook,
      `export async function resolve(spec, ctx, next) {\n  if (spec === 'sharp' || spec.startsWith('sharp/')) throw Object.assign(new Error("Cannot find package 'sharp'"), { code: 'ERR_MODULE_NOT_FOUND' });\n  return next(spec, ctx);\n}\n`,
    );
    const script = join(dir, 'run.mts');
    const index = pathToFileURL(join(projectRoot(), 'packages', 'preprocess', 'src', 'index.ts')).href;
    writeFileSync(
      script,
      `import { register } from 'node:module';
register(${JSON.stringify(pathToFileURL(hook).href)});
const { preprocessImage, sharpAvailable } = await import(${JSON.stringify(index)});
const files = ${JSON.stringify(files)};
const out = { available: await sharpAvailable(), results: {} };
for (const [k, f] of Object.entries(files)) { const r = await preprocessImage(f); out.results[k] = { decoder: r.decoder, kind: r.kind, pixels: Array.from(r.pixels) }; }
out.forced = await preprocessImage(files.jpeg, { decoder: 'sharp' }).then(() => 'no error', (e) => e.message);
console.log(JSON.stringify(out));
`,
    );
    const tsx = join(projectRoot(), 'node_modules', '.bin', 'tsx');
    const { stdout } = await promisify(execFile)(tsx, [script], { timeout: 45000, maxBuffer: 1 << 24 });
    const out = JSON.parse(stdout) as {
      available: boolean;
      results: Record<string, { decoder: string; kind: string; pixels: number[] }>;
      forced: string;
    };
    expect(out.available).to.equal(false);
    expect(out.forced).to.match(/sharp is not installed/);
    expect(out.results.png!.decoder).to.equal('png-fast');
    expect(out.results.jpeg!.decoder).to.equal('jimp');
    expect(out.results.webp!.decoder).to.equal('jimp');
    for (const [k, f] of Object.entries(files)) {
      const here = await preprocessImage(f, { decoder: 'sharp' });
      expect(out.results[k]!.kind, k).to.equal(here.kind);
      expect(meanAbsDiff(Uint8Array.from(out.results[k]!.pixels), here.pixels), k).to.be.below(1);
    }
  });
});

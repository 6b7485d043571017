import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ImageError, preprocessImage, probeImage, type ImageErrorReason } from './index.ts';
import { deflateSync } from 'node:zlib';
import { buildPng, datasetPng, item, photoImage } from './test-images.ts';

/** A JPEG header (SOI, JFIF, SOF0) declaring w×h and no image data. */
export function jpegHeader(w: number, h: number): Buffer {
  const app0 = [0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00];
  const sof = [0xff, 0xc0, 0x00, 0x11, 0x08, h >> 8, h & 255, w >> 8, w & 255, 0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01];
  return Buffer.from([0xff, 0xd8, ...app0, ...sof, 0xff, 0xd9]);
}

async function reasonOf(p: Promise<unknown>): Promise<ImageErrorReason | string> {
  try {
    await p;
    return 'no error';
  } catch (e) {
    expect(e).to.be.instanceOf(ImageError);
    return (e as ImageError).reason;
  }
}

/** preprocessImage's outcome for each path, in a child process running as nobody (uid 65534). */
function reasonsAsNobody(paths: string[]): string[] {
  const index = fileURLToPath(new URL('./index.ts', import.meta.url));
  const script = `
    const { preprocessImage } = await import(${JSON.stringify(pathToFileURL(index).href)});
    const out = [];
    for (const p of ${JSON.stringify(paths)}) out.push(await preprocessImage(p).then(() => 'no error', (e) => e.reason ?? e.message));
    console.log(JSON.stringify(out));`;
  const stdout = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    uid: 65534,
    gid: 65534,
    cwd: dirname(index), // where tsx resolves from
    encoding: 'utf8',
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as string[];
}

const DECODERS = ['auto', 'sharp', 'jimp'] as const;

describe('preprocess: bad input gets its reason', function () {
  this.timeout(60000);
  let dir: string;
  let png: Buffer;
  let jpeg: Buffer;
  const x = new Uint8Array(784).map((_, i) => ((i % 28) * (i >> 5)) & 255);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rv-preprocess-bad-'));
    png = await datasetPng(item(x, 0), 200);
    jpeg = await photoImage(item(x, 0), { seed: 1, itemSide: 120, width: 300, height: 200 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function file(name: string, body: Buffer | string): string {
    const p = join(dir, name);
    writeFileSync(p, body);
    return p;
  }

  function corruptIdat(buf: Buffer): Buffer {
    const out = Buffer.from(buf);
    const at = out.indexOf('IDAT') + 4;
    for (let i = at + 2; i < at + 40 && i < out.length - 12; i++) out[i] = out[i]! ^ 0x5a;
    return out;
  }

  // sharp: the reason when libvips differs from our own checks (undefined: same as `reason`).
  const cases: {
    name: string;
    body: () => Buffer | string;
    reason: ImageErrorReason;
    probe?: boolean;
    sharp?: ImageErrorReason | 'no error';
  }[] = [
    { name: 'empty.png', body: () => Buffer.alloc(0), reason: 'empty', probe: true },
    { name: 'notes.jpg', body: () => 'these are not the pixels you are looking for\n', reason: 'not-image', probe: true },
    {
      name: 'random.bin',
      body: () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)),
      reason: 'not-image',
      probe: true,
    },
    {
      name: 'vector.svg',
      body: () => '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30"><rect width="40" height="30"/></svg>',
      reason: 'unsupported',
      probe: true,
    },
    { name: 'huge.jpg', body: () => jpegHeader(60000, 60000), reason: 'too-large', probe: false },
    { name: 'truncated.png', body: () => png.subarray(0, Math.floor(png.length / 2)), reason: 'corrupt' },
    { name: 'header-only.png', body: () => png.subarray(0, 33), reason: 'corrupt' },
    { name: 'bad-idat.png', body: () => corruptIdat(png), reason: 'corrupt' },
    // 64×64 gray needs 4,160 bytes of scanlines; this one inflates to 64 MB.
    // libspng stops reading once it has the scanlines, so sharp decodes it, safely.
    {
      name: 'deflate-bomb.png',
      body: () => buildPng({ width: 64, height: 64, depth: 8, colorType: 0 }, deflateSync(Buffer.alloc(64 << 20))),
      reason: 'corrupt',
      sharp: 'no error',
    },
    { name: 'truncated.jpg', body: () => jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), reason: 'corrupt' },
    { name: 'cut-header.jpg', body: () => jpeg.subarray(0, 12), reason: 'corrupt' },
  ];

  for (const c of cases) {
    for (const decoder of DECODERS) {
      it(`${c.name} → ${c.reason} (${decoder}, from a path and from a buffer)`, async () => {
        const p = file(c.name, c.body());
        const reason = decoder === 'sharp' && c.sharp ? c.sharp : c.reason;
        expect(await reasonOf(preprocessImage(p, { decoder }))).to.equal(reason);
        expect(await reasonOf(preprocessImage(Buffer.from(c.body()), { decoder }))).to.equal(reason);
      });
    }
    if (c.probe !== undefined) {
      it(`probeImage refuses ${c.name} from its header`, async () => {
        expect(await reasonOf(Promise.resolve().then(() => probeImage(Buffer.from(c.body()))))).to.equal(c.probe ? c.reason : 'no error');
      });
    }
  }

  it('the 60000×60000 JPEG is refused from its header, before any decoder allocates 3.6 GP', () => {
    expect(probeImage(jpegHeader(60000, 60000))).to.deep.equal({ format: 'jpeg', width: 60000, height: 60000 });
  });

  it('maxPixels and maxBytes are honoured', async () => {
    const p = file('ok.png', png);
    expect((await preprocessImage(p)).pixels).to.have.length(784);
    expect(await reasonOf(preprocessImage(p, { maxPixels: 199 * 199 }))).to.equal('too-large');
    expect(await reasonOf(preprocessImage(p, { maxBytes: png.length - 1 }))).to.equal('too-large');
    expect(await reasonOf(preprocessImage(png, { maxBytes: png.length - 1 }))).to.equal('too-large');
  });

  it('unreadable paths: missing, a directory, a symlink loop', async () => {
    mkdirSync(join(dir, 'folder.png'));
    symlinkSync(join(dir, 'loop-b.png'), join(dir, 'loop-a.png'));
    symlinkSync(join(dir, 'loop-a.png'), join(dir, 'loop-b.png'));
    for (const p of ['missing.png', 'folder.png', 'loop-a.png']) {
      const err = await preprocessImage(join(dir, p)).catch((e: unknown) => e);
      expect(err, p).to.be.instanceOf(ImageError);
      expect((err as ImageError).reason, p).to.equal('unreadable');
      expect((err as ImageError).message).to.contain(p);
    }
  });

  it('a named pipe is unreadable at once (opening it would block)', async function () {
    const fifo = join(dir, 'pipe.png');
    try {
      execFileSync('mkfifo', [fifo]);
    } catch {
      this.skip(); // no mkfifo on this system
    }
    expect(await reasonOf(preprocessImage(fifo))).to.equal('unreadable');
  });

  it('a file without read permission is unreadable (beside a readable one, as a user without rights)', async () => {
    const secret = file('secret.png', png);
    const open = file('open.png', png);
    chmodSync(secret, 0o000);
    chmodSync(dir, 0o755); // only the file's own mode may stand in the way
    // Root reads anything, so as root the check runs in a child process as the nobody user.
    const asRoot = process.getuid?.() === 0;
    const reasons = asRoot
      ? reasonsAsNobody([secret, open])
      : [await reasonOf(preprocessImage(secret)), await reasonOf(preprocessImage(open))];
    expect(reasons).to.deep.equal(['unreadable', 'no error']);
  });

  it('names with spaces, quotes, non-ASCII and HTML are just names', async () => {
    const p = file(`a "quoted" <b>näme<i> ✓ 'x'.png`, png);
    const r = await preprocessImage(p);
    expect(r.format).to.equal('png');
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { samplesDir } from '../src/test-images.ts';
import { inspectImage, assertComplete } from '../src/probe.ts';
import { decodePngFast } from '../src/png-fast.ts';
import { borderBackground, contentBox, fitToSquare } from '../src/fit.ts';
const dir = samplesDir()!;
const files = ['G1', 'G2'].flatMap((g) => readdirSync(join(dir, g)).map((f) => join(dir, g, f)));
const bufs = files.map((f) => readFileSync(f));
const T: Record<string, number> = {};
const cpu = () => process.cpuUsage().user / 1000;
function time(name: string, fn: () => void) { const t = cpu(); fn(); T[name] = (T[name] ?? 0) + cpu() - t; }
for (let rep = 0; rep < 4; rep++) {
  if (rep === 1) for (const k of Object.keys(T)) T[k] = 0;
  for (const b of bufs) {
    time('read', () => readFileSync(files[0]!));
    time('inspect', () => { const i = inspectImage(b); assertComplete(b, i.format); });
    let idat: Buffer;
    time('inflate-only', () => { const at = b.indexOf('IDAT'); const len = b.readUInt32BE(at - 4); inflateSync(b.subarray(at + 4, at + 4 + len)); });
    let g: any;
    time('pngfast', () => { g = decodePngFast(b); });
    time('border', () => borderBackground(g));
    const bg = borderBackground(g);
    time('contentBox', () => contentBox(g, bg));
    time('fit', () => fitToSquare(g));
  }
}
for (const [k, v] of Object.entries(T)) console.log(k, (v / bufs.length / 3).toFixed(2), 'ms cpu/img');

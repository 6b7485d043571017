import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { samplesDir } from '../src/test-images.ts';
import { decodePngFast } from '../src/png-fast.ts';
import { fitToSquare } from '../src/fit.ts';
const dir = samplesDir()!;
const bufs = ['G1', 'G2'].flatMap((g) => readdirSync(join(dir, g)).map((f) => readFileSync(join(dir, g, f))));
const cpu = () => process.cpuUsage().user / 1000;
for (let rep = 0; rep < 5; rep++) {
  let a = 0, b = 0, c = 0;
  for (const buf of bufs) {
    let t = cpu(); const at = buf.indexOf('IDAT'); inflateSync(buf.subarray(at + 4, at + 4 + buf.readUInt32BE(at - 4))); a += cpu() - t;
    t = cpu(); const g = decodePngFast(buf)!; b += cpu() - t;
    t = cpu(); fitToSquare(g); c += cpu() - t;
  }
  console.log('inflate', (a / bufs.length).toFixed(2), 'pngfast', (b / bufs.length).toFixed(2), 'fit', (c / bufs.length).toFixed(2));
}

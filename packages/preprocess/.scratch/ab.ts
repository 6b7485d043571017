import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { samplesDir } from '../src/test-images.ts';
import { decodePngFast } from '../src/png-fast.ts';
import { decodePngFast as oldFast } from './png-fast-old.ts';
const dir = samplesDir()!;
const bufs = ['G1', 'G2'].flatMap((g) => readdirSync(join(dir, g)).map((f) => readFileSync(join(dir, g, f))));
const cpu = () => process.cpuUsage().user / 1000;
for (let rep = 0; rep < 6; rep++) {
  let a = 0, b = 0;
  for (const buf of bufs) {
    let t = cpu(); oldFast(buf); a += cpu() - t;
    t = cpu(); decodePngFast(buf); b += cpu() - t;
  }
  console.log('old', (a / bufs.length).toFixed(2), 'new', (b / bufs.length).toFixed(2));
}

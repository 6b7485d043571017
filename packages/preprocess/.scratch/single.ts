import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { samplesDir } from '../src/test-images.ts';
import { preprocessImage, readImageFile } from '../src/preprocess.ts';
const dir = samplesDir()!;
const files = ['G1', 'G2'].flatMap((g) => readdirSync(join(dir, g)).map((f) => join(dir, g, f)));
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
for (let rep = 0; rep < 4; rep++) {
  const r: Record<string, string> = {};
  let c = cpu(); let w = performance.now();
  for (const f of files) await readImageFile(f);
  r.read = `${((cpu() - c) / files.length).toFixed(2)}/${((performance.now() - w) / files.length).toFixed(2)}`;
  c = cpu(); w = performance.now();
  for (const f of files) readFileSync(f);
  r.readSync = `${((cpu() - c) / files.length).toFixed(2)}/${((performance.now() - w) / files.length).toFixed(2)}`;
  const bufs = files.map((f) => readFileSync(f));
  c = cpu(); w = performance.now();
  for (const b of bufs) await preprocessImage(b);
  r.buf = `${((cpu() - c) / files.length).toFixed(2)}/${((performance.now() - w) / files.length).toFixed(2)}`;
  c = cpu(); w = performance.now();
  for (const f of files) await preprocessImage(f);
  r.path = `${((cpu() - c) / files.length).toFixed(2)}/${((performance.now() - w) / files.length).toFixed(2)}`;
  console.log(r);
}

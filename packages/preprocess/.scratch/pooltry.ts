import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createPreprocessPool, preprocessImage } from '../src/index.ts';
import { samplesDir } from '../src/test-images.ts';
const dir = samplesDir()!;
const files = ['G1', 'G2'].flatMap((g) => readdirSync(join(dir, g)).map((f) => join(dir, g, f)));
let t = performance.now();
const pool = createPreprocessPool();
await Promise.all(files.slice(0, 4).map((f) => pool.run(f)));
console.log('pool warm', (performance.now() - t).toFixed(0));
for (let rep = 0; rep < 3; rep++) {
  t = performance.now();
  const rs = await Promise.all(files.map((f) => pool.run(f)));
  const dt = performance.now() - t;
  t = performance.now();
  for (const f of files) await preprocessImage(f);
  const ds = performance.now() - t;
  console.log('pool ms/img', (dt / files.length).toFixed(2), 'single ms/img', (ds / files.length).toFixed(2), rs[0]!.decoder);
}
await pool.run('/nonexistent').catch((e) => console.log(e.name, e.reason, e.message));
await pool.close();

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { benchPreprocess } from '../src/bench.ts';
import { createPreprocessPool } from '../src/pool.ts';
import { samplesDir } from '../src/test-images.ts';
const dir = samplesDir()!;
const files = ['G1', 'G2'].flatMap((g) => readdirSync(join(dir, g)).map((f) => join(dir, g, f)));
for (const size of [1, 2, 3]) {
  const pool = createPreprocessPool({ size });
  const r = await benchPreprocess({ files, pool, warmup: 100, repeat: 5 });
  console.log(size, r.mode, r.msPerImage.toFixed(2), r.cpuMsPerImage.toFixed(2));
  await pool.close();
}
const r = await benchPreprocess({ files, warmup: 100, repeat: 5 });
console.log(r.mode, r.msPerImage.toFixed(2), r.cpuMsPerImage.toFixed(2));

/**
 * Prints preprocessing throughput on this machine: the old sample PNGs and a generated 12 MP JPEG,
 * single thread and pool. `tsx packages/preprocess/src/cli/bench.ts [--repeat N]`
 */
import { mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { projectRoot } from '@refund-vision/shared';
import { benchPreprocess, writeLargePhoto, type BenchResult } from '../bench.ts';

const repeat = Number(process.argv[process.argv.indexOf('--repeat') + 1]) || 3;
const rows: [string, BenchResult][] = [];

const samples = resolve(projectRoot(), '..', 'shared', 'data', 'refund-samples');
if (existsSync(samples)) {
  const files = readdirSync(samples, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith('.png'))
    .map((d) => join(d.parentPath, d.name));
  rows.push([`${files.length} sample PNGs`, await benchPreprocess({ files, repeat })]);
  rows.push([`${files.length} sample PNGs`, await benchPreprocess({ files, pool: true, repeat })]);
} else {
  console.log(`(no sample PNGs at ${samples}: skipped)`);
}

const dir = mkdtempSync(join(tmpdir(), 'rv-preprocess-bench-'));
try {
  const photos = [1, 2, 3, 4].map((i) => join(dir, `photo-${i}.jpg`));
  for (const [i, p] of photos.entries()) await writeLargePhoto(p, { seed: i + 1 });
  const files = Array.from({ length: 5 }, () => photos).flat();
  rows.push(['20 × 12 MP JPEG', await benchPreprocess({ files, repeat })]);
  rows.push(['20 × 12 MP JPEG', await benchPreprocess({ files, pool: true, repeat })]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log(
  `${cpus()[0]?.model ?? 'cpu'}, ${availableParallelism()} cores, Node ${process.version}, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
for (const [name, r] of rows) {
  console.log(
    `${name.padEnd(18)} ${r.mode.padEnd(8)} ${r.msPerImage.toFixed(2).padStart(8)} ms/img ${r.imagesPerSec.toFixed(0).padStart(6)} img/s  cpu ${r.cpuMsPerImage.toFixed(2)} ms/img  ${JSON.stringify(r.decoders)}${r.failed ? ` failed ${r.failed}` : ''}`,
  );
}

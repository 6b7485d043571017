import { readFileSync } from 'node:fs';
import { writeLargePhoto } from '../src/bench.ts';
import { loadSharp } from '../src/decode-sharp.ts';
import { preprocessImage } from '../src/preprocess.ts';
const p = '/tmp/pp/big.jpg';
await writeLargePhoto(p);
const buf = readFileSync(p);
console.log('size', buf.length);
const sharp = (await loadSharp())!;
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
async function t(name: string, fn: () => Promise<unknown>) {
  await fn();
  const c0 = cpu(), w0 = performance.now();
  for (let i = 0; i < 5; i++) await fn();
  console.log(name, 'wall', ((performance.now() - w0) / 5).toFixed(1), 'cpu', ((cpu() - c0) / 5).toFixed(1));
}
await t('sharp 28x28 gray', () => sharp(buf).grayscale().resize(28, 28).raw().toBuffer());
await t('sharp 500 inside', () => sharp(buf).resize({ width: 500, height: 500, fit: 'inside', kernel: 'linear' }).raw().toBuffer());
await t('sharp 500 seq', () => sharp(buf, { sequentialRead: true }).rotate().resize({ width: 500, height: 500, fit: 'inside', fastShrinkOnLoad: true, kernel: 'linear' }).raw({ depth: 'uchar' }).toBuffer());
await t('sharp failOn error', () => sharp(buf, { failOn: 'error', sequentialRead: true }).rotate().resize({ width: 500, height: 500, fit: 'inside', kernel: 'linear' }).raw().toBuffer());
await t('preprocessImage', () => preprocessImage(buf));
await t('preprocessImage path', () => preprocessImage(p));
console.log(sharp.concurrency(), sharp.versions);

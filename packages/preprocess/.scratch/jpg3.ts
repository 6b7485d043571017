import { readFileSync } from 'node:fs';
import { loadSharp } from '../src/decode-sharp.ts';
const buf = readFileSync('/tmp/pp/big.jpg');
const sharp = (await loadSharp())!;
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
async function t(name: string, fn: () => Promise<unknown>) {
  await fn();
  const c0 = cpu();
  for (let i = 0; i < 10; i++) await fn();
  return ((cpu() - c0) / 10).toFixed(1);
}
for (let rep = 0; rep < 2; rep++) {
  const r: Record<string, string> = {};
  r.r250 = await t('', () => sharp(buf).resize({ width: 250, height: 250, fit: 'inside', kernel: 'linear' }).raw().toBuffer());
  r.r444 = await t('', () => sharp(buf).resize({ width: 444, height: 444, fit: 'inside', kernel: 'linear' }).raw().toBuffer());
  r.r444n = await t('', () => sharp(buf).resize({ width: 444, height: 444, fit: 'inside', kernel: 'nearest' }).raw().toBuffer());
  r.r444full = await t('', () => sharp(buf, { failOn: 'error', limitInputPixels: 1e8, sequentialRead: true }).rotate().resize({ width: 444, height: 444, fit: 'inside', fastShrinkOnLoad: true, kernel: 'linear' }).raw({ depth: 'uchar' }).toBuffer());
  r.r444gray = await t('', () => sharp(buf).resize({ width: 444, height: 444, fit: 'inside', kernel: 'linear' }).grayscale().raw().toBuffer());
  r.meta = await t('', () => sharp(buf).metadata());
  console.log(r);
}

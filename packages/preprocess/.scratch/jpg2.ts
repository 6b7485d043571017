import { readFileSync } from 'node:fs';
import { loadSharp, decodeWithSharp } from '../src/decode-sharp.ts';
import { inspectImage } from '../src/probe.ts';
import { fitToSquare } from '../src/fit.ts';
const buf = readFileSync('/tmp/pp/big.jpg');
const sharp = (await loadSharp())!;
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
async function t(name: string, fn: () => Promise<unknown>) {
  await fn();
  const c0 = cpu();
  for (let i = 0; i < 8; i++) await fn();
  console.log(name, 'cpu', ((cpu() - c0) / 8).toFixed(1));
}
for (const side of [28, 250, 450, 499, 500, 501, 1000])
  await t(`resize ${side}`, () => sharp(buf).resize({ width: side, height: side, fit: 'inside', kernel: 'linear' }).raw().toBuffer());
await t('raw jpeg shrink via jpeg shrink param?', () => sharp(buf).resize({ width: 500, height: 500, fit: 'inside', kernel: 'nearest' }).raw().toBuffer());
const info = inspectImage(buf);
let g: any;
await t('decodeWithSharp', async () => { g = await decodeWithSharp(sharp, buf, info, 1e8); });
await t('fit', async () => fitToSquare(g));
await t('inspect', async () => inspectImage(buf));
console.log(g.width, g.height);

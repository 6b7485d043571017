/**
 * Makes docs/dashboard.png: a real API on a temp SQLite file, four weeks of daily runs recorded
 * through the real endpoints with real Fashion-MNIST test images (a few of them broken on purpose:
 * inverted photos, a one-class folder, noisy scans), moved back in time through the store, some
 * feedback, then the page in headless Chromium.
 *
 *   pnpm tsx packages/api/src/dashboard/screenshot.ts [--out docs/dashboard.png] [--days 28]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig, projectRoot, PIXELS_PER_IMAGE, seededRandom } from '@refund-vision/shared';
import { loadFashionMnist } from '@refund-vision/model';
import { startServer } from '../server.ts';
import { chromiumMissing, launchChromium } from './browser.ts';
import { pick, recordRun } from './seed.ts';

const { values: args } = parseArgs({ options: { out: { type: 'string' }, days: { type: 'string', default: '28' } } });
const out = resolve(args.out ?? join(projectRoot(), 'docs', 'dashboard.png'));
const days = Number(args.days);
const missing = chromiumMissing();
if (missing) {
  console.error(missing);
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'rv-screenshot-'));
const config = loadConfig({
  overrides: { api: { port: 0, host: '127.0.0.1', dbPath: join(dir, 'rv.db') }, logs: { dir: join(dir, 'logs'), console: false } },
});
const server = await startServer({ config });
const test = await loadFashionMnist('test');
const rand = seededRandom(20261121);
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));

try {
  const now = Date.now();
  for (let d = days - 1; d >= 0; d--) {
    const n = int(120, 380);
    const offset = int(0, test.count - n - 1);
    let indices = Array.from({ length: n }, (_, i) => offset + i);
    let pixels: Uint8Array;
    let kind = 'daily';
    if (d === 19) kind = 'inverted';
    if (d === 9) kind = 'one-class';
    if (d === 4) kind = 'noisy';
    if (kind === 'one-class') indices = indices.filter((i) => test.labels[i] === 7 || test.labels[i] === 5);
    pixels = pick(test.images, indices);
    if (kind === 'inverted') pixels = pixels.map((v) => 255 - v);
    if (kind === 'noisy') pixels = pixels.map((v) => Math.max(0, Math.min(255, v + Math.round((rand() + rand() + rand() - 1.5) * 200))));
    const count = pixels.length / PIXELS_PER_IMAGE;
    const labels = d % 3 === 1 ? undefined : indices.map((i) => test.labels[i]!); // not every folder comes with labels
    const date = new Date(now - d * 86_400_000 - 2 * 3_600_000);
    const runKey = `${date.toISOString().slice(0, 10)}-${kind}`;
    const ids = indices.map((i, j) => (d === 0 && j === 0 ? '<img src=x onerror=alert(1)>.png' : `G${1 + (j % 2)}/item-${i}.png`));
    const seeded = await recordRun(server.url, { runKey, pixels, labels, ids, processMs: count * (2.5 + rand() * 2) });
    await server.store.runs.backdate(runKey, date, count * 4);
    // A person checked a few predictions of some runs.
    if (d % 2 === 0) {
      for (let j = 0; j < Math.min(12, count); j++) {
        const res = await fetch(`${server.url}/v1/predictions/${seeded.predictionIds[j]}/feedback`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ correctClass: test.labels[indices[j]!]! }),
        });
        if (!res.ok) throw new Error(`feedback: ${res.status} ${await res.text()}`);
      }
    }
    console.log(`${runKey}: ${count} images, health ${seeded.run?.health}`);
  }

  const browser = await launchChromium({ width: 1400, height: 1000 });
  try {
    const page = await browser.context.newPage();
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && console.error(`console: ${m.text()}`));
    await page.goto(server.url);
    await page.selectOption('#days', '30');
    await page.waitForSelector('body[data-loaded="true"]');
    await page.waitForSelector('#runs-table tbody tr.clickable');
    const alertRow = page.locator('#runs-table tbody tr', { hasText: 'inverted' });
    await alertRow.click();
    await page.waitForSelector('#detail:not([hidden]) #predictions-table tbody tr');
    // Strings run in the page: this package is compiled without DOM types.
    await page.evaluate('window.scrollTo(0, 0)');
    const height = Number(await page.evaluate('Math.min(document.body.scrollHeight, 2300)'));
    await page.screenshot({ path: out, clip: { x: 0, y: 0, width: 1400, height }, fullPage: true });
    console.log(`wrote ${out}`);
  } finally {
    await browser.close();
  }
} finally {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}

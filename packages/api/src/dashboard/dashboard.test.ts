import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { RunSummary } from '@refund-vision/shared';
import { send, startTestServer, testBatch, type TestServer } from '../test-support.ts';
import { chromiumMissing, launchChromium, type Browser } from './browser.ts';
import { backdate, recordRun } from './seed.ts';

const XSS_NAME = '<img src=x onerror=alert(1)>.png';
const CHARTS = ['confidence', 'accuracy', 'images', 'time', 'health'];

describe('dashboard in headless Chromium against the real API', function () {
  this.timeout(120_000);
  let srv: TestServer;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const foreign: string[] = [];
  let historyCalls = 0;
  let xssRun: RunSummary;

  before(async function () {
    const missing = chromiumMissing();
    if (missing) {
      console.log(`    skipped: ${missing}`);
      this.skip();
    }
    srv = await startTestServer();
    const a = await testBatch(120, 0);
    await recordRun(srv.url, { runKey: 'dash-two-days-ago', pixels: a.pixels, labels: a.labels });
    backdate(srv.store, 'dash-two-days-ago', new Date(Date.now() - 2 * 86_400_000));
    const b = await testBatch(60, 500);
    const ids = b.labels.map((_, i) => (i === 3 ? XSS_NAME : `G2/item-${i}.png`));
    await recordRun(srv.url, { runKey: 'dash-xss', pixels: b.pixels, labels: b.labels, ids });
    backdate(srv.store, 'dash-xss', new Date(Date.now() - 86_400_000));
    const c = await testBatch(80, 900);
    await recordRun(srv.url, { runKey: 'dash-inverted', pixels: c.pixels.map((v) => 255 - v) });
    xssRun = srv.store.getRun('dash-xss')!;

    browser = await launchChromium();
    const origin = new URL(srv.url).origin;
    // Everything must come from our origin: the page has to work offline.
    await browser.context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('data:') || new URL(url).origin === origin) {
        if (new URL(url, origin).pathname === '/v1/history') historyCalls++;
        return route.continue();
      }
      foreign.push(url);
      return route.abort();
    });
    page = await browser.context.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    page.on('dialog', (d) => {
      problems.push(`dialog opened: ${d.message()}`);
      void d.dismiss();
    });
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  const attr = (sel: string, name: string) => page.getAttribute(sel, name);
  /** Reads the Chart.js instance behind a canvas (the page is compiled without DOM types: strings). */
  const chartCounts = (key: string) =>
    page.evaluate(`(() => { const c = Chart.getChart(document.getElementById('chart-${key}')); return c.data.datasets.map((d) => d.data.length); })()`) as Promise<number[]>;

  it('loads with one /v1/history call, from our origin only, and draws every chart with one point per run', async () => {
    await page.goto(srv.url);
    await page.waitForSelector('body[data-loaded="true"]');
    expect(historyCalls).to.equal(1);
    for (const key of CHARTS) {
      expect(await attr(`figure[data-chart="${key}"]`, 'data-points'), key).to.equal('3');
      for (const n of await chartCounts(key)) expect(n, key).to.equal(3);
    }
    expect(await chartCounts('confidence')).to.have.length(11); // all classes + one line per class
    expect(await page.locator('#runs-table tbody tr').count()).to.equal(3);
    expect(await page.textContent('#summary')).to.include('Runs3').and.include('Images260');
    expect(foreign).to.deep.equal([]);
    expect(problems).to.deep.equal([]);
    // the accuracy chart carries the label-based accuracy, never the confidence
    const acc = (await page.evaluate(`Chart.getChart(document.getElementById('chart-accuracy')).data.datasets[0].data.map((p) => p.y)`)) as (number | null)[];
    const runs = (await send(`${srv.url}/v1/runs`)).body.runs.map((r: unknown) => RunSummary.parse(r)).reverse();
    const expected = runs.map((r: RunSummary) => r.accuracy);
    acc.forEach((a, i) => (expected[i] === null ? expect(a).to.equal(null) : expect(a).to.be.closeTo(expected[i]!, 1e-5)));
  });

  it('clicking a run shows its predictions; a file name with HTML in it is shown as text', async () => {
    await page.locator('#runs-table tbody tr', { hasText: 'dash-xss' }).click();
    await page.waitForSelector('#detail:not([hidden]) #predictions-table tbody tr');
    expect(await page.textContent('#detail-title')).to.equal('Run dash-xss');
    expect(await page.locator('#predictions-table tbody tr').count()).to.equal(60);
    const cell = page.locator('#predictions-table td.file', { hasText: 'onerror' });
    expect(await cell.textContent()).to.equal(XSS_NAME);
    expect(await page.locator('#detail img, #runs-table img').count()).to.equal(0);
    expect(await page.locator('#detail-checks li').count()).to.equal(xssRun.checks!.length);
    expect(problems).to.deep.equal([]);
  });

  it('feedback submitted in the page shows up in the page and through the API', async () => {
    const rows = page.locator('#predictions-table tbody tr');
    const first = rows.nth(0);
    const detail = (await send(`${srv.url}/v1/runs/dash-xss?limit=2`)).body;
    const [p0, p1] = detail.predictions;
    const other = (p0.classIndex + 1) % 10;
    await first.locator('select').selectOption(String(other));
    await first.locator('button.save').click();
    // (locators, not waitForFunction: the page's CSP forbids string evaluation)
    await first.locator('.fb-state', { hasText: '✗ actually' }).waitFor();
    await rows.nth(1).locator('button.right-btn').click();
    await rows.nth(1).locator('.fb-state', { hasText: '✓ confirmed' }).waitFor();
    expect(await page.textContent('#fact-feedback b')).to.equal('50.0% of 2');

    const after = (await send(`${srv.url}/v1/runs/dash-xss?limit=2`)).body;
    expect(after.predictions.map((p: any) => p.feedbackClass)).to.deep.equal([other, p1.classIndex]);
    expect(after.run.feedbackAccuracy).to.equal(0.5);

    // and in the history after a reload
    await page.reload();
    await page.waitForSelector('body[data-loaded="true"]');
    const row = page.locator('#runs-table tbody tr', { hasText: 'dash-xss' });
    expect(await row.textContent()).to.include('50.0% (2)');
    expect(problems).to.deep.equal([]);
  });

  it('a year of daily runs loads in one call and draws 365+ points', async () => {
    const { pixels } = await testBatch(2, 7000);
    const days = Array.from({ length: 365 }, (_, i) => i + 3);
    for (let i = 0; i < days.length; i += 8) {
      await Promise.all(days.slice(i, i + 8).map(async (d) => {
        await recordRun(srv.url, { runKey: `year-${d}`, pixels });
        backdate(srv.store, `year-${d}`, new Date(Date.now() - d * 86_400_000 + 3_600_000));
      }));
    }
    historyCalls = 0;
    const t0 = Date.now();
    await page.selectOption('#days', '365');
    await page.waitForSelector('figure[data-chart="images"][data-points="366"]');
    const ms = Date.now() - t0;
    const history = (await send(`${srv.url}/v1/history?days=365`)).text;
    console.log(`      year of runs: ${ms} ms to redraw, /v1/history ${(history.length / 1024).toFixed(0)} KiB`);
    expect(historyCalls).to.equal(1);
    for (const key of CHARTS) expect(await attr(`figure[data-chart="${key}"]`, 'data-points'), key).to.equal('366');
    expect(await page.locator('#runs-table tbody tr').count()).to.equal(30);
    expect(problems).to.deep.equal([]);
  });
});

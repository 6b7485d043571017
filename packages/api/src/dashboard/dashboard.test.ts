import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { RunSummary } from '@refund-vision/shared';
import { predictBody, send, startTestServer, testBatch, type TestServer } from '../test-support.ts';
import { collectProblems, launchChromium, ownOriginOnly, skipWithoutChromium, type Browser } from './browser.ts';
import { recordRun } from './seed.ts';

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
    skipWithoutChromium(this);
    srv = await startTestServer();
    const a = await testBatch(120, 0);
    await recordRun(srv.url, { runKey: 'dash-two-days-ago', pixels: a.pixels, labels: a.labels });
    await srv.store.runs.backdate('dash-two-days-ago', new Date(Date.now() - 2 * 86_400_000));
    const b = await testBatch(60, 500);
    const ids = b.labels.map((_, i) => (i === 3 ? XSS_NAME : `G2/item-${i}.png`));
    await recordRun(srv.url, { runKey: 'dash-xss', pixels: b.pixels, labels: b.labels, ids });
    await srv.store.runs.backdate('dash-xss', new Date(Date.now() - 86_400_000));
    const c = await testBatch(80, 900);
    await recordRun(srv.url, { runKey: 'dash-inverted', pixels: c.pixels.map((v) => 255 - v) });
    xssRun = (await srv.store.runs.getRun('dash-xss'))!;

    browser = await launchChromium();
    const origin = new URL(srv.url).origin;
    // Everything must come from our origin: the page has to work offline.
    await ownOriginOnly(
      browser,
      origin,
      (url) => foreign.push(url),
      (url) => url.pathname === '/v1/history' && historyCalls++,
    );
    page = await browser.context.newPage();
    collectProblems(page, problems);
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  const attr = (sel: string, name: string) => page.getAttribute(sel, name);
  /** Reads the Chart.js instance behind a canvas (the page is compiled without DOM types: strings). */
  const chartCounts = (key: string) =>
    page.evaluate(
      `(() => { const c = Chart.getChart(document.getElementById('chart-${key}')); return c.data.datasets.map((d) => d.data.length); })()`,
    ) as Promise<number[]>;

  it('loads with one /v1/history call, from our origin only, and draws every chart with one point per run', async () => {
    await page.goto(srv.url);
    await page.waitForSelector('body[data-loaded="true"]');
    expect(historyCalls).to.equal(1);
    for (const key of CHARTS) {
      expect(await attr(`figure[data-chart="${key}"]`, 'data-points'), key).to.equal('3');
      for (const n of await chartCounts(key)) expect(n, key).to.equal(3);
    }
    expect(await chartCounts('confidence')).to.have.length(11); // all classes + one line per class
    // two days of runs: time ticks on whole UTC hours, no two reading the same
    const ticks = (await page.evaluate(
      `Chart.getChart(document.getElementById('chart-images')).scales.x.ticks.map((t) => [t.value, t.label])`,
    )) as [number, string][];
    expect(ticks.length).to.be.within(2, 7);
    expect(new Set(ticks.map(([, l]) => l)).size).to.equal(ticks.length);
    for (const [v, l] of ticks) {
      expect(v % 3_600_000, l).to.equal(0);
      expect(l).to.equal(`${new Date(v).toISOString().slice(5, 10)} ${new Date(v).toISOString().slice(11, 16)}`);
    }
    expect(await page.locator('#runs-table tbody tr').count()).to.equal(3);
    expect(await page.textContent('#summary'))
      .to.include('Runs3')
      .and.include('Images260');
    expect(foreign).to.deep.equal([]);
    expect(problems).to.deep.equal([]);
    // the accuracy chart carries the label-based accuracy, never the confidence
    const acc = (await page.evaluate(
      `Chart.getChart(document.getElementById('chart-accuracy')).data.datasets[0].data.map((p) => p.y)`,
    )) as (number | null)[];
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
    // reviews by reason: the labelled run's wrong answers are mismatches, one cell per flagged image
    const reviews = xssRun.reviews!;
    expect(reviews.mismatch).to.be.greaterThan(0);
    const text = (['mismatch', 'out-of-scope', 'low-confidence'] as const).filter((r) => reviews[r]).map((r) => `${reviews[r]} ${r}`);
    expect(await page.textContent('#fact-reviews b')).to.equal(text.join(' · '));
    expect(await page.locator('#predictions-table td.review.mismatch').count()).to.equal(reviews.mismatch);
    expect(await page.locator('#predictions-table td.review').count()).to.equal(
      reviews.mismatch + reviews['out-of-scope'] + reviews['low-confidence'],
    );
    expect(await page.textContent('#detail-facts')).to.contain(`Accuracy (estimated)${(xssRun.estimatedAccuracy! * 100).toFixed(1)}%`);
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

    // A reviewer's "none of these classes" is a miss: shown as such, and counted in the accuracy.
    const queue = (await send(`${srv.url}/v1/reviews?run=dash-xss&reason=mismatch`)).body.items as { id: number }[];
    const none = queue.find((i) => i.id !== p0.predictionId && i.id !== p1.predictionId)!;
    const decided = await send(`${srv.url}/v1/reviews/${none.id}/decision`, { json: { decision: 'none', reviewer: 'dee' } });
    expect(decided.status).to.equal(200);
    await page.reload();
    await page.waitForSelector('body[data-loaded="true"]');
    expect(await row.textContent()).to.include('33.3% (3)');
    await row.click();
    const noneRow = page.locator(`#predictions-table tbody tr[data-prediction-id="${none.id}"]`);
    await noneRow.locator('.fb-state', { hasText: '✗ none of the classes' }).waitFor();
    expect(await noneRow.getAttribute('class')).to.equal('wrong');
    expect(await page.textContent('#fact-feedback b')).to.equal('33.3%');
    expect(problems).to.deep.equal([]);
  });

  it('a year of daily runs loads in one call and draws 365+ points', async () => {
    const { pixels } = await testBatch(2, 7000);
    const days = Array.from({ length: 365 }, (_, i) => i + 3);
    for (let i = 0; i < days.length; i += 8) {
      await Promise.all(
        days.slice(i, i + 8).map(async (d) => {
          await recordRun(srv.url, { runKey: `year-${d}`, pixels });
          await srv.store.runs.backdate(`year-${d}`, new Date(Date.now() - d * 86_400_000 + 3_600_000));
        }),
      );
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

describe('dashboard on a server with an API key', function () {
  this.timeout(120_000);
  const key = 'dashboard-test-key-0123456789';
  let srv: TestServer;
  const bearer = { authorization: `Bearer ${key}` };

  before(async () => {
    srv = await startTestServer({ api: { apiKey: key } });
    const a = await testBatch(40, 3000);
    await recordRun(srv.url, { runKey: 'keyed-yesterday', pixels: a.pixels, labels: a.labels, apiKey: key });
    await srv.store.runs.backdate('keyed-yesterday', new Date(Date.now() - 86_400_000));
    const b = await testBatch(30, 4000);
    await recordRun(srv.url, { runKey: 'keyed-today', pixels: b.pixels, labels: b.labels, apiKey: key });
  });
  after(async () => srv?.stop());

  it('serves the page shell without the key, and no data: / is 200, /v1/runs is 401', async () => {
    const page = await send(`${srv.url}/`);
    expect(page.status).to.equal(200);
    expect(page.headers.get('content-type')).to.match(/^text\/html/);
    expect(page.text).to.include('id="key-form"');
    expect((await send(`${srv.url}/v1/runs`)).status).to.equal(401);
    expect((await send(`${srv.url}/v1/runs`, { headers: bearer })).status).to.equal(200);
    // the rest of the shell: script, style, Chart.js, and the API docs with the document they read
    for (const p of [
      '/dashboard/app.js',
      '/dashboard/style.css',
      '/dashboard/vendor/chart.umd.min.js',
      '/docs',
      '/docs/init.js',
      '/docs/assets/swagger-ui-bundle.js',
      '/openapi.json',
    ]) {
      expect((await send(`${srv.url}${p}`)).status, p).to.equal(200);
    }
    // every data or inference route still needs it, and so does anything the shell does not serve
    const { pixels } = await testBatch(1);
    const protectedRequests: [string, Parameters<typeof send>[1]][] = [
      ['/v1/history', {}],
      ['/v1/summary', {}],
      ['/v1/runs.csv', {}],
      ['/v1/runs/keyed-today', {}],
      ['/metrics', {}],
      ['/v2/models/fashion-cnn', {}],
      ['/dashboard/no-such-file.js', {}],
      ['/', { method: 'POST', json: {} }],
      ['/v1/predict', { json: predictBody(pixels) }],
      [
        '/predict',
        {
          body: readFileSync(new URL('../fixtures/legacy-pandas.json', import.meta.url), 'utf8'),
          headers: { 'content-type': 'application/json' },
        },
      ],
      ['/v2/models/fashion-cnn/infer', { json: { inputs: [{ name: 'x', shape: [1, 784], datatype: 'UINT8', data: Array.from(pixels) }] } }],
      ['/v1/predictions/1/feedback', { json: { correct: true } }],
    ];
    for (const [p, opts] of protectedRequests) {
      const res = await send(`${srv.url}${p}`, opts);
      expect(res.status, p).to.equal(401);
      expect(res.body.error.code, p).to.equal('unauthorized');
    }
    expect((await srv.store.runs.listRuns()).items).to.have.length(2); // nothing got recorded without the key
  });

  describe('in headless Chromium', () => {
    let browser: Browser;
    let page: Page;
    const problems: string[] = [];
    /** Every API call the page made: path and the Authorization header it carried. */
    const calls: { path: string; auth: string | undefined }[] = [];

    before(async function () {
      skipWithoutChromium(this);
      browser = await launchChromium();
      await browser.context.route('**/*', (route) => {
        const url = new URL(route.request().url());
        if (url.pathname.startsWith('/v1/')) calls.push({ path: url.pathname, auth: route.request().headers().authorization });
        return route.continue();
      });
      page = await browser.context.newPage();
      collectProblems(page, problems);
    });
    after(async () => browser?.close());

    const noProblems = () => expect(problems.filter((p) => !/status of 401/.test(p))).to.deep.equal([]);

    it('asks for the key, refuses a wrong one, then draws the charts, sending the key on every call', async () => {
      await page.goto(srv.url);
      await page.locator('#key-form').waitFor({ state: 'visible' });
      expect(await page.textContent('#key-message')).to.include('needs its API key');
      expect(await page.getAttribute('body', 'data-loaded')).to.equal(null);
      expect(calls.length).to.be.greaterThan(0);
      expect(calls.every((c) => c.auth === undefined)).to.equal(true);

      await page.fill('#api-key', 'not-the-key-0123456789');
      await page.click('#key-form button[type="submit"]');
      await page.locator('#key-message', { hasText: 'not accepted' }).waitFor();
      expect(await page.isVisible('#key-form')).to.equal(true);
      expect(await page.getAttribute('body', 'data-loaded')).to.equal(null);

      calls.length = 0;
      await page.fill('#api-key', key);
      await page.click('#key-form button[type="submit"]');
      await page.waitForSelector('body[data-loaded="true"]');
      expect(await page.isVisible('#key-form')).to.equal(false);
      for (const chart of CHARTS) expect(await page.getAttribute(`figure[data-chart="${chart}"]`, 'data-points'), chart).to.equal('2');
      const counts = (await page.evaluate(
        `Chart.getChart(document.getElementById('chart-images')).data.datasets[0].data.length`,
      )) as number;
      expect(counts).to.equal(2);
      expect(await page.locator('#runs-table tbody tr').count()).to.equal(2);
      expect(calls.map((c) => c.path)).to.include.members(['/v1/history', '/v1/summary']);
      expect(
        calls.every((c) => c.auth === `Bearer ${key}`),
        JSON.stringify(calls),
      ).to.equal(true);
      expect(await page.evaluate(`sessionStorage.getItem('refund-vision.apiKey')`)).to.equal(key);
      noProblems();
    });

    it('uses the kept key for a run, feedback, the CSV download and after a reload, until "Forget key"', async () => {
      calls.length = 0;
      await page.locator('#runs-table tbody tr', { hasText: 'keyed-today' }).click();
      await page.waitForSelector('#detail:not([hidden]) #predictions-table tbody tr');
      expect(await page.locator('#predictions-table tbody tr').count()).to.equal(30);
      const first = page.locator('#predictions-table tbody tr').nth(0);
      await first.locator('button.right-btn').click();
      await first.locator('.fb-state', { hasText: '✓ confirmed' }).waitFor();

      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#csv')]);
      const csv = readFileSync((await download.path())!, 'utf8');
      expect(download.suggestedFilename()).to.match(/^refund-vision-runs-from-.*\.csv$/);
      expect(csv).to.include('keyed-today').and.include('keyed-yesterday');
      expect(calls.map((c) => c.path)).to.include('/v1/runs.csv');
      expect(
        calls.every((c) => c.auth === `Bearer ${key}`),
        JSON.stringify(calls),
      ).to.equal(true);

      await page.reload();
      await page.waitForSelector('body[data-loaded="true"]');
      expect(await page.isVisible('#key-form')).to.equal(false);

      await page.click('#forget-key');
      await page.locator('#key-form').waitFor({ state: 'visible' });
      expect(await page.evaluate(`sessionStorage.getItem('refund-vision.apiKey')`)).to.equal(null);
      noProblems();
    });
  });
});

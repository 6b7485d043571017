/**
 * The review page in real headless Chromium against the real API: three items reviewed with the
 * keyboard alone, one undone, the audit trail shows all four decisions; a file name with HTML in
 * it renders as text. Also writes the page to a PNG (REVIEW_PNG) for a person to look at.
 */
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { CLASS_NAMES, NUM_CLASSES } from '@refund-vision/shared';
import { predictBody, send, sharedClassifier, startTestServer, testBatch, type TestServer } from '../test-support.ts';
import { collectProblems, launchChromium, ownOriginOnly, skipWithoutChromium, type Browser } from './browser.ts';

const XSS_NAME = '<img src=x onerror=alert(1)>.png';

describe('review page in headless Chromium against the real API', function () {
  this.timeout(120_000);
  let srv: TestServer;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  before(async function () {
    skipWithoutChromium(this);
    srv = await startTestServer();
    const { pixels } = await testBatch(6, 120);
    const probs = await (await sharedClassifier()).predict(pixels, 6);
    const predicted = Array.from({ length: 6 }, (_, i) => {
      const row = probs.subarray(i * NUM_CLASSES, (i + 1) * NUM_CLASSES);
      return row.indexOf(Math.max(...row));
    });
    // Four orders that say another class: four mismatches in the queue, one with a hostile name.
    const labels = predicted.map((p, i) => (i < 4 ? (p + 2) % NUM_CLASSES : p));
    const ids = ['r/coat-1.png', XSS_NAME, 'r/bag-3.png', 'r/shoe-4.png', 'r/ok-5.png', 'r/ok-6.png'];
    const res = await send(`${srv.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'review-page', labels, ids }) });
    expect(res.status).to.equal(200);

    browser = await launchChromium({ width: 1300, height: 1100 });
    const origin = new URL(srv.url).origin;
    await ownOriginOnly(browser, origin, (url) => problems.push(`foreign request: ${url}`));
    page = await browser.context.newPage();
    collectProblems(page, problems);
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  const shownId = () => page.evaluate('document.body.dataset.itemId') as Promise<string>;
  /**
   * Polls an expression in the page. (page.waitForFunction evaluates its predicate with eval inside
   * the page, which the page's CSP forbids, as it should.)
   */
  async function until(expression: string, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await page.evaluate(expression))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${expression}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  /** Presses a key and waits until the page has moved on to another item (or the same one after undo). */
  async function press(key: string) {
    const before = await shownId();
    await page.keyboard.press(key);
    await until(`document.body.dataset.busy === 'false' && document.body.dataset.itemId !== ${JSON.stringify(before)}`);
  }

  it('reviews three items with the keyboard alone, undoes one, and the audit trail shows all four decisions', async () => {
    await page.goto(`${srv.url}/review`);
    // asked once for a name: typed, Enter
    await page.waitForSelector('#name-form:not([hidden])');
    // before a name is given the page already shows what waits, without claiming anything
    await until(`document.querySelectorAll('#queue-table tbody tr').length === 4`);
    expect(await page.textContent('#queue-count')).to.equal('4 open');
    expect(await page.textContent('#queue-table tbody')).not.to.contain('Rita');
    await page.keyboard.type('Rita Reviewer');
    await page.keyboard.press('Enter');
    await until(`document.body.dataset.loaded === 'true'`);
    expect(await page.textContent('#queue-count')).to.equal('4 open');
    const first = await shownId();
    expect(await page.textContent('#item-reason')).to.equal('mismatch');

    await press('3'); // class 2 (Pullover)
    const second = await shownId();
    await press('n'); // none of these classes
    const third = await shownId();
    const thirdAnswer = (await send(`${srv.url}/v1/reviews/${third}`)).body.classIndex;
    await press('Enter'); // the model is right
    await press('z'); // undo the last decision: the third item comes back
    expect(await shownId()).to.equal(third);
    await until(`document.querySelectorAll('#audit-table tbody tr').length === 4`);

    const rows = (await page.evaluate(
      `Array.from(document.querySelectorAll('#audit-table tbody tr')).map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent))`,
    )) as string[][];
    expect(rows.map((r) => r[1])).to.deep.equal(['Rita Reviewer', 'Rita Reviewer', 'Rita Reviewer', 'Rita Reviewer']);
    expect(rows.map((r) => r[3])).to.deep.equal(['undo', CLASS_NAMES[thirdAnswer], 'none of these classes', 'Pullover']);

    const api = (await send(`${srv.url}/v1/reviews/decisions`)).body.decisions as {
      id: number;
      itemId: number;
      decision: string;
      classIndex: number | null;
      secondsSpent: number;
      previousId: number | null;
    }[];
    expect(api.map((d) => [String(d.itemId), d.decision, d.classIndex])).to.deep.equal([
      [third, 'undo', null],
      [third, 'class', thirdAnswer],
      [second, 'none', null],
      [first, 'class', 2],
    ]);
    expect(api[0]!.previousId).to.equal(api[1]!.id);
    for (const d of api.slice(1)) expect(d.secondsSpent).to.be.a('number').at.least(0);
    // the undone item is open again, the other two are decided
    const open = (await send(`${srv.url}/v1/reviews`)).body.items.map((i: { id: number }) => String(i.id));
    expect(open).to.include(third).and.not.include(first).and.not.include(second);
    expect(problems).to.deep.equal([]);
  });

  it('renders a file name with HTML in it as text, draws what the model saw and its saliency', async () => {
    const cell = page.locator('#queue-table td.file', { hasText: 'onerror' });
    const audit = page.locator('#audit-table td.file', { hasText: 'onerror' });
    const texts = [...(await cell.allTextContents()), ...(await audit.allTextContents())];
    expect(texts.length).to.be.at.least(1);
    for (const t of texts) expect(t).to.equal(XSS_NAME);
    expect(await page.locator('img:not(#item-thumb)').count()).to.equal(0);
    await page.waitForSelector('#item-saliency[data-ready="true"]');
    // the canvases hold the enlarged 28×28: not blank
    const lit = (await page.evaluate(
      `(() => { const d = document.getElementById('item-seen').getContext('2d').getImageData(0, 0, 224, 224).data; let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 0) n++; return n; })()`,
    )) as number;
    expect(lit).to.be.greaterThan(500);
    if (process.env.REVIEW_PNG) await page.screenshot({ path: process.env.REVIEW_PNG, fullPage: true });
    expect(problems).to.deep.equal([]);
  });
});

import { expect } from 'chai';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { makeVariant } from '@refund-vision/model/testing/model-variant';
import { predictBody, send, startTestServer, testBatch, type TestServer } from '../test-support.ts';
import { collectProblems, launchChromium, skipWithoutChromium, type Browser } from './browser.ts';

const XSS_REASON = '<img src=x onerror=alert(1)> shadow it';

describe('dashboard Models panel in headless Chromium: the challenger in shadow, before anyone promotes', function () {
  this.timeout(180_000);
  let srv: TestServer;
  let browser: Browser;
  let page: Page;
  let challenger: string;
  const problems: string[] = [];

  before(async function () {
    skipWithoutChromium(this);
    srv = await startTestServer({ model: { registryPollMs: 0 } });
    challenger = await makeVariant(join(srv.dir, 'challenger'), 60, { from: srv.config.model.dir, withOnnx: true });
    await srv.registry.add(join(srv.dir, 'challenger'), { by: 'ana' });
    await srv.registry.move('challenger', challenger, { by: 'ana', reason: XSS_REASON, kind: 'challenge' });
    await srv.modelWatcher.check();
    const { pixels, labels } = await testBatch(50, 300);
    const r = await send(`${srv.url}/v1/predict`, { json: predictBody(pixels, { runKey: 'models-panel', labels }) });
    expect(r.status).to.equal(200);
    await srv.shadow.idle();
    browser = await launchChromium();
    page = await browser.context.newPage();
    collectProblems(page, problems);
    await page.goto(`${srv.url}/`);
    await page.waitForSelector('body[data-loaded="true"]');
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
  });

  it('shows the served version, the challenger, its agreement and both accuracies, and the moves as text', async () => {
    const facts = await page.textContent('#models-facts');
    expect(facts).to.contain(srv.classifier.version).and.to.contain(challenger);
    const cells = await page.$$eval('#shadow-table tbody tr:first-child td', (tds) => tds.map((td) => td.textContent));
    const models = (await send(`${srv.url}/v1/models`)).body;
    const cmp = models.shadow.comparisons[0];
    expect(cells[0]).to.equal(challenger);
    expect(cells[1]).to.equal('50');
    expect(cells[2]).to.equal(`${(cmp.agreement * 100).toFixed(1)} %`);
    expect(cells[3]).to.equal('50');
    expect(cells[4]).to.equal(`${(cmp.championAccuracy * 100).toFixed(1)} %`);
    expect(cells[5]).to.equal(`${(cmp.challengerAccuracy * 100).toFixed(1)} %`);
    await page.click('#models details summary');
    const why = await page.$$eval('#moves-table tbody td:nth-child(7)', (tds) => tds.map((td) => td.textContent));
    expect(why).to.include(XSS_REASON);
    expect(await page.$$('#moves-table img')).to.have.length(0);
    expect(problems).to.deep.equal([]);
    if (process.env.RV_SCREENSHOTS) await page.locator('#models').screenshot({ path: process.env.RV_SCREENSHOTS });
  });
});

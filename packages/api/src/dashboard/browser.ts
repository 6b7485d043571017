/** Debian's Chromium driven by playwright-core, with a fresh profile each time. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Why no browser can run here, or undefined when Chromium is installed. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM_PATH)
    ? undefined
    : `Chromium not found at ${CHROMIUM_PATH} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
}

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(viewport = { width: 1400, height: 1000 }): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'rv-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ARGS,
    viewport,
    deviceScaleFactor: 1,
  });
  return {
    context,
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** For the browser tests: skips the suite, saying why, when Chromium is missing (under CI the reporter counts a skip as a failure). */
export function skipWithoutChromium(ctx: Mocha.Context): void {
  const missing = chromiumMissing();
  if (!missing) return;
  console.log(`    skipped: ${missing}`);
  ctx.skip();
}

/** For the browser tests: page errors, console errors and dialogs (an XSS would open one) end up in `problems`. */
export function collectProblems(page: Page, problems: string[]): void {
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('dialog', (d) => {
    problems.push(`dialog opened: ${d.message()}`);
    void d.dismiss();
  });
}

/**
 * For the browser tests: the page must work offline, so requests to any origin but `origin` (and
 * data: URLs) are aborted and reported to `onForeign`; `onOwn` sees each URL that goes through.
 */
export function ownOriginOnly(
  browser: Browser,
  origin: string,
  onForeign: (url: string) => void,
  onOwn?: (url: URL) => void,
): Promise<void> {
  return browser.context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('data:') || new URL(url).origin === origin) {
      onOwn?.(new URL(url, origin));
      return route.continue();
    }
    onForeign(url);
    return route.abort();
  });
}

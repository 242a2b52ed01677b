import fs from 'node:fs';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions } from 'playwright-core';

/** Debian's Chromium (browser downloads fail here); CHROMIUM_PATH names another build. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless Chromium through playwright-core. A missing browser fails the test with what to do,
 * rather than skipping it: a browser test that did not run must not count as passing.
 */
export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(`Chromium is not at ${chromiumPath}: install it (apt-get install chromium, as .ci/run does) or set CHROMIUM_PATH`);
  }
  // Chromium's sandbox refuses to run as root (containers, CI).
  const args = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  return chromium.launch({ executablePath: chromiumPath, headless: true, args });
}

/**
 * A browser for a test file: `context()` opens a fresh context (no cookies, its own locale), and
 * `close()` closes every context and the browser.
 */
export async function browserForTests() {
  const browser = await launchBrowser();
  const contexts: BrowserContext[] = [];
  return {
    browser,
    async context(options: BrowserContextOptions = {}): Promise<BrowserContext> {
      const context = await browser.newContext(options);
      // A page that never comes fails in seconds, not at the test's timeout.
      context.setDefaultTimeout(5_000);
      contexts.push(context);
      return context;
    },
    async close() {
      for (const context of contexts) await context.close();
      await browser.close();
    },
  };
}

import type { BrowserContext, BrowserContextOptions } from 'playwright-core';
import { launchBrowser } from '../../bench/browser.js';

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

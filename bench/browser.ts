import fs from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium (browser downloads fail here); CHROMIUM_PATH names another build. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Headless Chromium through playwright-core, for the browser tests and the screenshots. A missing
 * browser is an error that says what to do: a browser test that did not run must not pass.
 */
export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(`Chromium is not at ${chromiumPath}: install it (apt-get install chromium, as .ci/run does) or set CHROMIUM_PATH`);
  }
  // Chromium's sandbox refuses to run as root (containers, CI).
  const args = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  return chromium.launch({ executablePath: chromiumPath, headless: true, args });
}

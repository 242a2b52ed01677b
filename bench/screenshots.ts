/**
 * `npm run screenshots`: starts `vecr serve` on the sample members of `storage/`, signs in with
 * the one-time URL, and writes PNGs of the main pages, in Japanese and in English, to
 * docs/screenshots/ (the README shows them). Rerun it when pages change.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext } from 'playwright-core';
import { launchBrowser } from './browser.js';
import { startServe } from './support.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const out = path.join(root, 'docs/screenshots');
/** A laptop's screen. */
const viewport = { width: 1280, height: 800 };
const locales = { ja: 'ja-JP', en: 'en-US' } as const;

const work = await fs.mkdtemp(path.join(os.tmpdir(), 'vecr-screenshots-'));
await fs.cp(path.join(root, 'storage'), path.join(work, 'storage'), { recursive: true });
const serve = await startServe(work, { VECR_UI_USERS: '', ADMIN_USERNAME: '', ADMIN_PASSWORD: '', VECR_SESSION_SECRET: '', HOST: '127.0.0.1' });
const browser = await launchBrowser();
const contexts: BrowserContext[] = [];
const written: string[] = [];
const shoot = async (context: BrowserContext, url: string, name: string) => {
  const page = await context.newPage();
  await page.goto(url);
  const file = path.join(out, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  written.push(path.relative(root, file));
  await page.close();
};
try {
  await fs.mkdir(out, { recursive: true });
  for (const [language, locale] of Object.entries(locales)) {
    const context = await browser.newContext({ locale, viewport });
    contexts.push(context);
    await shoot(context, `${serve.url}/signin`, `signin-${language}`);
  }
  // One one-time URL per start: the signed-in pages share one session, the language chosen by
  // the `lang` cookie the switch link sets.
  const onceUrl = /open (http:\/\/\S+\/signin\/once\?token=\S+) to sign in/.exec(serve.banner)?.[1];
  if (!onceUrl) throw new Error(`no one-time sign-in URL in the banner:\n${serve.banner}`);
  const signedIn = await browser.newContext({ locale: locales.ja, viewport });
  contexts.push(signedIn);
  await (await signedIn.newPage()).goto(onceUrl);
  for (const language of Object.keys(locales)) {
    await signedIn.addCookies([{ name: 'lang', value: language, url: serve.url }]);
    await shoot(signedIn, `${serve.url}/`, `home-${language}`);
  }
  console.log(`wrote ${written.join(', ')}`);
} finally {
  for (const context of contexts) await context.close();
  await browser.close();
  await serve.stop();
  await fs.rm(work, { recursive: true, force: true });
}

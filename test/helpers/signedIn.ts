import type { BrowserContext, Page } from 'playwright-core';
import { hashPassword } from '../../src/http/ui/password.js';

/** A VECR_UI_USERS entry, as `vecr password` makes it. */
export async function uiUser(name: string, role: 'admin' | 'viewer', password: string): Promise<string> {
  return `${name}:${role}:${await hashPassword(password)}`;
}

/** A page of `context` signed in through the sign-in form, as a person does it; it ends on the team list. */
export async function signedInPage(context: BrowserContext, serviceUrl: string, user: string, password: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${serviceUrl}/signin`);
  await page.locator('input[name="user"]').fill(user);
  await page.locator('input[name="password"]').fill(password);
  // The password is checked with scrypt, slow on purpose: on a busy machine longer than a page load.
  await page.locator('form.signin button[type="submit"]').click({ timeout: 30_000 });
  await page.waitForURL((url) => url.pathname === '/', { timeout: 30_000 });
  return page;
}

/** The names of the member rows the team list shows, in order. */
export const listedNames = (page: Page) => page.locator('tbody tr td:first-child a').allTextContents();

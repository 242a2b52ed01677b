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
  await page.locator('form.signin button[type="submit"]').click();
  await page.waitForURL((url) => url.pathname === '/');
  return page;
}

/** The names of the member rows the team list shows, in order. */
export const listedNames = (page: Page) => page.locator('tbody tr td:first-child a').allTextContents();

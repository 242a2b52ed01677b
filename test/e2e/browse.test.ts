import fs from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserForTests } from '../helpers/browser.js';
import { tempDir, writeFiles } from '../helpers/files.js';
import { type ServeProcess, spawnServe } from '../helpers/serveProcess.js';
import { listedNames, signedInPage, uiUser } from '../helpers/signedIn.js';

/** Enough people for two pages of the list (50 a page): 56 testers, two humans and two AI members with Japanese names. */
const fillers = Array.from({ length: 56 }, (_, index) => `Member ${String(index + 1).padStart(3, '0')}`);
const members: Record<string, string> = {
  'human_members/yamada.yml': 'name: 山田太郎\nrole: Engineer\nskills: [TypeScript, Go]\n',
  'human_members/tanaka.yml': 'name: 田中花子\nrole: Designer\nskills: [Figma]\n',
  'virtual_members/taromaru.yml': 'name: 太郎丸\nrole: Reviewer\nllm_model: gpt-4o\nsystem_prompt: You are 太郎丸.\nexpertise_areas: [Python]\n',
  'virtual_members/kasen.yml': 'name: 華扇\nrole: Code reviewer\nllm_model: claude-sonnet-4-5\nexpertise_areas: [code review]\n',
  ...Object.fromEntries(fillers.map((name, index) => [`human_members/member-${index + 1}.yml`, `name: ${name}\nrole: Tester\nskills: [QA]\n`])),
};

/** A row of the team list, cell by cell, as a person reads it. */
const rowOf = (page: Page, name: string) =>
  page
    .locator('tbody tr', { has: page.getByRole('link', { name, exact: true }) })
    .locator('td')
    .allInnerTexts();

describe('browsing the team in a real browser (Chromium)', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let browser: Awaited<ReturnType<typeof browserForTests>>;
  let serve: ServeProcess;
  const password = 'correct horse battery staple';
  /** With an API token configured the API is closed to callers without a token or session, as off loopback. */
  const apiToken = 'browse-test-token-of-forty-characters-00';
  const signIn = async (locale = 'en-US') => signedInPage(await browser.context({ locale }), serve.url, 'mika', password);
  /** Fills the list's form by its labels and submits it, as a person does. */
  const show = async (page: Page, fields: Record<string, string>) => {
    await page.getByRole('link', { name: 'Clear the filters' }).click();
    for (const [label, value] of Object.entries(fields)) await page.getByLabel(label, { exact: true }).fill(value);
    await page.getByRole('button', { name: 'Show', exact: true }).click();
    await page.waitForLoadState();
  };

  beforeAll(async () => {
    work = await tempDir();
    await writeFiles(path.join(work.dir, 'storage'), members);
    [browser, serve] = await Promise.all([
      browserForTests(),
      spawnServe({
        VECR_STORAGE: path.join(work.dir, 'storage'),
        VECR_DATA_DIR: path.join(work.dir, 'data'),
        VECR_RECONCILE_INTERVAL: '0',
        VECR_WATCH: 'false',
        VECR_UI_USERS: await uiUser('mika', 'admin', password),
        ADMIN_USERNAME: '',
        ADMIN_PASSWORD: '',
        VECR_SESSION_SECRET: '',
        VECR_API_TOKENS: `probe:read:${apiToken}`,
      }),
    ]);
    // The first full sync runs in the background: the tests start once every member is registered.
    for (let tries = 0; ; tries++) {
      const status = (await (await fetch(`${serve.url}/api/sync/status`, { headers: { authorization: `Bearer ${apiToken}` } })).json()) as {
        last_sync: unknown;
      };
      if (status.last_sync) break;
      if (tries > 300) throw new Error(`the first sync did not finish:\n${serve.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
  afterAll(async () => {
    await browser?.close();
    await serve?.kill();
    await work?.remove();
  });

  it('shows humans and AI members in one list, and each kind on its own tab', async () => {
    const page = await signIn();
    await expect(page.getByRole('status').textContent()).resolves.toBe('60 members');
    await page.getByRole('link', { name: 'AI members' }).click();
    await page.waitForURL((url) => url.search === '?kind=virtual');
    expect((await listedNames(page)).sort()).toEqual(['太郎丸', '華扇'].sort());
    await expect(page.getByRole('link', { name: 'AI members' }).getAttribute('aria-current')).resolves.toBe('page');
    // name, kind, role, skills / expertise, model, file, last change
    await expect(rowOf(page, '太郎丸')).resolves.toEqual([
      '太郎丸',
      'AI',
      'Reviewer',
      'Python',
      'gpt-4o',
      'virtual_members/taromaru.yml',
      expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d [+-]\d\d:\d\d$/),
    ]);
    await page.getByRole('link', { name: 'Humans' }).click();
    await page.waitForURL((url) => url.search === '?kind=human');
    await expect(page.getByRole('status').textContent()).resolves.toBe('58 members');
    await expect(rowOf(page, 'Member 001')).resolves.toEqual([
      'Member 001',
      'Human',
      'Tester',
      'QA',
      '',
      'human_members/member-1.yml',
      expect.stringMatching(/ [+-]\d\d:\d\d$/),
    ]);

    await page.getByRole('link', { name: 'Everyone' }).click();
    await page.waitForURL((url) => url.search === '');
    // An AI member's page: its model and system prompt.
    await page.goto(`${serve.url}/?q=${encodeURIComponent('太郎丸')}`);
    await page.getByRole('link', { name: '太郎丸' }).click();
    await expect(page.getByRole('heading', { level: 2 }).textContent()).resolves.toBe('太郎丸 AI');
    await expect(page.locator('dd.long').textContent()).resolves.toBe('You are 太郎丸.');
  });

  it('finds a Japanese name by part of it, and only the members that match', async () => {
    const page = await signIn();
    await show(page, { 'Name contains': '太郎' });
    expect(new URL(page.url()).searchParams.get('q')).toBe('太郎');
    expect((await listedNames(page)).sort()).toEqual(['山田太郎', '太郎丸'].sort());
    await expect(page.getByRole('status').textContent()).resolves.toBe('2 members');
    await expect(rowOf(page, '山田太郎')).resolves.toEqual([
      '山田太郎',
      'Human',
      'Engineer',
      'TypeScript, Go',
      '',
      'human_members/yamada.yml',
      expect.stringMatching(/ [+-]\d\d:\d\d$/),
    ]);
    // The query stays in the field, to refine it.
    await expect(page.getByLabel('Name contains').inputValue()).resolves.toBe('太郎');

    await show(page, { 'Name contains': '花' });
    await expect(listedNames(page)).resolves.toEqual(['田中花子']);
    await show(page, { 'Name contains': '次郎' });
    await expect(listedNames(page)).resolves.toEqual([]);
    await expect(page.getByText('No member matches.').count()).resolves.toBe(1);
  });

  it('filters by role, skill, expertise and model (case-insensitive), and pages through the rest', async () => {
    const page = await signIn();
    await show(page, { Role: 'designer' });
    await expect(listedNames(page)).resolves.toEqual(['田中花子']);
    await show(page, { Skills: 'go' });
    await expect(listedNames(page)).resolves.toEqual(['山田太郎']);
    await show(page, { Expertise: 'PYTHON' });
    await expect(listedNames(page)).resolves.toEqual(['太郎丸']);
    await show(page, { Model: 'claude-sonnet-4-5' });
    await expect(listedNames(page)).resolves.toEqual(['華扇']);

    // 60 members: 50 on the first page, 10 on the second, none twice, none left out.
    await page.getByRole('link', { name: 'Clear the filters' }).click();
    await expect(page.getByText('Page 1 of 2').count()).resolves.toBe(1);
    const first = await listedNames(page);
    expect(first).toHaveLength(50);
    await page.getByRole('link', { name: 'Next →' }).click();
    await expect(page.getByText('Page 2 of 2').count()).resolves.toBe(1);
    const second = await listedNames(page);
    expect(second).toHaveLength(10);
    expect(new Set([...first, ...second])).toEqual(new Set(Object.values(members).map((yaml) => /^name: (.*)$/m.exec(yaml)![1])));
    await page.getByRole('link', { name: '← Previous' }).click();
    await expect(listedNames(page)).resolves.toEqual(first);

    // A filter stays on the next page.
    await show(page, { 'Name contains': 'member' });
    await expect(page.getByRole('status').textContent()).resolves.toBe('56 members');
    await page.getByRole('link', { name: 'Next →' }).click();
    await expect(listedNames(page)).resolves.toEqual(fillers.slice(50));
  });

  it('sorts by last change: a member whose file changed comes first after a sync', async () => {
    await fs.writeFile(path.join(work.dir, 'storage/human_members/member-30.yml'), 'name: Member 030\nrole: Lead tester\nskills: [QA]\n');
    const page = await signIn();
    await page.goto(`${serve.url}/sync`);
    await page.getByRole('button', { name: 'Sync now' }).click();
    // A full sync of the folder: longer than a page load on a busy machine.
    await page.waitForURL((url) => url.search === '?ran=1', { timeout: 30_000 });
    await expect(page.locator('ul.changes li').allInnerTexts()).resolves.toEqual(['Updated Member 030 human_members/member-30.yml']);

    await page.goto(`${serve.url}/`);
    await page.getByLabel('Sort by').selectOption({ label: 'Last change (newest first)' });
    await page.getByRole('button', { name: 'Show', exact: true }).click();
    await page.waitForURL((url) => url.searchParams.get('sort') === 'updated');
    await expect(listedNames(page).then((names) => names[0])).resolves.toBe('Member 030');
    await expect(rowOf(page, 'Member 030').then((cells) => cells[2])).resolves.toBe('Lead tester');
    await page.getByLabel('Sort by').selectOption({ label: 'Name' });
    await page.getByRole('button', { name: 'Show', exact: true }).click();
    await page.waitForURL((url) => url.searchParams.get('sort') === 'name');
    await expect(listedNames(page).then((names) => names.slice(0, 3))).resolves.toEqual(['Member 001', 'Member 002', 'Member 003']);
  });

  it('switches between Japanese and English on the same page, the search kept, and remembers the choice', async () => {
    const page = await signIn('en-US');
    await page.goto(`${serve.url}/?q=${encodeURIComponent('太郎')}`);
    await page.getByRole('link', { name: '日本語' }).click();
    await page.waitForURL((url) => url.pathname === '/' && url.searchParams.get('q') === '太郎');
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('ja');
    await expect(page.getByRole('heading', { name: 'チーム' }).count()).resolves.toBe(1);
    await expect(page.getByRole('status').textContent()).resolves.toBe('2 人');
    await expect(page.getByLabel('名前に含む文字').inputValue()).resolves.toBe('太郎');
    await expect(rowOf(page, '太郎丸').then((cells) => cells.slice(0, 2))).resolves.toEqual(['太郎丸', 'AI']);
    await expect(rowOf(page, '山田太郎').then((cells) => cells.slice(0, 2))).resolves.toEqual(['山田太郎', '人間']);
    // Other pages follow the choice.
    await page.goto(`${serve.url}/sync`);
    await expect(page.getByRole('heading', { level: 2 }).first().textContent()).resolves.toBe('ストレージとの同期');

    await page.getByRole('link', { name: 'English' }).click();
    await page.waitForURL((url) => url.pathname === '/sync');
    await expect(page.locator('html').getAttribute('lang')).resolves.toBe('en');
    await expect(page.getByRole('heading', { level: 2 }).first().textContent()).resolves.toBe('Sync with storage');
  });

  it('works from the keyboard: every field has a label, Tab reaches the search, Enter searches and opens a member', async () => {
    const page = await signIn();
    // A label's own words: its text without the field's (a select's options are text too).
    const unlabelled = await page
      .locator('input:not([type="hidden"]), select, textarea')
      .evaluateAll((fields) =>
        fields
          .filter(
            (field) =>
              !Array.from((field as unknown as { labels: ArrayLike<{ textContent: string }> }).labels).some(
                (label) => label.textContent.replace(field.textContent ?? '', '').trim() !== '',
              ),
          )
          .map((field) => field.outerHTML),
      );
    expect(unlabelled).toEqual([]);
    /** Presses Tab until `selector` has the focus; how many presses, at most `limit`. */
    const tabTo = async (selector: string, limit = 40) => {
      for (let presses = 1; presses <= limit; presses++) {
        await page.keyboard.press('Tab');
        if ((await page.locator(`${selector}:focus`).count()) > 0) return presses;
      }
      throw new Error(`Tab never reached ${selector}`);
    };
    await tabTo('input[name="q"]');
    await page.keyboard.type('山田');
    await page.keyboard.press('Enter');
    await page.waitForURL((url) => url.searchParams.get('q') === '山田');
    await expect(listedNames(page)).resolves.toEqual(['山田太郎']);
    await tabTo('tbody a');
    await page.keyboard.press('Enter');
    await page.waitForURL((url) => url.pathname === `/members/human/${encodeURIComponent('山田太郎')}`);
    await expect(page.getByRole('heading', { level: 2 }).textContent()).resolves.toBe('山田太郎 Human');
  });

  it('fits a phone’s screen: no sideways scroll, every cell of a row in sight', async () => {
    const page = await signedInPage(
      await browser.context({ locale: 'ja-JP', viewport: { width: 390, height: 844 }, isMobile: true }),
      serve.url,
      'mika',
      password,
    );
    await page.goto(`${serve.url}/?q=${encodeURIComponent('太郎丸')}`);
    await expect(page.evaluate('document.documentElement.scrollWidth')).resolves.toBe(390);
    const cells = page.locator('tbody tr').first().locator('td');
    await expect(cells.allInnerTexts()).resolves.toEqual([
      '太郎丸',
      'AI',
      'Reviewer',
      'Python',
      'gpt-4o',
      'virtual_members/taromaru.yml',
      expect.stringMatching(/ [+-]\d\d:\d\d$/),
    ]);
    for (const box of await Promise.all((await cells.all()).map((cell) => cell.boundingBox()))) {
      expect(box!.x).toBeGreaterThanOrEqual(0);
      expect(box!.x + box!.width).toBeLessThanOrEqual(390);
    }
  });

  it('refuses a form posted with a wrong or missing CSRF token, and nothing changes', async () => {
    const page = await signIn();
    await page.goto(`${serve.url}/sync`);
    const lastSync = await page.locator('dl.fields').innerText();
    // The sync form without its token.
    await page.locator('form[action="/sync"] input[name="_csrf"]').evaluate((input) => input.remove());
    const [noToken] = await Promise.all([
      page.waitForResponse((response) => response.request().method() === 'POST'),
      page.getByRole('button', { name: 'Sync now' }).click(),
    ]);
    expect(noToken.status()).toBe(403);
    await expect(page.getByRole('alert').innerText()).resolves.toContain('Nothing was changed');
    await expect(page.getByRole('link', { name: 'Open the page again' }).getAttribute('href')).resolves.toBe('/sync');
    // The sign-out form with a token of another value.
    await page.goto(`${serve.url}/sync`);
    await page.locator('form[action="/signout"] input[name="_csrf"]').evaluate((input) => input.setAttribute('value', 'forged'));
    const [forged] = await Promise.all([
      page.waitForResponse((response) => response.request().method() === 'POST'),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    expect(forged.status()).toBe(403);

    await page.goto(`${serve.url}/sync`);
    await expect(page.getByText('Signed in as mika (administrator)').count()).resolves.toBe(1);
    await expect(page.locator('dl.fields').innerText()).resolves.toBe(lastSync);
  });

  it('signs out: every page then sends to the sign-in, and the old cookie no longer opens anything', async () => {
    const context = await browser.context({ locale: 'en-US' });
    const page = await signedInPage(context, serve.url, 'mika', password);
    const [cookie] = await context.cookies();
    expect(cookie?.name).toBe('vecr_session');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((url) => url.pathname === '/signin');
    for (const pathAndQuery of ['/', '/?q=x', `/members/human/${encodeURIComponent('山田太郎')}`, '/sync', '/chat']) {
      await page.goto(`${serve.url}${pathAndQuery}`);
      expect(new URL(page.url()).pathname, pathAndQuery).toBe('/signin');
    }
    // A copy of the cookie taken before the sign-out (another browser, a stolen one) is refused too.
    const copy = await browser.context({ locale: 'en-US' });
    await copy.addCookies([cookie!]);
    const elsewhere = await copy.newPage();
    await elsewhere.goto(`${serve.url}/`);
    expect(new URL(elsewhere.url()).pathname).toBe('/signin');
    const api = await copy.request.get(`${serve.url}/api/members/human`);
    expect(api.status()).toBe(401);
  });
});

import fs from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserForTests } from '../helpers/browser.js';
import { tempDir, virtual, writeFiles } from '../helpers/files.js';
import { type ServeProcess, spawnServe } from '../helpers/serveProcess.js';

const password = 'correct horse battery staple';

/** Rin's file as she keeps it by hand: aligned comments, a comment block, quotes. */
const rinFile = `# Rin — kept by hand
name: Rin                 # unique among humans
role: Backend engineer    # since 2024
skills: [TypeScript, PostgreSQL]

# How to reach her:
contact_email: "rin@example.com"
`;

describe('creating, editing and deleting members in a real browser (Chromium)', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let browser: Awaited<ReturnType<typeof browserForTests>>;
  let serve: ServeProcess;
  let storageDir: string;
  const fileText = (key: string) => fs.readFile(path.join(storageDir, key), 'utf8');

  /** A signed-in administrator's page, in this language. */
  const signedIn = async (locale = 'en-US'): Promise<Page> => {
    const page = await (await browser.context({ locale })).newPage();
    await page.goto(`${serve.url}/signin`);
    await page.locator('input[name="user"]').fill('mika');
    await page.locator('input[name="password"]').fill(password);
    await page.locator('form.signin button').click();
    await page.waitForURL((url) => url.pathname === '/');
    return page;
  };

  beforeAll(async () => {
    work = await tempDir();
    storageDir = path.join(work.dir, 'storage');
    await writeFiles(storageDir, {
      'human_members/rin.yml': rinFile,
      'human_members/leaving.yml': 'name: Leaving Soon\nrole: Intern\n',
      'virtual_members/kasen.yml': virtual('華扇'),
    });
    [browser, serve] = await Promise.all([
      browserForTests(),
      spawnServe({
        VECR_STORAGE: storageDir,
        VECR_DATA_DIR: path.join(work.dir, 'data'),
        VECR_RECONCILE_INTERVAL: '0',
        // No folder watch: what the pages show comes from the registration the save itself runs.
        VECR_WATCH: 'false',
        VECR_UI_USERS: '',
        ADMIN_USERNAME: 'mika',
        ADMIN_PASSWORD: password,
        VECR_SESSION_SECRET: '',
      }),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await serve?.kill();
    await work?.remove();
  });

  it('creates a member with a Japanese name from the form, in Japanese: the file is written and the member registered', async () => {
    const page = await signedIn('ja-JP');
    await page.getByRole('link', { name: '新しい人間メンバー' }).click();
    await page.getByLabel('名前').fill('佐藤 美香');
    await page.getByLabel('役割').fill('デザイナー');
    await page.getByLabel('スキル').fill('Figma\n書道');
    await page.getByRole('button', { name: '作成', exact: true }).click();
    await page.waitForURL((url) => url.pathname === `/members/human/${encodeURIComponent('佐藤 美香')}`);
    await expect(page.getByRole('status').textContent()).resolves.toBe('作成しました：ファイル human_members/佐藤-美香.yml に書き込み、登録しました。');
    await expect(page.getByRole('heading', { level: 2 }).textContent()).resolves.toBe('佐藤 美香 人間');
    expect(await fileText('human_members/佐藤-美香.yml')).toBe('name: 佐藤 美香\nrole: デザイナー\nskills: [Figma, 書道]\n');
  });

  it('edits a field through the form: the file keeps its comments and layout, the page shows the registered change', async () => {
    const page = await signedIn();
    await page.goto(`${serve.url}/members/human/Rin`);
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await expect(page.getByLabel('Role').inputValue()).resolves.toBe('Backend engineer');
    await page.getByLabel('Role').fill('Tech lead');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/members/human/Rin');
    await expect(page.getByRole('status').textContent()).resolves.toBe('Saved: written to the file human_members/rin.yml and registered.');
    await expect(page.locator('dt:text-is("Role") + dd').textContent()).resolves.toBe('Tech lead');
    expect(await fileText('human_members/rin.yml')).toBe(rinFile.replace('role: Backend engineer    # since 2024', 'role: Tech lead    # since 2024'));
  });

  it('refuses a save over a file changed on disk after the page was opened, showing both versions', async () => {
    const page = await signedIn();
    await page.goto(`${serve.url}/members/human/Rin/edit`);
    const theirs = rinFile.replace('role: Backend engineer    # since 2024', 'role: Changed by hand    # since 2024');
    await fs.writeFile(path.join(storageDir, 'human_members/rin.yml'), theirs);
    await page.getByLabel('Role').fill('Mine');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toBe(
      'Not saved: the file human_members/rin.yml was changed in storage after you opened this page. Nothing was overwritten. Compare the two versions below, then save again.',
    );
    await expect(page.locator('section:has(h3:text-is("Now in storage")) pre').textContent()).resolves.toBe(theirs);
    await expect(page.locator('section:has(h3:text-is("Yours (not saved)")) pre').textContent()).resolves.toContain('role: Mine');
    expect(await fileText('human_members/rin.yml')).toBe(theirs);
  });

  it('refuses an invalid edit with its message, at the line and column, and at the field; nothing is written', async () => {
    const page = await signedIn();
    await page.goto(`${serve.url}/members/human/Rin/edit`);
    const before = await fileText('human_members/rin.yml');
    await page.getByLabel('YAML file').fill('name: Rin\nskils: [Go]\n');
    await page.getByRole('button', { name: 'Save the YAML' }).click();
    await expect(page.locator('p.message[role="alert"]').textContent()).resolves.toBe('Not saved: the file would be invalid. Fix the problems marked below.');
    await expect(page.locator('#yaml-problems li').textContent()).resolves.toBe(
      'line 2, column 1 skils This is not a field of this kind of member. skils: is not a field of a human member (did you mean skills?)',
    );
    await expect(page.getByLabel('YAML file').inputValue()).resolves.toBe('name: Rin\nskils: [Go]\n');

    await page.getByLabel('Contact e-mail').fill('not an address');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expect(page.locator('#field-contact_email-problems').textContent()).resolves.toBe(
      'This is not in the right format. contact_email: is not a valid e-mail address',
    );
    await expect(page.getByLabel('Contact e-mail').getAttribute('aria-invalid')).resolves.toBe('true');
    expect(await fileText('human_members/rin.yml')).toBe(before);
  });

  it('deletes a member after a confirmation: the file is gone and so is the member', async () => {
    const page = await signedIn();
    await page.goto(`${serve.url}/members/human/${encodeURIComponent('Leaving Soon')}`);
    await page.getByRole('link', { name: 'Delete…' }).click();
    await expect(page.getByText('Delete the file human_members/leaving.yml from storage? Leaving Soon leaves the registry with it.').count()).resolves.toBe(1);
    // Nothing is deleted before the confirmation.
    expect(await fileText('human_members/leaving.yml')).toContain('Leaving Soon');
    await page.getByRole('button', { name: 'Delete the file' }).click();
    await page.waitForURL((url) => url.pathname === '/');
    await expect(page.getByRole('status').first().textContent()).resolves.toBe(
      'Deleted: the file of Leaving Soon was removed from storage, and Leaving Soon from the registry.',
    );
    await expect(page.getByRole('link', { name: 'Leaving Soon' }).count()).resolves.toBe(0);
    await expect(fs.access(path.join(storageDir, 'human_members/leaving.yml'))).rejects.toMatchObject({ code: 'ENOENT' });
    const gone = await page.goto(`${serve.url}/members/human/${encodeURIComponent('Leaving Soon')}`);
    expect(gone?.status()).toBe(404);
  });
});

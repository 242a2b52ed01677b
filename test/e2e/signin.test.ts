import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserForTests } from '../helpers/browser.js';
import { human, tempDir, virtual, writeFiles } from '../helpers/files.js';
import { type ServeProcess, spawnServe, vecrBin } from '../helpers/serveProcess.js';

const members = {
  'human_members/rin.yml': human('Rin'),
  'human_members/mika.yml': human('佐藤 美香'),
  'virtual_members/kasen.yml': virtual('華扇'),
};

/** `vecr password NAME --role ROLE` with the password on standard input, as a script makes an account. */
function accountEntry(name: string, role: 'admin' | 'viewer', password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [vecrBin, 'password', name, '--role', role, '--json'], (error, stdout) =>
      error ? reject(error) : resolve((JSON.parse(stdout) as { entry: string }).entry),
    );
    child.stdin!.end(`${password}\n`);
  });
}

/** A page of another origin (another port of 127.0.0.1): it posts `form` to `target` as soon as it loads. */
async function attackerSite(target: string, fields: Record<string, string>) {
  const inputs = Object.entries(fields)
    .map(([name, value]) => `<input type="hidden" name="${name}" value="${value}">`)
    .join('');
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(`<!doctype html><form method="post" action="${target}">${inputs}</form><script>document.forms[0].submit()</script>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('the sign-in in a real browser (Chromium)', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let browser: Awaited<ReturnType<typeof browserForTests>>;
  let zeroSetup: ServeProcess;
  let withAccounts: ServeProcess;
  const password = 'correct horse battery staple';

  beforeAll(async () => {
    work = await tempDir();
    await writeFiles(path.join(work.dir, 'storage'), members);
    const base = {
      VECR_STORAGE: path.join(work.dir, 'storage'),
      VECR_RECONCILE_INTERVAL: '0',
      VECR_WATCH: 'false',
      ADMIN_USERNAME: '',
      ADMIN_PASSWORD: '',
      VECR_SESSION_SECRET: '',
    };
    const entry = await accountEntry('mika', 'admin', password);
    [browser, zeroSetup, withAccounts] = await Promise.all([
      browserForTests(),
      spawnServe({ ...base, VECR_DATA_DIR: path.join(work.dir, 'zero-setup'), VECR_UI_USERS: '' }),
      spawnServe({ ...base, VECR_DATA_DIR: path.join(work.dir, 'accounts'), VECR_UI_USERS: entry }),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await zeroSetup?.kill();
    await withAccounts?.kill();
    await work?.remove();
  });

  it('the one-time URL signs in; a reload stays signed in; sign-out; the URL again is refused', async () => {
    const onceUrl = /open (http:\/\/\S+\/signin\/once\?token=\S+) to sign in/.exec(zeroSetup.output())?.[1];
    expect(onceUrl, zeroSetup.output()).toBeDefined();
    const page = await (await browser.context({ locale: 'en-US' })).newPage();

    await page.goto(onceUrl!);
    expect(new URL(page.url()).pathname).toBe('/');
    await expect(page.getByText('Signed in as local (administrator)').count()).resolves.toBe(1);
    // The session is the browser's: it reaches the API too, the Japanese name intact.
    const kasen = await page.goto(`${zeroSetup.url}/api/members/virtual/${encodeURIComponent('華扇')}`);
    await expect(kasen!.json()).resolves.toMatchObject({ name: '華扇', file_uri: 'virtual_members/kasen.yml' });

    await page.goto(`${zeroSetup.url}/`);
    await page.reload();
    await expect(page.getByText('Signed in as local (administrator)').count()).resolves.toBe(1);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL((url) => url.pathname === '/signin');
    await page.goto(`${zeroSetup.url}/`);
    expect(new URL(page.url()).pathname).toBe('/signin');

    const again = await page.goto(onceUrl!);
    expect(again?.status()).toBe(403);
    await expect(page.getByRole('alert').textContent()).resolves.toBe(
      'This sign-in link has been used or is not valid. Restart the service for a new one, or sign in with an account.',
    );
    await page.goto(`${zeroSetup.url}/`);
    expect(new URL(page.url()).pathname).toBe('/signin');
  });

  it('an account made by `vecr password` signs in through the form; a wrong password shows the message', async () => {
    const page = await (await browser.context({ locale: 'en-US' })).newPage();
    await page.goto(`${withAccounts.url}/`);
    expect(new URL(page.url()).pathname).toBe('/signin');
    expect(withAccounts.output()).not.toContain('/signin/once');

    await page.getByLabel('User name').fill('mika');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toBe('The user name or password is wrong.');
    // The user name is kept, the password is not.
    await expect(page.getByLabel('User name').inputValue()).resolves.toBe('mika');
    await expect(page.getByLabel('Password').inputValue()).resolves.toBe('');

    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((url) => url.pathname === '/');
    await expect(page.getByText('Signed in as mika (administrator)').count()).resolves.toBe(1);
  });

  it('a page of another origin cannot sign the browser out or start a chat session: refused, nothing changes', async () => {
    const context = await browser.context({ locale: 'en-US' });
    const page = await context.newPage();
    await page.goto(`${withAccounts.url}/signin`);
    await page.getByLabel('User name').fill('mika');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((url) => url.pathname === '/');

    const attacks = [
      await attackerSite(`${withAccounts.url}/signout`, { _csrf: 'guessed' }),
      await attackerSite(`${withAccounts.url}/api/chat/sessions`, { session_id: 'csrf-probe' }),
    ];
    try {
      for (const attack of attacks) {
        const attacker = await context.newPage();
        const refused = attacker.waitForResponse((response) => response.url().startsWith(withAccounts.url));
        await attacker.goto(attack.url);
        // The form reached the service (the browser sent it, with the session cookie: another
        // port is the same site) and the service refused it.
        const answer = await refused;
        expect(answer.status()).toBe(403);
        await expect(answer.json()).resolves.toMatchObject({ error: { code: 'cross_site' } });
        await attacker.close();
      }
    } finally {
      for (const attack of attacks) await attack.close();
    }

    await page.reload();
    await expect(page.getByText('Signed in as mika (administrator)').count()).resolves.toBe(1);
    expect((await page.goto(`${withAccounts.url}/api/chat/sessions/csrf-probe`))!.status()).toBe(404);
  });

  it('the pages speak the browser’s language: Japanese for ja-JP, English for en-US', async () => {
    const japanese = await (await browser.context({ locale: 'ja-JP' })).newPage();
    await japanese.goto(`${withAccounts.url}/signin`);
    await expect(japanese.locator('html').getAttribute('lang')).resolves.toBe('ja');
    await expect(japanese.getByRole('heading', { name: 'サインイン' }).count()).resolves.toBe(1);
    await japanese.getByLabel('ユーザー名').fill('mika');
    await japanese.getByLabel('パスワード').fill(password);
    await japanese.getByRole('button', { name: 'サインイン' }).click();
    await japanese.waitForURL((url) => url.pathname === '/');
    await expect(japanese.getByText('mika（管理者）としてサインイン中').count()).resolves.toBe(1);

    const english = await (await browser.context({ locale: 'en-US' })).newPage();
    await english.goto(`${withAccounts.url}/signin`);
    await expect(english.locator('html').getAttribute('lang')).resolves.toBe('en');
    await expect(english.getByRole('heading', { name: 'Sign in' }).count()).resolves.toBe(1);
    await expect(english.getByLabel('User name').count()).resolves.toBe(1);
  });
});

import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localTime } from '../../src/localTime.js';
import { browserForTests } from '../helpers/browser.js';
import { tempDir, writeFiles } from '../helpers/files.js';
import { type ServeProcess, spawnServe } from '../helpers/serveProcess.js';
import { signedInPage, uiUser } from '../helpers/signedIn.js';

const start = Date.UTC(2026, 11, 1, 9, 0);
const minute = 60_000;
/** A time as the pages show it: to the minute, in the time zone of the service (started with this process's TZ). */
const shown = (moment: number) => localTime(moment, { seconds: false });

describe('reading chat logs in a real browser (Chromium)', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let browser: Awaited<ReturnType<typeof browserForTests>>;
  let serve: ServeProcess;
  const password = 'correct horse battery staple';
  /** The bots' token: the chat logs are written through the API, as the bots write them. */
  const botToken = 'chat-test-bot-token-of-forty-characters0';
  const api = async (method: string, pathAndQuery: string, body?: unknown) => {
    const response = await fetch(`${serve.url}${pathAndQuery}`, {
      method,
      headers: { authorization: `Bearer ${botToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: response.status, body: (await response.json()) as unknown };
  };
  const signIn = async () => signedInPage(await browser.context({ locale: 'en-US', acceptDownloads: true }), serve.url, 'mika', password);

  beforeAll(async () => {
    work = await tempDir();
    await writeFiles(path.join(work.dir, 'storage'), {
      'human_members/yamada.yml': 'name: 山田太郎\nrole: Engineer\nskills: [TypeScript]\n',
      'virtual_members/kasen.yml': 'name: 華扇\nrole: Code reviewer\nllm_model: claude-sonnet-4-5\nsystem_prompt: あなたは華扇、コードレビュー担当です。\n',
    });
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
        VECR_API_TOKENS: `bot:read,chat:${botToken}`,
      }),
    ]);
    // Three conversations: the review (a person and an AI member), an older one, the newest one.
    const post = async (session: string, messages: Record<string, unknown>[]) => {
      // Right after the start the embedded store may still be creating its table: 503, try again.
      for (let tries = 0; ; tries++) {
        const answer = await api('POST', `/api/chat/sessions/${encodeURIComponent(session)}/messages`, { messages });
        if (answer.status !== 503 || tries > 100) return expect(answer.status).toBe(201);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };
    await post('review', [
      { timestamp: start, speaker_name: '山田太郎', speaker_type: 'human', role: 'user', content: 'レビューをお願いします。\n  二行目、字下げあり' },
      {
        timestamp: start + minute,
        speaker_name: '華扇',
        speaker_type: 'virtual',
        role: 'assistant',
        content: '良いと思います。\n一点だけ。',
        llm_model: 'claude-sonnet-4-5',
        input_tokens: 120,
        output_tokens: 8,
      },
    ]);
    await post('older', [{ timestamp: start - 60 * minute, speaker_name: '山田太郎', speaker_type: 'human', role: 'user', content: 'Old news.' }]);
    await post('newest', [{ timestamp: start + 30 * minute, speaker_name: 'Ken', speaker_type: 'human', role: 'user', content: 'Latest.' }]);
    // The first full sync registers 華扇 (the transcript offers her context preview).
    for (let tries = 0; ; tries++) {
      if ((await api('GET', `/api/members/virtual/${encodeURIComponent('華扇')}`)).status === 200) break;
      if (tries > 300) throw new Error(`the first sync did not finish:\n${serve.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });
  afterAll(async () => {
    await browser?.close();
    await serve?.kill();
    await work?.remove();
  });

  it('lists the sessions, the most recent first, and filters them by speaker', async () => {
    const page = await signIn();
    await page.getByRole('link', { name: 'Chat logs' }).click();
    await page.waitForURL((url) => url.pathname === '/chat');
    await expect(page.locator('tbody tr td:first-child').allInnerTexts()).resolves.toEqual(['newest', 'review', 'older']);
    await expect(page.locator('tbody tr').nth(1).locator('td').allInnerTexts()).resolves.toEqual([
      'review',
      '',
      '山田太郎, 華扇',
      '2',
      'open',
      shown(start + minute),
    ]);
    await page.getByLabel('Speaker name').fill('華扇');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL((url) => url.searchParams.get('member') === '華扇');
    await expect(page.locator('tbody tr td:first-child').allInnerTexts()).resolves.toEqual(['review']);
  });

  it('shows a transcript as a conversation: who spoke, human or AI, when, with which model and tokens', async () => {
    const page = await signIn();
    await page.goto(`${serve.url}/chat`);
    await page.getByRole('link', { name: 'review', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/chat/sessions/review');
    const turns = page.locator('ol.transcript > li');
    await expect(turns.count()).resolves.toBe(2);
    await expect(turns.nth(0).locator('.speaker').innerText()).resolves.toBe(`山田太郎 Human ${shown(start)}`);
    // Line breaks and the indent are kept, as written.
    await expect(turns.nth(0).locator('.content').innerText()).resolves.toBe('レビューをお願いします。\n  二行目、字下げあり');
    await expect(turns.nth(1).locator('.speaker').innerText()).resolves.toBe(`華扇 AI ${shown(start + minute)} claude-sonnet-4-5 tokens: 120 in / 8 out`);
    await expect(turns.nth(1).locator('.content').innerText()).resolves.toBe('良いと思います。\n一点だけ。');
    // A person tells the AI's turns apart at a glance: they are set off in another colour.
    const background = (index: number) =>
      turns
        .nth(index)
        .evaluate(
          (element) => (globalThis as unknown as { getComputedStyle(element: unknown): { backgroundColor: string } }).getComputedStyle(element).backgroundColor,
        );
    expect(await background(1)).not.toBe(await background(0));

    // The AI member's context preview: her system prompt, then the turns; the account bar stays.
    await page.getByRole('link', { name: 'Context preview for 華扇' }).click();
    await page.waitForURL((url) => url.pathname === '/chat/sessions/review/context');
    await expect(page.locator('dd.long').innerText()).resolves.toBe('あなたは華扇、コードレビュー担当です。');
    await expect(page.locator('ol.transcript .content').allInnerTexts()).resolves.toEqual([
      '山田太郎: レビューをお願いします。\n  二行目、字下げあり',
      '良いと思います。\n一点だけ。',
    ]);
    await expect(page.getByRole('button', { name: 'Sign out' }).count()).resolves.toBe(1);
  });

  it('exports a transcript as Markdown and as JSON Lines: downloads, not pages', async () => {
    const page = await signIn();
    await page.goto(`${serve.url}/chat/sessions/review`);
    const download = async (link: string) => {
      const [file] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: link }).click()]);
      return { name: file.suggestedFilename(), text: await fs.readFile((await file.path())!, 'utf8') };
    };
    const markdown = await download('Export (Markdown)');
    expect(markdown.name).toBe('review.md');
    expect(markdown.text).toContain('山田太郎');
    expect(markdown.text).toContain('良いと思います。');
    const lines = await download('Export (JSON Lines)');
    expect(lines.name).toBe('review.jsonl');
    const messages = lines.text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(messages.map((message) => [message.speaker_name, message.content])).toEqual([
      ['山田太郎', 'レビューをお願いします。\n  二行目、字下げあり'],
      ['華扇', '良いと思います。\n一点だけ。'],
    ]);
    expect(messages[1]).toMatchObject({ llm_model: 'claude-sonnet-4-5', input_tokens: 120, output_tokens: 8 });
    // The page is still the transcript: nothing navigated away.
    expect(new URL(page.url()).pathname).toBe('/chat/sessions/review');
  });

  it('deletes a session only after a confirmation; a forged confirmation is refused and deletes nothing', async () => {
    const page = await signIn();
    await page.goto(`${serve.url}/chat/sessions/older`);
    await page.getByRole('link', { name: 'Delete…' }).click();
    await page.waitForURL((url) => url.pathname === '/chat/sessions/older/delete');
    await expect(page.getByRole('heading', { name: 'Delete the session older' }).count()).resolves.toBe(1);
    await expect(page.getByText('Delete 1 messages? This cannot be undone.').count()).resolves.toBe(1);
    await expect(page.getByRole('button', { name: 'Sign out' }).count()).resolves.toBe(1);
    // Opening the confirmation deleted nothing.
    expect((await api('GET', '/api/chat/sessions/older')).status).toBe(200);

    await page.locator('form[action$="/delete"] input[name="_csrf"]').evaluate((input) => input.setAttribute('value', 'forged'));
    const [refused] = await Promise.all([
      page.waitForResponse((response) => response.request().method() === 'POST'),
      page.getByRole('button', { name: 'Delete 1 messages' }).click(),
    ]);
    expect(refused.status()).toBe(403);
    expect((await api('GET', '/api/chat/sessions/older')).status).toBe(200);

    await page.goto(`${serve.url}/chat/sessions/older/delete`);
    await page.getByRole('button', { name: 'Delete 1 messages' }).click();
    await page.waitForURL((url) => url.pathname === '/chat');
    await expect(page.locator('tbody tr td:first-child').allInnerTexts()).resolves.toEqual(['newest', 'review']);
    expect((await api('GET', '/api/chat/sessions/older')).status).toBe(404);
  });

  it('answers a broken page link with a page that says so, in the page’s language', async () => {
    const page = await signIn();
    const answer = await page.goto(`${serve.url}/chat?cursor=broken`);
    expect(answer?.status()).toBe(400);
    await expect(page.getByRole('alert').innerText()).resolves.toBe(
      'This link to a further page is not valid (it was not made by this page, or is cut short). Start again from the first page.',
    );
    await page.getByRole('link', { name: '← First page' }).click();
    await page.waitForURL((url) => url.pathname === '/chat' && url.search === '');
    await expect(page.locator('tbody tr').count()).resolves.toBeGreaterThan(0);
  });
});

import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateMessages } from '../../../src/chatlog/messages.js';
import type { ChatStore } from '../../../src/chatlog/store.js';
import { type Config, loadConfig } from '../../../src/config.js';
import { hashPassword } from '../../../src/http/ui/password.js';
import { localTime } from '../../../src/localTime.js';
import type { Service } from '../../../src/service.js';
import { folderStorage } from '../../../src/storage/folder.js';
import { freshDatabase, type TestDatabase } from '../../helpers/databases.js';
import { tempDir, virtual, writeFiles } from '../../helpers/files.js';
import { chatStoreForTest, serveForTest } from '../../helpers/service.js';

const passwords = { mika: 'mika-admin-パスワード-1', rin: 'rin-viewer-password-2' };
const hostile = '<script>alert(1)</script>';
const start = Date.UTC(2026, 11, 1, 9, 0);

describe('the chat log pages of the web UI', () => {
  let db: TestDatabase;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let chat: ChatStore;
  let service: Service;
  let withoutStore: Service;
  const cookies: Record<string, string> = {};

  const accounts = async (_config: Config) => {
    const entries = [`mika:admin:${await hashPassword(passwords.mika)}`, `rin:viewer:${await hashPassword(passwords.rin)}`];
    return loadConfig({ VECR_UI_USERS: entries.join('\n'), VECR_SESSION_SECRET: 'a-test-session-secret-of-32-characters-or-more' }).ui;
  };
  const signIn = async (target: Service, user: keyof typeof passwords) => {
    const response = await fetch(`${target.url}/signin`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ user, password: passwords[user] }).toString(),
    });
    expect(response.status).toBe(303);
    return response.headers.getSetCookie()[0]!.split(';')[0]!;
  };
  /** A page as a signed-in browser gets it, in this language. */
  const open = async (pathAndQuery: string, language = 'en', user: keyof typeof passwords = 'mika', target = service) => {
    const response = await fetch(`${target.url}${pathAndQuery}`, { headers: { cookie: cookies[user]!, 'accept-language': language }, redirect: 'manual' });
    return { status: response.status, headers: response.headers, text: await response.text() };
  };
  const postForm = async (pathAndQuery: string, fields: Record<string, string>, user: keyof typeof passwords = 'mika') => {
    const response = await fetch(`${service.url}${pathAndQuery}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: cookies[user]!, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    return { status: response.status, headers: response.headers, text: await response.text() };
  };
  /** The session ids a list page shows, in order. */
  const sessionsOn = (text: string) => [...text.matchAll(/<td><a href="\/chat\/sessions\/[^"]+">([^<]*)<\/a><\/td>/g)].map((match) => match[1]);
  const csrfOn = (text: string) => /<input type="hidden" name="_csrf" value="([\w-]+)">/.exec(text)![1]!;

  beforeAll(async () => {
    db = await freshDatabase('pglite');
    work = await tempDir();
    await writeFiles(work.dir, {
      'storage/virtual_members/aoi.yml': virtual('Aoi', 'role: Reviewer\nsystem_prompt: "You are Aoi, the reviewer."\npersonality_traits: [calm, exact]\n'),
    });
    chat = await chatStoreForTest(path.join(work.dir, 'chat'));
    const ui = await accounts(loadConfig({}));
    const setup = (config: Config) => {
      config.storage = { kind: 'folder', path: `${work.dir}/storage` };
      config.ui = ui;
    };
    service = await serveForTest(db, folderStorage(`${work.dir}/storage`), setup, chat);
    withoutStore = await serveForTest(db, folderStorage(`${work.dir}/storage`), setup);
    // Three sessions, each begun by its first message (so its times are its messages'): the review
    // (Rin and Aoi, hostile content too), a thread of its channel, an older one in another channel.
    await chat.append(
      'discord:100',
      validateMessages([
        {
          timestamp: start,
          speaker_name: 'Rin',
          speaker_type: 'human',
          role: 'user',
          content: `Please review this:\n  line two, indented\n${hostile}`,
          channel_id: '100',
        },
        {
          timestamp: start + 60_000,
          speaker_name: 'Aoi',
          speaker_type: 'virtual',
          role: 'assistant',
          content: 'Looks good.\nOne nit.',
          channel_id: '100',
          llm_model: 'claude-sonnet-4-5',
          input_tokens: 120,
          output_tokens: 8,
        },
      ]),
    );
    await chat.append(
      'discord:100:200',
      validateMessages([
        { timestamp: start + 120_000, speaker_name: 'Ken', speaker_type: 'human', role: 'user', content: 'A thread.', channel_id: '100', thread_id: '200' },
      ]),
    );
    await chat.append(
      'discord:300',
      validateMessages([{ timestamp: start - 60_000, speaker_name: 'Ken', speaker_type: 'human', role: 'user', content: 'Old news.', channel_id: '300' }]),
    );
    await chat.flush();
    cookies.mika = await signIn(service, 'mika');
    cookies.rin = await signIn(service, 'rin');
  });
  afterAll(async () => {
    await service?.close();
    await withoutStore?.close();
    await chat?.close();
    await db?.close();
    await work?.remove();
  });

  it('lists the sessions, the most recent first, behind the sign-in', async () => {
    const anonymous = await fetch(`${service.url}/chat`, { redirect: 'manual' });
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get('location')).toBe('/signin');
    const { status, text } = await open('/chat');
    expect(status).toBe(200);
    expect(sessionsOn(text)).toEqual(['discord:100:200', 'discord:100', 'discord:300']);
    expect(text).toMatch(
      /<tr><td><a href="\/chat\/sessions\/discord%3A100">discord:100<\/a><\/td><td>100<\/td><td>Aoi, Rin<\/td><td>2<\/td><td>open<\/td><td><time datetime="2026-12-01T09:01:00.000Z">\d{4}-\d\d-\d\d \d\d:\d\d [+-]\d\d:\d\d<\/time><\/td><\/tr>/,
    );
    expect(text).not.toMatch(/<script|style=/);
  });

  it('filters by channel and by speaker, keeping the filter in the form', async () => {
    const channel = await open('/chat?channel_id=300');
    expect(sessionsOn(channel.text)).toEqual(['discord:300']);
    expect(channel.text).toContain('<input name="channel_id" value="300">');
    expect(sessionsOn((await open('/chat?member=Aoi')).text)).toEqual(['discord:100']);
    // The store cannot combine the two: the page says so instead of an error.
    const both = await open('/chat?channel_id=300&member=Aoi');
    expect(both.status).toBe(200);
    expect(both.text).toContain('Give a channel id or a speaker name, not both.');
    expect(sessionsOn(both.text)).toEqual([]);
    const none = await open(`/chat?member=${encodeURIComponent(hostile)}`);
    expect(none.text).toContain('No session matches.');
    expect(none.text).not.toContain(hostile);
  });

  it('shows a transcript as a conversation: speakers, human or AI, times, model, tokens, line breaks kept, hostile content escaped', async () => {
    const { status, text } = await open('/chat/sessions/discord%3A100');
    expect(status).toBe(200);
    expect(text).not.toContain(hostile);
    expect(text).toContain(
      `<li class="human"><p class="speaker"><strong>Rin</strong> <span class="kind">Human</span> <time datetime="2026-12-01T09:00:00.000Z">${localTime(start, { seconds: false })}</time></p><div class="content">Please review this:\n  line two, indented\n&lt;script&gt;alert(1)&lt;/script&gt;</div></li>`,
    );
    expect(text).toContain(
      `<li class="ai"><p class="speaker"><strong>Aoi</strong> <span class="kind">AI</span> <time datetime="2026-12-01T09:01:00.000Z">${localTime(start + 60_000, { seconds: false })}</time> <span class="model">claude-sonnet-4-5</span> <span class="tokens">tokens: 120 in / 8 out</span></p><div class="content">Looks good.\nOne nit.</div></li>`,
    );
    expect(text).toContain('<a href="/api/chat/sessions/discord%3A100/export?format=md">');
    expect(text).toContain('<a href="/chat/sessions/discord%3A100/context?member=Aoi">Context preview for Aoi</a>');
    expect(text).not.toContain('context?member=Rin');
    const css = await (await fetch(`${service.url}/ui/static/style.css`)).text();
    expect(css).toMatch(/ol\.transcript \.content \{[^}]*white-space: pre-wrap/);
    // The export link works with the session cookie.
    const exported = await open('/api/chat/sessions/discord%3A100/export?format=md');
    expect(exported.status).toBe(200);
    expect(exported.text).toContain('Looks good.');
    const missing = await open(`/chat/sessions/${encodeURIComponent(hostile)}`);
    expect(missing.status).toBe(404);
    expect(missing.text).not.toContain(hostile);
  });

  it('previews the context an AI member gets: its system prompt and the turns', async () => {
    const { status, text } = await open('/chat/sessions/discord%3A100/context?member=Aoi');
    expect(status).toBe(200);
    expect(text).toContain('<dt>Model</dt><dd>claude-sonnet-4-5</dd>');
    expect(text).toContain('<dd class="long">You are Aoi, the reviewer.\n\nYour personality: calm, exact.</dd>');
    expect(text).toContain(
      '<li class="human"><p class="speaker">user</p><div class="content">Rin: Please review this:\n  line two, indented\n&lt;script&gt;alert(1)&lt;/script&gt;</div></li>',
    );
    expect(text).toContain('<li class="ai"><p class="speaker">assistant</p><div class="content">Looks good.\nOne nit.</div></li>');
    expect((await open('/chat/sessions/discord%3A100/context?member=Rin')).status).toBe(404);
  });

  it('deletes a session only after a confirmation, as an admin, with the CSRF token', async () => {
    const confirm = await open('/chat/sessions/discord%3A300/delete');
    expect(confirm.status).toBe(200);
    expect(confirm.text).toContain('Delete 1 messages? This cannot be undone.');
    expect(confirm.text).toContain('<form method="post" action="/chat/sessions/discord%3A300/delete">');
    const csrf = csrfOn(confirm.text);
    // Without the token, or with a viewer's session: refused, nothing deleted.
    const noToken = await postForm('/chat/sessions/discord%3A300/delete', { confirm: 'yes' });
    expect(noToken.status).toBe(403);
    expect(noToken.text).toContain('<h2>このフォームは期限切れです</h2>');
    const viewerCsrf = csrfOn((await open('/chat/sessions/discord%3A300/delete', 'en', 'rin')).text);
    const viewer = await postForm('/chat/sessions/discord%3A300/delete', { _csrf: viewerCsrf }, 'rin');
    expect(viewer.status).toBe(403);
    expect(viewer.text).toContain('"forbidden"');
    expect(await chat.getSession('discord:300')).toBeDefined();
    const deleted = await postForm('/chat/sessions/discord%3A300/delete', { _csrf: csrf });
    expect(deleted.status).toBe(303);
    expect(deleted.headers.get('location')).toBe('/chat');
    expect(await chat.getSession('discord:300')).toBeUndefined();
    expect(sessionsOn((await open('/chat')).text)).toEqual(['discord:100:200', 'discord:100']);
  });

  it('keeps the account bar (the pages, who is signed in, sign-out) on the delete confirmation and the context preview', async () => {
    for (const pathAndQuery of ['/chat/sessions/discord%3A100/delete', '/chat/sessions/discord%3A100/context?member=Aoi']) {
      const { status, text } = await open(pathAndQuery);
      expect(status).toBe(200);
      expect(text).toContain('<nav class="sections"><a href="/">The team</a> <a href="/sync">Sync with storage</a> <a href="/chat">Chat logs</a></nav>');
      expect(text).toContain('Signed in as mika (administrator)');
      expect(text).toContain('<form method="post" action="/signout">');
    }
  });

  it("answers a cursor it did not hand out with a page that says so (400), not the API's JSON", async () => {
    for (const pathAndQuery of [
      '/chat?cursor=not-a-cursor',
      '/chat?channel_id=100&cursor=bm90IGEgY3Vyc29y',
      '/chat/sessions/discord%3A100?cursor=not-a-cursor',
    ]) {
      const { status, headers, text } = await open(pathAndQuery);
      expect(status, pathAndQuery).toBe(400);
      expect(headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(text).toContain(
        '<p class="message" role="alert">This link to a further page is not valid (it was not made by this page, or is cut short). Start again from the first page.</p>',
      );
      expect(text).toContain('Signed in as mika (administrator)');
    }
    expect((await open('/chat?channel_id=100&cursor=x')).text).toContain('<a href="/chat?channel_id=100">← First page</a>');
    expect((await open('/chat/sessions/discord%3A100?cursor=x')).text).toContain('<a href="/chat/sessions/discord%3A100">← First page</a>');
    const ja = await open('/chat?cursor=x', 'ja');
    expect(ja.status).toBe(400);
    expect(ja.text).toContain('<html lang="ja">');
  });

  it('says when no chat log store is configured', async () => {
    cookies.mikaElsewhere = await signIn(withoutStore, 'mika');
    const response = await fetch(`${withoutStore.url}/chat`, { headers: { cookie: cookies.mikaElsewhere, 'accept-language': 'en' } });
    expect(response.status).toBe(503);
    expect(await response.text()).toContain('No chat log store is configured for this service');
  });

  it('speaks Japanese and English', async () => {
    const ja = await open('/chat', 'ja');
    expect(ja.text).toContain('<html lang="ja">');
    expect(ja.text).toContain('<h2>チャットログ</h2>');
    expect(ja.text).toContain('<th scope="col">発言者</th>');
    const jaTranscript = await open('/chat/sessions/discord%3A100', 'ja');
    expect(jaTranscript.text).toContain('<span class="kind">人間</span>');
    expect(jaTranscript.text).toContain('トークン：入力 120／出力 8');
    const en = await open('/chat', 'en');
    expect(en.text).toContain('<html lang="en">');
    expect(en.text).toContain('<h2>Chat logs</h2>');
  });

  it('pages by cursor: the next link carries the filter, and the second page holds the rest', async () => {
    const many = Array.from({ length: 51 }, (_, index) => `many-${String(index).padStart(2, '0')}`);
    for (const [index, id] of many.entries()) {
      await chat.append(
        id,
        validateMessages([
          { timestamp: start - 86_400_000 + index * 60_000, speaker_name: 'Ken', speaker_type: 'human', role: 'user', content: 'Hi.', channel_id: 'many' },
        ]),
      );
    }
    await chat.flush();
    const first = await open('/chat?channel_id=many');
    expect(sessionsOn(first.text)).toEqual(many.slice(1).reverse());
    const next = /<a href="([^"]+)" rel="next">/.exec(first.text)![1]!.replaceAll('&amp;', '&');
    expect(next).toMatch(/^\/chat\?channel_id=many&cursor=/);
    const second = await open(next);
    expect(sessionsOn(second.text)).toEqual(['many-00']);
    expect(second.text).not.toContain('rel="next"');
    expect(second.text).toContain('<a href="/chat?channel_id=many">← First page</a>');
    // Every session, by last message: the newest three, then the 51 of yesterday, over two pages.
    const all = await open('/chat');
    const rest = await open(/<a href="([^"]+)" rel="next">/.exec(all.text)![1]!.replaceAll('&amp;', '&'));
    expect([...sessionsOn(all.text), ...sessionsOn(rest.text)]).toEqual(['discord:100:200', 'discord:100', ...many.reverse()]);
  });
});

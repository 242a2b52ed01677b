import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openChatStore } from '../../src/chatlog/open.js';
import type { ChatStore } from '../../src/chatlog/store.js';
import { loadConfig } from '../../src/config.js';
import type { Service } from '../../src/service.js';
import { folderStorage } from '../../src/storage/folder.js';
import { freshDatabase, type TestDatabase } from '../helpers/databases.js';
import { tempDir, writeFiles } from '../helpers/files.js';
import { chatStoreForTest, get, post, serveForTest } from '../helpers/service.js';

describe('chat API', () => {
  let db: TestDatabase;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let chat: ChatStore;
  let service: Service;
  let api: string;
  beforeAll(async () => {
    db = await freshDatabase('pglite');
    work = await tempDir();
    await writeFiles(work.dir, {
      'storage/virtual_members/kasen.yml':
        'name: 華扇\nllm_model: claude-sonnet-4-5\nsystem_prompt: You review code.\npersonality_traits: [calm]\nexpertise_areas: [Python]\n',
    });
    chat = await chatStoreForTest(work.dir);
    const storage = `${work.dir}/storage`;
    service = await serveForTest(db, folderStorage(storage), (config) => void (config.storage = { kind: 'folder', path: storage }), chat);
    api = `${service.url}/api`;
  });
  afterAll(async () => {
    await service?.close();
    await chat?.close();
    await db?.close();
    await work?.remove();
  });

  const rin = (content: string, extra: Record<string, unknown> = {}) => ({
    speaker_name: 'Rin',
    speaker_type: 'human',
    role: 'user',
    content,
    source: 'discord',
    channel_id: 'c9',
    ...extra,
  });
  const kasen = (content: string) => ({
    speaker_name: '華扇',
    speaker_type: 'virtual',
    role: 'assistant',
    content,
    llm_model: 'claude-sonnet-4-5',
    channel_id: 'c9',
  });

  it('starts the session of a Discord channel, takes one message or many, and pages them back', async () => {
    const session = await post(`${api}/chat/sessions`, { channel_id: 'c9' });
    expect(session.body).toMatchObject({ session_id: 'discord:c9', channel_id: 'c9', status: 'open' });
    const one = await post(`${api}/chat/sessions/discord:c9/messages`, rin('hello', { message_id: 'd1' }));
    expect(one.status).toBe(201);
    expect(one.body.messages[0]).toMatchObject({ session_id: 'discord:c9', content: 'hello', timestamp: expect.any(Number) });
    const many = await post(`${api}/chat/sessions/discord:c9/messages`, { messages: [kasen('Hello Rin.'), rin('review please'), kasen('Looks good.')] });
    expect(many.body.messages).toHaveLength(3);
    const repost = await post(`${api}/chat/sessions/discord:c9/messages`, rin('hello', { message_id: 'd1' }));
    expect(repost.body.messages[0].duplicate).toBe(true);

    const first = await get(`${api}/chat/sessions/discord:c9/messages?limit=3&order=desc`);
    expect(first.body.messages.map((m: { content: string }) => m.content)).toEqual(['Looks good.', 'review please', 'Hello Rin.']);
    const second = await get(`${api}/chat/sessions/discord:c9/messages?limit=3&order=desc&cursor=${first.body.next_cursor}`);
    expect(second.body).toMatchObject({ messages: [{ content: 'hello' }], next_cursor: null });
    expect((await get(`${api}/chat/sessions/discord:c9/messages?cursor=forged`)).body.error.code).toBe('bad_cursor');
    // Bounds in time: a fraction DynamoDB cannot hold is rounded; beyond the range, 400 from us.
    expect((await get(`${api}/chat/sessions/discord:c9/messages?after=1e-200`)).body.messages).toHaveLength(4);
    for (const bound of ['after=1e300', 'before=1e300', 'before=-1']) {
      const answer = await get(`${api}/chat/sessions/discord:c9/messages?${bound}`);
      expect({ bound, status: answer.status, message: answer.body.error.message }).toEqual({
        bound,
        status: 400,
        message: expect.not.stringMatching(/ExpressionAttributeValues|underflow|overflow/i),
      });
    }
  });

  it('lists sessions by channel and by member', async () => {
    const byChannel = await get(`${api}/chat/sessions?channel_id=c9`);
    expect(byChannel.body).toMatchObject({
      sessions: [{ session_id: 'discord:c9', channel_id: 'c9', message_count: 4, last_activity: expect.any(Number) }],
      next_cursor: null,
    });
    const byMember = await get(`${api}/chat/sessions?member=${encodeURIComponent('華扇')}`);
    expect(byMember.body.sessions.map((s: { session_id: string }) => s.session_id)).toEqual(['discord:c9']);
  });

  it('gives an AI member its context: model, system prompt, latest turns oldest first, within the budget', async () => {
    const context = await get(`${api}/members/virtual/${encodeURIComponent('華扇')}/context?session_id=discord:c9&max_messages=3`);
    expect(context.body).toEqual({
      model: 'claude-sonnet-4-5',
      system: 'You review code.\n\nYour personality: calm.\n\nYour areas of expertise: Python.',
      messages: [
        { role: 'assistant', content: 'Hello Rin.' },
        { role: 'user', content: 'Rin: review please' },
        { role: 'assistant', content: 'Looks good.' },
      ],
    });
    const trimmed = await get(`${api}/members/virtual/${encodeURIComponent('華扇')}/context?session_id=discord:c9&max_chars=30`);
    expect(trimmed.body.messages).toEqual([
      { role: 'user', content: 'Rin: review please' },
      { role: 'assistant', content: 'Looks good.' },
    ]);
    expect((await get(`${api}/members/virtual/Nobody/context?session_id=discord:c9`)).status).toBe(404);
    const empty = await get(`${api}/members/virtual/${encodeURIComponent('華扇')}/context?session_id=nothing-yet`);
    expect(empty).toMatchObject({ status: 200, body: { messages: [] } });
  });

  it('exports, closes and deletes a session', async () => {
    const jsonl = await fetch(`${api}/chat/sessions/discord:c9/export?format=jsonl`);
    expect(jsonl.headers.get('content-type')).toContain('application/x-ndjson');
    expect((await jsonl.text()).trim().split('\n')).toHaveLength(4);
    expect(jsonl.headers.get('content-disposition')).toBe('attachment; filename="discord_c9.jsonl"');
    const markdown = await fetch(`${api}/chat/sessions/discord:c9/export?format=md`);
    expect(markdown.headers.get('content-disposition')).toBe('attachment; filename="discord_c9.md"');
    expect(await markdown.text()).toContain('# Session discord:c9');
    expect((await post(`${api}/chat/sessions/discord:c9/close`, {})).body.status).toBe('closed');
    expect((await post(`${api}/chat/sessions/discord:c9/messages`, rin('late'))).status).toBe(409);
    const deleted = await fetch(`${api}/chat/sessions/discord:c9`, { method: 'DELETE' });
    expect(await deleted.json()).toEqual({ session_id: 'discord:c9', deleted_messages: 4 });
    expect((await get(`${api}/chat/sessions/discord:c9`)).status).toBe(404);
  });

  it('starts sessions only under ids every other route can reach, and keeps a session to its channel', async () => {
    for (const body of [
      { channel_id: 'a b' },
      { channel_id: 'a/b' },
      { channel_id: 'c1:t1' },
      { channel_id: 'c1', thread_id: '#t' },
      { channel_id: '9'.repeat(3000) },
    ]) {
      const answer = await post(`${api}/chat/sessions`, body);
      expect({ body: JSON.stringify(body).slice(0, 40), status: answer.status }).toEqual({ body: JSON.stringify(body).slice(0, 40), status: 400 });
    }
    const thread = await post(`${api}/chat/sessions`, { channel_id: 'c10', thread_id: 't1' });
    expect(thread.body.session_id).toBe('discord:c10:t1');
    expect((await get(`${api}/chat/sessions/discord:c10:t1`)).status).toBe(200);
    await post(`${api}/chat/sessions`, { session_id: 'mine', channel_id: 'c10' });
    const other = await post(`${api}/chat/sessions`, { session_id: 'mine', channel_id: 'c11', thread_id: 't9' });
    expect(other).toMatchObject({ status: 409, body: { error: { code: 'conflict', message: 'session mine belongs to channel_id c10, not c11' } } });
    // The refused request changed nothing: the rightful channel may still give its thread.
    expect((await get(`${api}/chat/sessions/mine`)).body).toMatchObject({ channel_id: 'c10', thread_id: null });
    expect((await post(`${api}/chat/sessions`, { session_id: 'mine', channel_id: 'c10', thread_id: 't1' })).body).toMatchObject({
      channel_id: 'c10',
      thread_id: 't1',
    });
  });

  it('refuses bad messages with 400 and oversized ones with 413', async () => {
    expect((await post(`${api}/chat/sessions/s1/messages`, { speaker_name: 'A' })).status).toBe(400);
    expect((await post(`${api}/chat/sessions/s1/messages`, rin('x'.repeat(600 * 1024)))).status).toBe(413);
  });

  it('names the fields a message is missing, and its other problems, in one answer', async () => {
    const refusal = async (body: unknown) => {
      const answer = await post(`${api}/chat/sessions/s1/messages`, body);
      return { status: answer.status, code: answer.body.error.code, message: answer.body.error.message };
    };
    expect(await refusal({ speaker_name: 'A', role: 'user' })).toEqual({
      status: 400,
      code: 'bad_request',
      message: 'body: missing fields: speaker_type, content',
    });
    expect(await refusal({})).toEqual({ status: 400, code: 'bad_request', message: 'body: missing fields: speaker_name, speaker_type, role, content' });
    expect(await refusal({ messages: [rin('fine'), { speaker_name: 'A', speaker_type: 'robot', role: 'user' }] })).toEqual({
      status: 400,
      code: 'bad_request',
      message: 'body: missing field: messages[1].content; messages[1].speaker_type: Invalid option: expected one of "human"|"virtual"',
    });
    expect(await refusal({ ...rin('hi'), speker: 'typo' })).toEqual({ status: 400, code: 'bad_request', message: 'body: unknown field: speker' });
    // The same for every route's schema: a session's query, too.
    expect((await get(`${api}/chat/sessions/s1/messages?limit=0`)).body.error.message).toBe('query: limit: Too small: expected number to be >=1');
  });

  it('refuses an oversized message with 413', async () => {
    expect((await post(`${api}/chat/sessions/s1/messages`, rin('x'.repeat(600 * 1024)))).status).toBe(413);
  });

  it('is in /openapi.json and in /ready', async () => {
    const { body } = await get(`${service.url}/openapi.json`);
    for (const path of ['/api/chat/sessions', '/api/chat/sessions/{id}/messages', '/api/chat/sessions/{id}/close', '/api/members/virtual/{name}/context']) {
      expect(Object.keys(body.paths)).toContain(path);
    }
    expect((await get(`${service.url}/ready`)).body.chatlog).toEqual({ status: 'ok' });
  });

  it('answers 503, without crashing, when the store is unreachable', async () => {
    const down = await openChatStore(loadConfig({ CHATLOG_DYNAMODB_ENDPOINT: 'http://127.0.0.1:1' }));
    const other = await serveForTest(db, folderStorage(work.dir), (config) => void (config.storage = { kind: 'folder', path: work.dir }), down);
    try {
      const response = await post(`${other.url}/api/chat/sessions/s/messages`, rin('hi'));
      expect(response).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
      expect((await get(`${other.url}/api/chat/sessions/s/messages`)).status).toBe(503);
      expect((await get(`${other.url}/ready`)).status).toBe(503);
      expect((await get(`${other.url}/health`)).status).toBe(200);
    } finally {
      await other.close();
      await down.close();
    }
  });
});

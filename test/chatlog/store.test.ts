import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildContext } from '../../src/chatlog/context.js';
import { readCredentials } from '../../src/chatlog/credentials.js';
import { ChatStoreUnavailableError } from '../../src/chatlog/errors.js';
import { exportSession } from '../../src/chatlog/export.js';
import { validateMessages } from '../../src/chatlog/messages.js';
import { openChatStore } from '../../src/chatlog/open.js';
import type { ChatMessage } from '../../src/chatlog/schema.js';
import type { ChatStore } from '../../src/chatlog/store.js';
import { loadConfig } from '../../src/config.js';
import { tempDir } from '../helpers/files.js';
import { chatStoreForTest } from '../helpers/service.js';

const say = (speaker_name: string, content: string, extra: Record<string, unknown> = {}) =>
  validateMessages([{ speaker_name, speaker_type: 'human', role: 'user', content, ...extra }])[0]!;

describe('chat log store (embedded dynalite)', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let chat: ChatStore;
  beforeAll(async () => {
    work = await tempDir();
    chat = await chatStoreForTest(work.dir, { CHATLOG_TTL_DAYS: '7' });
  });
  afterAll(async () => {
    await chat?.close();
    await work?.remove();
  });

  it('keeps two messages of the same millisecond apart, in order, never overwriting', async () => {
    const at = 1_800_000_000_000;
    await chat.append('same-ms', [say('A', 'first', { timestamp: at }), say('B', 'second', { timestamp: at })]);
    await Promise.all(Array.from({ length: 8 }, (_, i) => chat.append('same-ms', [say('C', `parallel ${i}`, { timestamp: at })])));
    const { messages } = await chat.readMessages('same-ms', { limit: 100, order: 'asc' });
    expect(messages).toHaveLength(10);
    expect(messages.slice(0, 2).map((m) => [m.timestamp, m.content])).toEqual([
      [at, 'first'],
      [at + 1, 'second'],
    ]);
    expect(new Set(messages.map((m) => m.timestamp)).size).toBe(10);
  });

  it('dates a session its first message starts from that message, even when history is imported later', async () => {
    const at = 1_700_000_000_000;
    await chat.append('imported', [say('A', 'later', { timestamp: at + 5000 }), say('B', 'earliest', { timestamp: at })]);
    await chat.flush();
    const session = await chat.getSession('imported');
    expect(session).toMatchObject({ created_at: at, last_activity: at + 5000, message_count: 2 });
  });

  it('refuses to start a session under another channel than its messages gave it, right after they are appended', async () => {
    await chat.append('posted', [say('Rin', 'hi', { channel_id: 'c12' })]);
    await expect(chat.startSession('posted', { channel_id: 'c10' })).rejects.toMatchObject({
      kind: 'conflict',
      message: 'session posted belongs to channel_id c12, not c10',
    });
    expect(await chat.getSession('posted')).toMatchObject({ channel_id: 'c12', message_count: 1 });
  });

  it('stores a repeated Discord message_id once', async () => {
    const message = say('Rin', 'hi', { source: 'discord', channel_id: 'c', message_id: '1234567890123456789' });
    const first = await chat.append('dedupe', [message]);
    const again = await chat.append('dedupe', [message]);
    expect(again.messages[0]).toMatchObject({ duplicate: true, timestamp: first.messages[0]!.timestamp });
    expect((await chat.readMessages('dedupe', { limit: 10, order: 'asc' })).messages).toHaveLength(1);
    expect((await chat.getSession('dedupe'))!.message_count).toBe(1);
  });

  it('pages through a session in both orders, with before/after bounds, ending with a null cursor', async () => {
    const at = 1_700_000_000_000;
    await chat.append(
      'pages',
      Array.from({ length: 25 }, (_, i) => say('P', `m${i}`, { timestamp: at + i * 1000 })),
    );
    for (const order of ['asc', 'desc'] as const) {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await chat.readMessages('pages', { limit: 10, order, ...(cursor ? { cursor } : {}) });
        seen.push(...page.messages.map((m) => m.content));
        cursor = page.next_cursor ?? undefined;
        pages++;
      } while (cursor);
      const expected = Array.from({ length: 25 }, (_, i) => `m${i}`);
      expect(pages).toBe(3);
      expect(seen).toEqual(order === 'asc' ? expected : expected.reverse());
    }
    const window = await chat.readMessages('pages', { limit: 100, order: 'asc', after: at + 4000, before: at + 8000 });
    expect(window.messages.map((m) => m.content)).toEqual(['m5', 'm6', 'm7']);
  });

  it('lists sessions by channel and by member, the most recent activity first', async () => {
    await chat.append('chan-old', [say('Ann', 'old', { channel_id: 'chan', timestamp: 1_600_000_000_000 })]);
    await chat.append('chan-new', [say('Bob', 'new', { channel_id: 'chan', timestamp: 1_600_000_900_000 })]);
    await chat.append('chan-mid', [say('Ann', 'mid', { channel_id: 'chan', timestamp: 1_600_000_500_000 })]);
    await chat.append('elsewhere', [say('Ann', 'other', { channel_id: 'other', timestamp: 1_600_000_100_000 })]);
    const byChannel = await chat.listSessions({ channel_id: 'chan' }, { limit: 2 });
    expect(byChannel.sessions.map((s) => s.session_id)).toEqual(['chan-new', 'chan-mid']);
    const rest = await chat.listSessions({ channel_id: 'chan' }, { limit: 2, cursor: byChannel.next_cursor! });
    expect(rest).toMatchObject({ sessions: [{ session_id: 'chan-old' }], next_cursor: null });
    const byMember = await chat.listSessions({ member: 'Ann' }, { limit: 10 });
    expect(byMember.sessions.map((s) => s.session_id)).toEqual(['chan-mid', 'elsewhere', 'chan-old']);
    expect(byMember.sessions[0]).toMatchObject({ channel_id: 'chan', last_activity: 1_600_000_500_000, members: ['Ann'] });
  });

  it('sets the TTL attribute (CHATLOG_TTL_DAYS) on every item of a session', async () => {
    const { messages } = await chat.append('ttl', [say('T', 'expires', { message_id: 'ttl-1' })]);
    await chat.flush();
    const week = Math.floor(Date.now() / 1000) + 7 * 86_400;
    expect(Math.abs(messages[0]!.expires_at! - week)).toBeLessThan(60);
    // Every item in the partition: the message, its header, the speaker and message_id index items.
    const { DynamoDBClient, QueryCommand } = await import('@aws-sdk/client-dynamodb');
    const port = JSON.parse(await (await import('node:fs/promises')).readFile(`${work.dir}/chatlogs.lock`, 'utf8')).port;
    const client = new DynamoDBClient({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials: await readCredentials(`${work.dir}/chatlogs`),
    });
    const { Items } = await client.send(
      new QueryCommand({ TableName: 'ChatLogs', KeyConditionExpression: 'session_id = :s', ExpressionAttributeValues: { ':s': { S: 'ttl' } } }),
    );
    client.destroy();
    expect(Items).toHaveLength(4);
    for (const item of Items!) expect(Math.abs(Number(item.expires_at?.N) - week)).toBeLessThan(60);
  });

  it('closes a session: no more messages', async () => {
    await chat.append('closing', [say('X', 'bye')]);
    expect(await chat.closeSession('closing')).toMatchObject({ status: 'closed' });
    await expect(chat.append('closing', [say('X', 'too late')])).rejects.toMatchObject({ kind: 'session_closed' });
    expect(await chat.closeSession('never-was')).toBeUndefined();
  });

  it('deletes a session of more than 100 messages with everything in it', async () => {
    for (let i = 0; i < 130; i += 50) {
      await chat.append(
        'big',
        Array.from({ length: Math.min(50, 130 - i) }, (_, j) => say(`S${j % 3}`, `n${i + j}`, { message_id: `id${i + j}` })),
      );
    }
    expect(await chat.deleteSession('big')).toBe(130);
    expect(await chat.getSession('big')).toBeUndefined();
    expect((await chat.readMessages('big', { limit: 10, order: 'asc' })).messages).toEqual([]);
    expect((await chat.listSessions({ member: 'S1' }, { limit: 10 })).sessions).toEqual([]);
    expect(await chat.deleteSession('big')).toBeUndefined();
  });

  it('refuses a message larger than one item holds, with a clear error', async () => {
    await expect(chat.append('huge', [say('H', 'x'.repeat(400 * 1024))])).rejects.toMatchObject({ kind: 'message_too_large' });
    expect(() => validateMessages([{ speaker_name: 'H' }])).toThrow(/messages\[0\]/);
  });

  it('exports a session as JSON Lines and as Markdown', async () => {
    await chat.append('export', [
      say('Rin', 'hello'),
      ...validateMessages([{ speaker_name: '華扇', speaker_type: 'virtual', role: 'assistant', content: 'Show me the diff.', llm_model: 'm' }]),
    ]);
    const session = (await chat.getSession('export'))!;
    const collect = async (format: 'jsonl' | 'md') => {
      let text = '';
      for await (const chunk of exportSession(session, chat.allMessages('export'), format)) text += chunk;
      return text;
    };
    const lines = (await collect('jsonl'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines.map((m) => m.content)).toEqual(['hello', 'Show me the diff.']);
    const markdown = await collect('md');
    expect(markdown).toMatch(/^# Session export\n/);
    expect(markdown).toContain('## 華扇 (AI, m) — ');
    expect(markdown.indexOf('hello')).toBeLessThan(markdown.indexOf('Show me the diff.'));
  });

  it('reports an unreachable store as unavailable', async () => {
    const nowhere = await openChatStore(loadConfig({ CHATLOG_DYNAMODB_ENDPOINT: 'http://127.0.0.1:1' }));
    try {
      await expect(nowhere.check()).rejects.toBeInstanceOf(ChatStoreUnavailableError);
      await expect(nowhere.append('x', [say('A', 'b')])).rejects.toBeInstanceOf(ChatStoreUnavailableError);
    } finally {
      await nowhere.close();
    }
  });
});

describe('buildContext', () => {
  const kasen = { name: '華扇', llm_model: 'claude-sonnet-4-5', system_prompt: 'You review code.', personality_traits: ['calm'], expertise_areas: ['Python'] };
  const message = (speaker_name: string, content: string, virtual = false): ChatMessage =>
    ({
      session_id: 's',
      timestamp: 1,
      speaker_name,
      speaker_type: virtual ? 'virtual' : 'human',
      role: virtual ? 'assistant' : 'user',
      content,
      source: 'api',
    }) as ChatMessage;

  it('weaves personality and expertise into the system prompt, oldest turn first, own replies as assistant', () => {
    const latestFirst = [message('華扇', 'Looks good.', true), message('Rin', 'Review this?')];
    expect(buildContext(kasen, latestFirst, { maxChars: 1000 })).toEqual({
      model: 'claude-sonnet-4-5',
      system: 'You review code.\n\nYour personality: calm.\n\nYour areas of expertise: Python.',
      messages: [
        { role: 'user', content: 'Rin: Review this?' },
        { role: 'assistant', content: 'Looks good.' },
      ],
    });
  });

  it('trims to the budget from the oldest end', () => {
    const latestFirst = [message('Rin', 'newest'), message('Rin', 'middle'), message('Rin', 'oldest')];
    expect(buildContext(kasen, latestFirst, { maxChars: 25 }).messages.map((m) => m.content)).toEqual(['Rin: middle', 'Rin: newest']);
  });
});

describe('chat log store, the hard cases', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let chat: ChatStore;
  beforeAll(async () => {
    work = await tempDir();
    chat = await chatStoreForTest(work.dir);
  });
  afterAll(async () => {
    await chat?.close();
    await work?.remove();
  });

  it('stores a message_id posted twice at the same moment once, and a repost answers that very message', async () => {
    const post = (content: string) => chat.append('race', [say('Rin', content, { message_id: 'snow', timestamp: 1_750_000_000_000 })]);
    await chat.append('race', [say('Other', 'same millisecond', { timestamp: 1_750_000_000_000 })]);
    const results = await Promise.all([post('hello'), post('hello')]);
    const { messages } = await chat.readMessages('race', { limit: 10, order: 'asc' });
    expect(messages.filter((m) => m.message_id === 'snow')).toHaveLength(1);
    const stored = messages.find((m) => m.message_id === 'snow')!;
    for (const result of results) expect(result.messages[0]).toMatchObject({ timestamp: stored.timestamp, content: 'hello' });
    expect((await post('hello')).messages[0]).toMatchObject({ duplicate: true, timestamp: stored.timestamp, speaker_name: 'Rin' });
  });

  it('refuses a batch with one oversized message whole: nothing of it is stored', async () => {
    await expect(chat.append('whole', [say('A', 'fine'), say('A', 'x'.repeat(401 * 1024))])).rejects.toMatchObject({ kind: 'message_too_large' });
    expect((await chat.readMessages('whole', { limit: 10, order: 'asc' })).messages).toEqual([]);
  });

  it('pages and exports past DynamoDB’s 1 MB page', async () => {
    await chat.append(
      'large',
      Array.from({ length: 6 }, (_, i) => say('L', `${i}`.padEnd(300 * 1024, '.'), { timestamp: 1_760_000_000_000 + i })),
    );
    let count = 0;
    for await (const message of chat.allMessages('large')) count += message.content.length > 0 ? 1 : 0;
    expect(count).toBe(6);
  });

  it('resumes a member listing after a session that was deleted meanwhile, and refuses forged cursors', async () => {
    for (const [id, at] of [
      ['m1', 1],
      ['m2', 2],
      ['m3', 3],
    ] as const)
      await chat.append(id, [say('Mia', 'hi', { timestamp: 1_770_000_000_000 + at * 1000, channel_id: 'mc' })]);
    const first = await chat.listSessions({ member: 'Mia' }, { limit: 2 });
    expect(first.sessions.map((s) => s.session_id)).toEqual(['m3', 'm2']);
    await chat.deleteSession('m2');
    const second = await chat.listSessions({ member: 'Mia' }, { limit: 2, cursor: first.next_cursor! });
    expect(second).toMatchObject({ sessions: [{ session_id: 'm1' }], next_cursor: null });
    const forged = Buffer.from(JSON.stringify({ a: 1 })).toString('base64url');
    await expect(chat.listSessions({ channel_id: 'mc' }, { limit: 2, cursor: forged })).rejects.toMatchObject({ kind: 'bad_cursor' });
    await expect(chat.listSessions({ member: 'Mia' }, { limit: 2, cursor: forged })).rejects.toMatchObject({ kind: 'bad_cursor' });
  });

  it('refuses crafted cursors that JSON allows but no page of ours holds, with 400 and nothing asked of the store', async () => {
    await chat.append('crafted', [say('Mia', 'hi', { channel_id: 'cc' })]);
    const cursor = (value: unknown) => Buffer.from(JSON.stringify(value) ?? 'null').toString('base64url');
    const raw = (text: string) => Buffer.from(text).toString('base64url');
    for (const forged of [
      raw('{"ts":1e400}'),
      raw('{"ts":-1e400}'),
      cursor({ ts: -5 }),
      cursor({ ts: '1' }),
      cursor({ ts: 1, more: true }),
      cursor(null),
      cursor([1]),
      'not base64 json',
    ]) {
      for (const order of ['asc', 'desc'] as const) {
        await expect(chat.readMessages('crafted', { limit: 5, order, cursor: forged }), forged).rejects.toMatchObject({ kind: 'bad_cursor' });
      }
    }
    for (const forged of [
      raw('{"last_activity":1e400,"session_id":"x"}'),
      cursor({ last_activity: 1, session_id: 'x'.repeat(5000) }),
      cursor({ last_activity: 1, session_id: 'a/b' }),
    ]) {
      await expect(chat.listSessions({ member: 'Mia' }, { limit: 2, cursor: forged }), forged).rejects.toMatchObject({ kind: 'bad_cursor' });
    }
    // A fraction finer than the store keeps (DynamoDB refuses numbers below 1e-130) is rounded, not sent.
    for (const order of ['asc', 'desc'] as const) {
      await expect(chat.readMessages('crafted', { limit: 5, order, cursor: cursor({ ts: 1e-200 }) })).resolves.toHaveProperty('messages');
    }
    await expect(chat.listSessions({ member: 'Mia' }, { limit: 2, cursor: cursor({ last_activity: 1.5e-200, session_id: 'x' }) })).resolves.toHaveProperty(
      'sessions',
    );
    const channelForged = raw('{"channel_id":"cc","last_activity":1e400,"session_id":"crafted","timestamp":0}');
    await expect(chat.listSessions({ channel_id: 'cc' }, { limit: 2, cursor: channelForged })).rejects.toMatchObject({ kind: 'bad_cursor' });
  });

  it('refuses control characters in names and ids, naming the character, and keeps them in content', () => {
    const message = (extra: Record<string, unknown>) => ({ speaker_name: 'A', speaker_type: 'human', role: 'user', content: 'x', ...extra });
    expect(() => validateMessages([message({ speaker_name: 'Rin\u001b[2J' })])).toThrow(/messages\[0\]\.speaker_name: contains the control character U\+001B/);
    for (const field of ['channel_id', 'thread_id', 'message_id', 'llm_model', 'source']) {
      expect(() => validateMessages([message({ [field]: 'a\rb' })]), field).toThrow(new RegExp(`${field}: contains the control character U\\+000D`));
    }
    expect(() => validateMessages([message({ speaker_name: 'abc\u202Edef' })])).toThrow(/U\+202E/);
    expect(validateMessages([message({ content: 'line one\n\tline two\u001b' })])[0]!.content).toBe('line one\n\tline two\u001b');
  });

  it('keeps the header slot and impossible times out of reach', () => {
    expect(() => validateMessages([{ speaker_name: 'A', speaker_type: 'human', role: 'user', content: 'x', timestamp: 0.0004 }])).toThrow(/timestamp/);
    expect(() => validateMessages([{ speaker_name: 'A', speaker_type: 'human', role: 'user', content: 'x', timestamp: 1e15 }])).toThrow(/timestamp/);
  });
});

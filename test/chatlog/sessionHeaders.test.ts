import fs from 'node:fs/promises';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCredentials } from '../../src/chatlog/credentials.js';
import { translateStoreError } from '../../src/chatlog/errors.js';
import type { ChatMessage } from '../../src/chatlog/schema.js';
import { type HeaderAccess, SessionHeaderWriter } from '../../src/chatlog/sessionHeaders.js';
import type { ChatStore } from '../../src/chatlog/store.js';
import { tempDir } from '../helpers/files.js';
import { chatStoreForTest } from '../helpers/service.js';

const message = (speaker_name: string, timestamp: number, extra: Partial<ChatMessage> = {}): ChatMessage => ({
  session_id: 's',
  timestamp,
  speaker_name,
  speaker_type: 'human',
  role: 'user',
  content: 'x',
  source: 'api',
  ...extra,
});

describe('session header writer', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let chat: ChatStore;
  let doc: DynamoDBDocumentClient;
  let access: HeaderAccess;
  beforeAll(async () => {
    work = await tempDir();
    // The store makes the table and serves it; the writer is tested on its own over it.
    chat = await chatStoreForTest(work.dir);
    const { port } = JSON.parse(await fs.readFile(path.join(work.dir, 'chatlogs.lock'), 'utf8')) as { port: number };
    const credentials = await readCredentials(path.join(work.dir, 'chatlogs'));
    doc = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials }));
    access = {
      sdk: { UpdateCommand },
      doc,
      table: chat.table,
      call: async (operation) => {
        try {
          return await operation();
        } catch (error) {
          throw translateStoreError(error, { table: access.table, description: 'test' });
        }
      },
    };
  });
  afterAll(async () => {
    doc?.destroy();
    await chat?.close();
    await work?.remove();
  });

  const header = async (session: string) =>
    (await doc.send(new GetCommand({ TableName: chat.table, Key: { session_id: session, timestamp: 0 }, ConsistentRead: true }))).Item;

  it('folds the activity of many messages into one header, written on flush', async () => {
    const writer = new SessionHeaderWriter({ access, ttlDays: undefined, flushMs: 60_000 });
    writer.touch('folded', [message('Rin', 2000, { channel_id: 'c1' }), message('Mia', 1000)]);
    writer.touch('folded', [message('Rin', 3000)]);
    expect(await header('folded')).toBeUndefined();
    await writer.flush();
    expect(await header('folded')).toMatchObject({
      item_type: 'session',
      status: 'open',
      channel_id: 'c1',
      created_at: 1000,
      last_activity: 3000,
      message_count: 3,
      members: new Set(['Rin', 'Mia']),
    });
    // Older messages later count, and do not move last_activity back.
    writer.touch('folded', [message('Kai', 500)]);
    await writer.flush();
    expect(await header('folded')).toMatchObject({ created_at: 1000, last_activity: 3000, message_count: 4, members: new Set(['Rin', 'Mia', 'Kai']) });
  });

  it('keeps a header whose write failed for the next flush, and loses nothing', async () => {
    const failing = { ...access, table: 'NoSuchTable' };
    const writer = new SessionHeaderWriter({ access: failing, ttlDays: undefined, flushMs: 60_000 });
    writer.touch('kept', [message('Rin', 1000)]);
    await expect(writer.flush()).rejects.toMatchObject({ kind: 'no_table' });
    writer.touch('kept', [message('Mia', 2000)]);
    failing.table = chat.table;
    await writer.flush();
    expect(await header('kept')).toMatchObject({ created_at: 1000, last_activity: 2000, message_count: 2, members: new Set(['Rin', 'Mia']) });
  });

  it('writes on its own a moment after the last activity', async () => {
    const writer = new SessionHeaderWriter({ access, ttlDays: 7, flushMs: 10 });
    writer.touch('timed', [message('Rin', 1000)]);
    await expect.poll(() => header('timed')).toMatchObject({ message_count: 1, expires_at: expect.any(Number) });
  });
});

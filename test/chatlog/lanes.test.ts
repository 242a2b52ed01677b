import fs from 'node:fs/promises';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BatchWriter } from '../../src/chatlog/batchWriter.js';
import { readCredentials } from '../../src/chatlog/credentials.js';
import { ChatRequestError } from '../../src/chatlog/errors.js';
import { WriterLanes } from '../../src/chatlog/lanes.js';
import { validateMessages } from '../../src/chatlog/messages.js';
import type { ChatStore } from '../../src/chatlog/store.js';
import { tempDir } from '../helpers/files.js';
import { chatStoreForTest } from '../helpers/service.js';

const say = (speaker_name: string, content: string, extra: Record<string, unknown> = {}) =>
  validateMessages([{ speaker_name, speaker_type: 'human', role: 'user', content, ...extra }])[0]!;

/** The thousandths of a timestamp: the lane that stamped it. */
const laneOf = (timestamp: number) => Math.round((timestamp % 1) * 1000);

describe('messages the service times: lanes and batched writes', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let chat: ChatStore;
  let other: ChatStore;
  let doc: DynamoDBDocumentClient;
  beforeAll(async () => {
    work = await tempDir();
    chat = await chatStoreForTest(work.dir);
    const { port } = JSON.parse(await fs.readFile(path.join(work.dir, 'chatlogs.lock'), 'utf8')) as { port: number };
    const endpoint = `http://127.0.0.1:${port}`;
    // The embedded store takes only the access key kept beside its folder.
    const { accessKeyId, secretAccessKey } = await readCredentials(path.join(work.dir, 'chatlogs'));
    // A second process on the same table, as another replica of the service would be.
    other = await chatStoreForTest(work.dir, { CHATLOG_DYNAMODB_ENDPOINT: endpoint, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey });
    doc = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId, secretAccessKey } }));
  });
  afterAll(async () => {
    await other?.close();
    await chat?.close();
    doc?.destroy();
    await work?.remove();
  });

  it('keeps hundreds of simultaneous messages of one session apart, in this process’s lane', async () => {
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => chat.append('burst', [say('B', `m${i}`)])));
    const { messages } = await chat.readMessages('burst', { limit: 500, order: 'asc' });
    expect(messages).toHaveLength(300);
    expect(new Set(messages.map((m) => m.timestamp)).size).toBe(300);
    const lanes = new Set(messages.map((m) => laneOf(m.timestamp)));
    expect(lanes.size).toBe(1);
    expect([...lanes][0]).toBeGreaterThan(0);
    // What each append answered is what was stored.
    const stored = new Map(messages.map((m) => [m.content, m.timestamp]));
    for (const result of results) expect(stored.get(result.messages[0]!.content)).toBe(result.messages[0]!.timestamp);
  });

  it('gives two processes different lanes, so their same-millisecond messages never overwrite each other', async () => {
    await Promise.all(Array.from({ length: 100 }, (_, i) => [chat.append('shared', [say('A', `a${i}`)]), other.append('shared', [say('O', `o${i}`)])]).flat());
    await other.flush();
    const { messages } = await chat.readMessages('shared', { limit: 500, order: 'asc' });
    expect(messages).toHaveLength(200);
    const laneA = new Set(messages.filter((m) => m.speaker_name === 'A').map((m) => laneOf(m.timestamp)));
    const laneO = new Set(messages.filter((m) => m.speaker_name === 'O').map((m) => laneOf(m.timestamp)));
    expect(laneA.size).toBe(1);
    expect(laneO.size).toBe(1);
    expect([...laneA][0]).not.toBe([...laneO][0]);
    expect((await chat.getSession('shared'))!.message_count).toBe(200);
  });

  it('keeps a message given its own time in whole milliseconds, moved up one when taken', async () => {
    const at = 1_790_000_000_000;
    await chat.append('given', [say('A', 'first', { timestamp: at }), say('B', 'second', { timestamp: at })]);
    const { messages } = await chat.readMessages('given', { limit: 10, order: 'asc' });
    expect(messages.map((m) => [m.timestamp, m.content])).toEqual([
      [at, 'first'],
      [at + 1, 'second'],
    ]);
    expect(() => validateMessages([{ speaker_name: 'A', speaker_type: 'human', role: 'user', content: 'x', timestamp: at + 0.5 }])).toThrow(/timestamp/);
  });

  it('stores a message_id posted twice at once without a time of its own once', async () => {
    const post = () => chat.append('race-lane', [say('Rin', 'hello', { message_id: 'lane-snow' })]);
    const results = await Promise.all([post(), post(), post()]);
    const { messages } = await chat.readMessages('race-lane', { limit: 10, order: 'asc' });
    expect(messages).toHaveLength(1);
    for (const result of results) expect(result.messages[0]!.timestamp).toBe(messages[0]!.timestamp);
    expect((await chat.getSession('race-lane'))!.message_count).toBe(1);
  });

  it('keeps numbers as JSON has them, large ones too', async () => {
    const metadata = { big: 2 ** 60, small: 0.25, list: [1e100, -3] };
    const [stored] = (await chat.append('numbers', [say('N', 'numbers', { metadata, message_id: 'n1' })])).messages;
    expect((await chat.readMessages('numbers', { limit: 5, order: 'asc' })).messages[0]!.metadata).toEqual(metadata);
    // A repost answers the stored message, read through the document client.
    expect((await chat.append('numbers', [say('N', 'numbers', { metadata, message_id: 'n1' })])).messages[0]).toMatchObject({
      duplicate: true,
      timestamp: stored!.timestamp,
      metadata,
    });
  });

  it('refuses, before writing anything, a message the store would refuse', async () => {
    await expect(chat.append('refused', [say('M', 'fine'), say('M', 'bad', { metadata: { size: 1e200 } })])).rejects.toMatchObject({
      kind: 'bad_message',
      message: expect.stringContaining('messages[1].metadata.size'),
    });
    // Counted as DynamoDB counts it: a list of small numbers takes more room than its JSON.
    await expect(chat.append('refused', [say('M', 'many numbers', { metadata: { n: Array.from({ length: 150_000 }, () => 1) } })])).rejects.toMatchObject({
      kind: 'message_too_large',
    });
    expect((await chat.readMessages('refused', { limit: 10, order: 'asc' })).messages).toEqual([]);
    await expect(chat.deleteSession('#lanes')).rejects.toMatchObject({ kind: 'bad_session_id' });
  });

  it('gives a lane up when another process took it over, and records how far it got on release', async () => {
    const lanes = new WriterLanes({ sdk: { UpdateCommand }, doc, table: chat.table, leaseMs: 600 });
    const lane = (await lanes.ready())!;
    expect(lane).toBeGreaterThan(0);
    let last = 0;
    for (let i = 0; i < 50; i++) last = lanes.stamp('far', lane);
    const rival = new WriterLanes({ sdk: { UpdateCommand }, doc, table: chat.table, leaseMs: 600 });
    expect(await rival.ready()).not.toBe(lane);
    await rival.release();

    // Another process takes the lane (as it may once a lease lapsed): the renewal finds out.
    await doc.send(
      new UpdateCommand({
        TableName: chat.table,
        Key: { session_id: '#lanes', timestamp: lane },
        UpdateExpression: 'SET lease_owner = :x',
        ExpressionAttributeValues: { ':x': 'someone else' },
      }),
    );
    await lanes.renew();
    expect(lanes.current()).not.toBe(lane);
    await lanes.release();

    const mine = new WriterLanes({ sdk: { UpdateCommand }, doc, table: chat.table, leaseMs: 600 });
    const held = (await mine.ready())!;
    for (let i = 0; i < 50; i++) last = mine.stamp('far', held);
    await mine.release();
    const item = (await doc.send(new GetCommand({ TableName: chat.table, Key: { session_id: '#lanes', timestamp: held } }))).Item!;
    expect(item).toMatchObject({ lease_until: 0, high_water: Math.floor(last) });
  });

  const activeLeases = async () =>
    (
      (await doc.send(new QueryCommand({ TableName: chat.table, KeyConditionExpression: 'session_id = :l', ExpressionAttributeValues: { ':l': '#lanes' } })))
        .Items ?? []
    )
      .filter((item) => Number(item.lease_until) > Date.now())
      .map((item) => `${item.timestamp}:${item.lease_owner}`)
      .sort();

  it('hands back a lane taken while it was closing', async () => {
    const before = await activeLeases();
    const lanes = new WriterLanes({ sdk: { UpdateCommand }, doc, table: chat.table, leaseMs: 600 });
    expect(lanes.current()).toBeUndefined(); // asks for a lane in the background
    await lanes.release();
    expect(lanes.current()).toBeUndefined();
    expect(await activeLeases()).toEqual(before);
  });

  it('starts a lane after the end of the previous holder’s lease, even when its own clock steps back', async () => {
    const lanes = new WriterLanes({ sdk: { UpdateCommand }, doc, table: chat.table, leaseMs: 600 });
    const lane = (await lanes.ready())!;
    await lanes.release();
    // The lane's holder crashed: its lease ended a moment ago, and nothing recorded how far it got.
    const now = Date.now();
    await doc.send(
      new UpdateCommand({
        TableName: chat.table,
        Key: { session_id: '#lanes', timestamp: lane },
        UpdateExpression: 'SET lease_owner = :o, lease_until = :u, high_water = :h',
        ExpressionAttributeValues: { ':o': 'crashed', ':u': now - 1, ':h': 0 },
      }),
    );
    const next = new WriterLanes({ sdk: { UpdateCommand }, doc, table: chat.table, leaseMs: 600 });
    const pick = vi.spyOn(Math, 'random').mockReturnValue((lane - 0.5) / 999); // that lane is tried first
    try {
      expect(await next.ready()).toBe(lane);
    } finally {
      pick.mockRestore();
    }
    const clock = vi.spyOn(Date, 'now').mockReturnValue(now - 30_000);
    try {
      // The crashed holder may have stamped up to its lease's end: nothing before it.
      expect(next.stamp('after-crash', lane)).toBeGreaterThanOrEqual(now - 1);
    } finally {
      clock.mockRestore();
      await next.release();
    }
  });

  it('never stamps a millisecond twice, even when the clock steps back', async () => {
    const lanes = new WriterLanes({ sdk: { UpdateCommand }, doc, table: chat.table, leaseMs: 600 });
    const lane = (await lanes.ready())!;
    const now = Date.now();
    const clock = vi.spyOn(Date, 'now');
    try {
      clock.mockReturnValue(now + 1000);
      const first = lanes.stamp('clock', lane);
      clock.mockReturnValue(now + 2000);
      await lanes.renew(); // forgets the session's stamp: it is behind the clock
      clock.mockReturnValue(now);
      expect(lanes.stamp('clock', lane)).toBeGreaterThan(first);
    } finally {
      clock.mockRestore();
      await lanes.release();
    }
  });
});

describe('batch writer', () => {
  const item = (n: number) => ({ session_id: 's', timestamp: n });

  it('fails only the item the store refuses when it was sent together with others', async () => {
    const sent: number[] = [];
    const writer = new BatchWriter(async (items) => {
      sent.push(items.length);
      if (items.some((i) => i.timestamp === 3)) throw new ChatRequestError('bad_request', 'refused');
      return [];
    });
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map((n) => writer.write(item(n))));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(sent[0]).toBe(1); // the first goes out at once; the others wait for it and go together
    expect(sent[1]).toBe(4);
  });

  it('counts items the store took before it failed as written, and fails the others', async () => {
    let call = 0;
    const writer = new BatchWriter(async (items) => {
      call++;
      if (call === 1) return []; // the first write goes out alone
      if (call === 2) return [{ ...items[0]! }]; // of the next two, one is left unprocessed (a copy, as the SDK answers)
      throw new Error('store down');
    });
    const results = await Promise.allSettled([writer.write(item(1)), writer.write(item(2)), writer.write(item(3))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(results[1]).toMatchObject({ reason: { message: 'store down' } });
  });
});

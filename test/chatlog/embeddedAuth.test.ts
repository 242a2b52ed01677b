import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { DynamoDBClient, type DynamoDBClientConfig, GetItemCommand, ListTablesCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCredentials } from '../../src/chatlog/credentials.js';
import { validateMessages } from '../../src/chatlog/messages.js';
import type { ChatStore } from '../../src/chatlog/store.js';
import { tempDir } from '../helpers/files.js';
import { accepts, otherAddress } from '../helpers/ports.js';
import { chatStoreForTest } from '../helpers/service.js';

/** The embedded chat log store's port, as another vecr command, a bot's script or a local attacker reaches it. */
describe('the embedded chat log store’s port', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let chat: ChatStore;
  let port: number;
  let endpoint: string;
  let credentials: { accessKeyId: string; secretAccessKey: string };
  const clients: DynamoDBClient[] = [];
  /** A raw SDK client; one attempt, so that a refusal is seen as it is. */
  const client = (config: Partial<DynamoDBClientConfig>) => {
    // (Copies: the SDK writes into the credentials it is given.)
    const made = new DynamoDBClient({ endpoint, region: 'us-east-1', maxAttempts: 1, credentials: { ...credentials }, ...config });
    clients.push(made);
    return made;
  };
  const item = (id: string) => ({ session_id: { S: id }, timestamp: { N: '1' }, content: { S: 'written' } });
  const stored = async (id: string) =>
    (await client({}).send(new GetItemCommand({ TableName: 'ChatLogs', Key: { session_id: { S: id }, timestamp: { N: '1' } } }))).Item;

  beforeAll(async () => {
    work = await tempDir();
    chat = await chatStoreForTest(work.dir);
    port = (JSON.parse(await fs.readFile(path.join(work.dir, 'chatlogs.lock'), 'utf8')) as { port: number }).port;
    endpoint = `http://127.0.0.1:${port}`;
    credentials = await readCredentials(path.join(work.dir, 'chatlogs'));
  });
  afterAll(async () => {
    for (const made of clients) made.destroy();
    await chat?.close();
    await work?.remove();
  });

  it('serves the store and a client holding the data folder’s access key', async () => {
    await chat.append('keyed', validateMessages([{ speaker_name: 'Rin', speaker_type: 'human', role: 'user', content: 'hello' }]));
    expect((await chat.readMessages('keyed', { limit: 10, order: 'asc' })).messages.map((m) => m.content)).toEqual(['hello']);
    expect((await client({}).send(new ListTablesCommand({}))).TableNames).toEqual(['ChatLogs']);
  });

  it('refuses a request without a signature, in DynamoDB’s words', async () => {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.PutItem' },
      body: JSON.stringify({ TableName: 'ChatLogs', Item: item('unsigned') }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ __type: 'com.amazon.coral.service#MissingAuthenticationTokenException' });
    expect(await stored('unsigned')).toBeUndefined();
  });

  it('refuses another access key, and the right key with another secret', async () => {
    const put = (config: Partial<DynamoDBClientConfig>) => client(config).send(new PutItemCommand({ TableName: 'ChatLogs', Item: item('intruder') }));
    // What every client could sign with before: any key was taken.
    await expect(put({ credentials: { accessKeyId: 'local', secretAccessKey: 'local' } })).rejects.toMatchObject({ name: 'UnrecognizedClientException' });
    await expect(put({ credentials: { ...credentials, secretAccessKey: 'guessed' } })).rejects.toMatchObject({ name: 'InvalidSignatureException' });
    expect(await stored('intruder')).toBeUndefined();
  });

  it('refuses a signed request whose body was changed on the way', async () => {
    // A proxy that rewrites what passes through it, keeping the length (the body still fits the signed Content-Length).
    const proxy = net.createServer((socket) => {
      const upstream = net.connect({ host: '127.0.0.1', port });
      socket.on('data', (chunk: Buffer) => upstream.write(chunk.toString('latin1').replace('"changed"', '"CHANGED"'), 'latin1'));
      upstream.pipe(socket);
      for (const end of [socket, upstream])
        end.on('error', () => (socket.destroy(), upstream.destroy())).on('close', () => (socket.destroy(), upstream.destroy()));
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const through = client({ endpoint: `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}` });
      await expect(through.send(new PutItemCommand({ TableName: 'ChatLogs', Item: item('changed') }))).rejects.toMatchObject({
        name: 'InvalidSignatureException',
      });
      // The proxy itself is no obstacle: what it leaves alone goes through.
      await through.send(new PutItemCommand({ TableName: 'ChatLogs', Item: item('untouched') }));
    } finally {
      proxy.close();
    }
    expect(await stored('CHANGED')).toBeUndefined();
    expect(await stored('changed')).toBeUndefined();
    expect(await stored('untouched')).toBeDefined();
  });

  it('refuses a request signed more than 15 minutes ago (a replay), as DynamoDB does', async () => {
    const late = client({ systemClockOffset: -20 * 60_000 });
    await expect(late.send(new PutItemCommand({ TableName: 'ChatLogs', Item: item('replayed') }))).rejects.toMatchObject({
      name: 'InvalidSignatureException',
      message: expect.stringMatching(/^Signature expired/),
    });
    expect(await stored('replayed')).toBeUndefined();
  });

  it('listens on 127.0.0.1 only', async () => {
    expect(await accepts('127.0.0.1', port)).toBe(true);
    if (otherAddress) expect(await accepts(otherAddress, port)).toBe(false);
  });

  it('keeps its access key beside the folder, for its owner only, across restarts', async () => {
    const file = path.join(work.dir, 'chatlogs.credentials');
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(await fs.readFile(file, 'utf8')).toContain(`aws_secret_access_key = ${credentials.secretAccessKey}\n`);
    await chat.close();
    chat = await chatStoreForTest(work.dir);
    expect(await readCredentials(path.join(work.dir, 'chatlogs'))).toEqual(credentials);
    expect((await chat.readMessages('keyed', { limit: 10, order: 'asc' })).messages.map((m) => m.content)).toEqual(['hello']);
  });
});
